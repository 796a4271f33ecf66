import { type TaskRequest, unrollHistory, type WorkerInfo } from '../model/task.ts';
import type { AgentMessage } from './define-agent.ts';

/** One worker's answer from the previous round, as a supervisor sees it. */
export interface WorkerResult {
  readonly subtaskId: string;
  readonly agentId: string;
  readonly ok: boolean;
  /** The worker's output when it succeeded. */
  readonly output?: unknown;
}

export interface SupervisorContext {
  readonly round: number;
  readonly maxRounds: number;
  /** True when this is the last call: the supervisor must answer { done: true, output }. */
  readonly final: boolean;
  readonly workers: readonly WorkerInfo[];
  readonly results: readonly WorkerResult[];
  /** Every earlier round's results, oldest first (the last entry equals `results`). */
  readonly rounds: readonly (readonly WorkerResult[])[];
}

interface RawRecord {
  stepId?: string;
  outcome?: { ok: boolean; agentId?: string; result?: { agentId: string; output: unknown } };
}

/**
 * What a hierarchical supervisor needs to decide its next move, read from the task the state
 * machine sent: the round, the workers it may delegate to, and last round's results.
 */
export function supervisorContext(message: AgentMessage): SupervisorContext {
  const task = message.task as TaskRequest | undefined;
  const context = (task?.context ?? {}) as {
    round?: number;
    maxRounds?: number;
    workers?: WorkerInfo[];
    results?: RawRecord[];
    history?: unknown[];
  };
  const round = context.round ?? 1;
  const maxRounds = context.maxRounds ?? round;
  return {
    round,
    maxRounds,
    final: round > maxRounds,
    workers: context.workers ?? [],
    results: (context.results ?? []).map(workerResult),
    rounds: unrollHistory<unknown, RawRecord>(context.history ?? []).map((r) =>
      r.results.map(workerResult),
    ),
  };
}

function workerResult(record: RawRecord): WorkerResult {
  return {
    subtaskId: record.stepId ?? 'unknown',
    agentId: record.outcome?.result?.agentId ?? record.outcome?.agentId ?? 'unknown',
    ok: record.outcome?.ok ?? false,
    ...(record.outcome?.ok ? { output: record.outcome.result?.output } : {}),
  };
}
