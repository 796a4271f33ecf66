import { WORKERS_STATE } from '../../statemachines/patterns/hierarchical.ts';
import type { ExecutionInput, StandIn } from '../../statemachines/plan.ts';
import {
  candidateError,
  type ExecutionState,
  executionStateSchema,
  parseFailureCause,
  parseRecords,
  type StepRecord,
  unrollHistory,
} from '../../statemachines/records.ts';
import type { ExecutionOutcome, ExecutionProgress } from './execution.ts';

/** The public coordination result (DESIGN.md "Coordination result"). */
export interface CoordinationResult {
  readonly coordinationId: string;
  readonly pattern: ExecutionInput['pattern'];
  readonly mode: ExecutionInput['mode'];
  /** `cancelled`: stopped by an operator (DELETE /coordinations/{id}) before it ended. */
  readonly status: 'succeeded' | 'partial' | 'failed' | 'cancelled';
  /** The pattern's answer: see README "Coordination results". */
  readonly output: unknown;
  readonly steps: StepResult[];
  readonly errors: CoordinationError[];
  /** A fallback ran or stood in, or best effort skipped something. */
  readonly degraded: boolean;
  /** Steps planned with a fallback because the agent they named could not take work (open breaker, offline). */
  readonly standIns: readonly StandIn[];
  readonly timings: Timings;
}

export interface StepResult {
  readonly stepId: string;
  readonly agentId: string;
  readonly status: 'succeeded' | 'failed';
  /** 0 for the agent itself, n for its n-th fallback. */
  readonly attempt: number;
  readonly output?: unknown;
  readonly durationMs?: number;
  /** Hierarchical: the round the step ran in. */
  readonly round?: number;
}

export interface CoordinationError {
  readonly agentId: string | null;
  readonly stepId: string | null;
  readonly error: string;
  readonly cause: string | null;
}

export interface Timings {
  readonly totalMs: number;
  /** Time inside agents on the critical path: summed along a sequence, the slowest of a fan-out. */
  readonly agentMs: number;
  /** totalMs − agentMs: what coordination itself cost. */
  readonly overheadMs: number;
  readonly steps: {
    readonly stepId: string;
    readonly agentId: string;
    readonly durationMs: number;
  }[];
}

/**
 * Shapes a finished execution into a CoordinationResult. Needs nothing but the execution input and
 * outcome, so a Standard execution can be shaped from DescribeExecution alone.
 */
export function shapeResult(
  input: ExecutionInput,
  outcome: ExecutionOutcome,
  totalMs: number,
): CoordinationResult {
  const base = { coordinationId: input.coordinationId, pattern: input.pattern, mode: input.mode };
  if (outcome.status !== 'SUCCEEDED') return failedResult(input, outcome, totalMs);
  const state = parseRecords(executionStateSchema, outcome.output, 'The execution state');
  const { steps, errors, agentMs } = collect(input, state);
  const output = patternOutput(input, state, steps);
  const failedSteps = steps.some((s) => s.status === 'failed');
  return {
    ...base,
    status: failedSteps ? 'partial' : 'succeeded',
    output,
    steps,
    errors,
    degraded: failedSteps || degradedBy(input, steps),
    standIns: input.standIns ?? [],
    timings: timings(steps, totalMs, agentMs),
  };
}

/**
 * A run that failed, timed out or was cancelled: the error that stopped it, naming the agent and
 * the step (a timeout or a cancellation names every task still running), and — when the engine
 * could tell how far the run had got — the steps that had finished, outputs included.
 */
function failedResult(
  input: ExecutionInput,
  outcome: Exclude<ExecutionOutcome, { status: 'SUCCEEDED' }>,
  totalMs: number,
): CoordinationResult {
  const progress = outcome.progress;
  // How far the run got is a bonus: state that does not parse (a run started by another version
  // of the compiler) leaves it out rather than turning a failed run into an error of ours.
  const state = progress === undefined ? undefined : executionStateSchema.safeParse(progress.state);
  const done =
    progress === undefined || state?.success !== true
      ? { steps: [], errors: [], agentMs: 0 }
      : collect(input, state.data, progress.stoppedIn);
  const steps = [...done.steps];
  const stopped: CoordinationError[] = [];
  if (outcome.status === 'TIMED_OUT') {
    for (const { agentId, stepId } of progress?.running ?? []) {
      stopped.push({
        agentId,
        stepId,
        error: COORDINATION_TIMEOUT,
        cause: `the coordination ran past its timeout while ${agentId} was still working on step ${stepId}`,
      });
    }
    if (stopped.length === 0) {
      stopped.push({
        agentId: null,
        stepId: null,
        error: COORDINATION_TIMEOUT,
        cause: 'the coordination ran past its timeout',
      });
    }
  } else if (outcome.status === 'ABORTED') {
    stopped.push(...cancelled(outcome, progress?.running ?? []));
  } else {
    stopped.push(parseFailure(outcome.error, outcome.cause));
  }
  // The step that stopped the run has no outcome record of its own: list it as failed.
  for (const error of stopped) {
    if (error.agentId === null || error.stepId === null) continue;
    if (steps.some((s) => s.stepId === error.stepId && s.agentId === error.agentId)) continue;
    steps.push({ stepId: error.stepId, agentId: error.agentId, status: 'failed', attempt: 0 });
  }
  const agentMs = done.agentMs;
  return {
    coordinationId: input.coordinationId,
    pattern: input.pattern,
    mode: input.mode,
    status: outcome.status === 'ABORTED' ? 'cancelled' : 'failed',
    output: null,
    steps,
    errors: [...done.errors, ...stopped],
    degraded: degradedBy(input, steps),
    standIns: input.standIns ?? [],
    timings: timings(steps, totalMs, agentMs),
  };
}

const COORDINATION_TIMEOUT = 'Mobius.CoordinationTimeout';

/** The error of a cancelled run: what DELETE /coordinations/{id} gives StopExecution. */
export const COORDINATION_CANCELLED = 'Mobius.CoordinationCancelled';

/**
 * The errors of a cancelled run: one per task still running when it stopped (its agent may still
 * finish, but its answer is dropped), or one for the run when none was. A stop that gave no
 * reason (StopExecution from the console, say) is named as ours would have been.
 */
function cancelled(
  outcome: Extract<ExecutionOutcome, { status: 'ABORTED' }>,
  running: ExecutionProgress['running'],
): CoordinationError[] {
  const error = outcome.error ?? COORDINATION_CANCELLED;
  const reason = outcome.cause ?? 'the coordination was cancelled';
  if (running.length === 0) return [{ agentId: null, stepId: null, error, cause: reason }];
  return running.map(({ agentId, stepId }) => ({
    agentId,
    stepId,
    error,
    cause: `${reason} while ${agentId} was still working on step ${stepId}; its answer is dropped`,
  }));
}

/** A fallback answered for a step, at run time (attempt > 0) or from the plan (a stand-in). */
function degradedBy(input: ExecutionInput, steps: readonly StepResult[]): boolean {
  return (input.standIns ?? []).length > 0 || steps.some((s) => s.attempt > 0);
}

function timings(steps: StepResult[], totalMs: number, agentMs: number): Timings {
  return {
    totalMs: round(totalMs),
    agentMs: round(agentMs),
    overheadMs: round(Math.max(0, totalMs - agentMs)),
    steps: steps.flatMap((s) =>
      s.durationMs === undefined
        ? []
        : [{ stepId: s.stepId, agentId: s.agentId, durationMs: s.durationMs }],
    ),
  };
}

/**
 * Steps, errors and time inside agents, read from the execution state. `stoppedIn` is the state a
 * failed run stopped in (the workers of the round it stopped in are then in `lastResults`).
 */
function collect(
  input: ExecutionInput,
  state: ExecutionState,
  stoppedIn?: string,
): { steps: StepResult[]; errors: CoordinationError[]; agentMs: number } {
  const steps: StepResult[] = [];
  const errors: CoordinationError[] = [];
  const add = (
    stepId: string,
    candidates: string[],
    record: StepRecord | undefined,
    roundNo?: number,
  ) => {
    const outcome = record?.outcome;
    if (outcome === undefined) return;
    for (let k = 0; k < (outcome.ok ? outcome.attempt : outcome.attempt + 1); k++) {
      const failure = candidateError(record, k);
      if (failure)
        errors.push({
          // Workers have no candidate list: the failed attempt's outcome names the agent.
          agentId: candidates[k] ?? (k === outcome.attempt ? outcome.agentId : undefined) ?? null,
          stepId,
          error: failure.Error,
          cause: causeText(failure.Cause ?? null),
        });
    }
    // A recorded failure names its agent; its `result` is what a pipeline carried on, not its own.
    const agentId =
      (outcome.ok ? outcome.result?.agentId : outcome.agentId) ??
      candidates[outcome.attempt] ??
      'unknown';
    steps.push({
      stepId,
      agentId,
      status: outcome.ok ? 'succeeded' : 'failed',
      attempt: outcome.attempt,
      ...(outcome.ok && outcome.result
        ? { output: outcome.result.output, durationMs: outcome.result.durationMs }
        : {}),
      ...(roundNo === undefined ? {} : { round: roundNo }),
    });
  };
  const ids = (candidates: ExecutionInput['targets'][string] | undefined) =>
    Object.keys(candidates ?? {})
      .sort((a, b) => Number(a.slice(1)) - Number(b.slice(1)))
      .map((key) => candidates?.[key]?.agentId ?? 'unknown');

  switch (input.pattern) {
    case 'sequential':
    case 'pipeline': {
      for (const stepId of Object.keys(input.targets))
        add(stepId, ids(input.targets[stepId]), state.steps[stepId]);
      return { steps, errors, agentMs: sum(steps) };
    }
    case 'parallel':
    case 'scatter_gather': {
      for (const [i, item] of input.items.entries())
        add(item.stepId, ids(item.candidates), state.results?.[i]);
      return { steps, errors, agentMs: Math.max(0, ...steps.map((s) => s.durationMs ?? 0)) };
    }
    case 'hierarchical': {
      const supervisor = ids(input.targets.supervisor);
      let agentMs = 0;
      const rounds = [
        ...unrollHistory(state.loop?.history ?? []),
        {
          decision: state.decision,
          results: stoppedIn === WORKERS_STATE ? (state.lastResults ?? []) : [],
        },
      ];
      for (const [r, { decision, results }] of rounds.entries()) {
        add('supervisor', supervisor, decision, r + 1);
        const planned = steps.at(-1)?.durationMs ?? 0;
        const before = steps.length;
        for (const record of results) add(record.stepId ?? 'worker', [], record, r + 1);
        agentMs += planned + Math.max(0, ...steps.slice(before).map((s) => s.durationMs ?? 0));
      }
      return { steps, errors, agentMs };
    }
  }
}

function patternOutput(input: ExecutionInput, state: ExecutionState, steps: StepResult[]): unknown {
  const succeeded = steps.filter((s) => s.status === 'succeeded');
  switch (input.pattern) {
    case 'sequential':
    case 'parallel':
      return Object.fromEntries(succeeded.map((s) => [s.stepId, s.output]));
    case 'pipeline':
      return succeeded.at(-1)?.output ?? null;
    case 'scatter_gather':
      if (input.gather === 'first_successful') return succeeded[0]?.output ?? null;
      if (input.gather === 'merge') {
        return Object.assign(
          {},
          ...succeeded.map((s) => (isObject(s.output) ? s.output : { [s.stepId]: s.output })),
        );
      }
      return succeeded.map((s) => s.output);
    case 'hierarchical': {
      const decision = state.decision?.outcome?.result?.output;
      return isObject(decision) && 'output' in decision ? decision.output : null;
    }
  }
}

/** Compiled machines fail with "<agent> failed at step <step>: <cause>"; split it back up. */
function parseFailure(error: string, cause: string | null): CoordinationError {
  const parsed = cause === null ? undefined : parseFailureCause(cause);
  if (parsed)
    return {
      agentId: parsed.agentId,
      stepId: parsed.stepId,
      error,
      cause: causeText(parsed.cause),
    };
  return { agentId: null, stepId: null, error, cause: causeText(cause) };
}

/** Lambda and the agent SDK put a JSON error document in the cause; keep its message. */
function causeText(cause: string | null): string | null {
  if (cause === null || cause === 'null') return null;
  try {
    const parsed = JSON.parse(cause) as { errorMessage?: unknown };
    if (typeof parsed.errorMessage === 'string') return parsed.errorMessage;
  } catch {
    // plain text
  }
  return cause;
}

function sum(steps: StepResult[]): number {
  return steps.reduce((total, s) => total + (s.durationMs ?? 0), 0);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}
