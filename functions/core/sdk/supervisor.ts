import {
  parseRecords,
  type StepRecord,
  supervisorTaskContextSchema,
  unrollHistory,
} from '../../../statemachines/records.ts';
import type { WorkerInfo } from '../model/task.ts';
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

/**
 * What a hierarchical supervisor needs to decide its next move, read from the task the state
 * machine sent: the round, the workers it may delegate to, and last round's results.
 */
export function supervisorContext(message: AgentMessage): SupervisorContext {
  const context = parseRecords(
    supervisorTaskContextSchema,
    message.task?.context ?? {},
    'The supervisor task context',
  );
  const maxRounds = context.maxRounds ?? context.round;
  return {
    round: context.round,
    maxRounds,
    final: context.round > maxRounds,
    workers: context.workers,
    results: context.results.map(workerResult),
    rounds: unrollHistory(context.history).map((r) => r.results.map(workerResult)),
  };
}

function workerResult(record: StepRecord): WorkerResult {
  const outcome = record.outcome;
  return {
    subtaskId: record.stepId ?? 'unknown',
    // A failed worker's record names the agent; a successful one's result does.
    agentId: (outcome?.ok ? outcome.result?.agentId : outcome?.agentId) ?? 'unknown',
    ok: outcome?.ok ?? false,
    ...(outcome?.ok ? { output: outcome.result?.output } : {}),
  };
}
