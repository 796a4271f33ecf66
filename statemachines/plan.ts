import type { FailureMode, GatherSpec, Pattern, RetryPolicy } from './request.ts';

/**
 * A coordination request after every agent reference has been resolved (through the registry, by
 * functions/coordination/planner.ts). The compiler turns the plan's *shape* into a state
 * machine; the agents themselves travel in the execution input (see executionInput), so one
 * compiled definition serves any agents of the same shape.
 */
export interface AgentTarget {
  readonly agentId: string;
  /** Express mode: the Lambda function ARN. Standard mode: the SQS queue URL. */
  readonly target: string;
}

export interface PlannedStep {
  readonly id: string;
  /** The agent first, then its fallbacks in order. */
  readonly candidates: readonly AgentTarget[];
  /** The step's input object; defaults to the coordination payload. */
  readonly input?: Readonly<Record<string, unknown>>;
  readonly timeoutSeconds: number;
}

export interface PlannedWorker extends AgentTarget {
  readonly capabilities: readonly string[];
}

export interface CoordinationPlan {
  readonly pattern: Pattern;
  readonly mode: 'express' | 'standard';
  readonly failureMode: FailureMode;
  /** Retry policy for agent errors; set when failure_mode is "retry" or the request gave one. */
  readonly retry?: RetryPolicy;
  /** Seconds for the whole coordination (the state machine's TimeoutSeconds). */
  readonly timeoutSeconds?: number;
  /** sequential / pipeline: in order · parallel / scatter_gather: the fan-out · hierarchical: [supervisor]. */
  readonly steps: readonly PlannedStep[];
  readonly gather?: GatherSpec;
  readonly workers?: readonly PlannedWorker[];
  readonly workerTimeoutSeconds?: number;
  readonly maxRounds?: number;
  /** Steps planned with a fallback because the agent they named cannot take work now. */
  readonly standIns?: readonly StandIn[];
}

/** Why an agent the request asked for cannot take work now. */
export type PassedOverReason =
  | 'circuit_open'
  | 'offline'
  | 'draining'
  | 'drained'
  | 'no_usable_holder';

/**
 * A step whose requested agent cannot take work, planned with its first usable fallback instead:
 * what the result reports as degraded, naming who stood in and why.
 */
export interface StandIn {
  readonly stepId: string;
  /** The agent id the step named, or `capability <name>`. */
  readonly requested: string;
  /** The fallback planned in its place. */
  readonly agentId: string;
  readonly reason: PassedOverReason;
  /** The same in words (when the breaker opened, which capability had no usable holder…). */
  readonly detail: string;
}

/**
 * Candidates keyed `c0` (the agent), `c1`, `c2`… (its fallbacks). Keys rather than an array
 * because every path the machines use stays a plain field path: index paths such as `[0]` are
 * resolved to one-element lists by some engines (moto), which breaks QueueUrl and FunctionName.
 */
export type Candidates = Readonly<Record<string, AgentTarget>>;

export const candidateKey = (k: number): string => `c${k}`;

export function candidatesOf(targets: readonly AgentTarget[]): Candidates {
  return Object.fromEntries(targets.map((target, k) => [candidateKey(k), target]));
}

export interface ExecutionItem {
  readonly stepId: string;
  readonly candidates: Candidates;
  readonly input: Readonly<Record<string, unknown>>;
  /** The step's own task timeout (the Map's task reads it through TimeoutSecondsPath). */
  readonly timeoutSeconds: number;
}

/** The execution input every compiled machine expects; the state the run starts from. */
export interface ExecutionInput {
  readonly coordinationId: string;
  /** Not read by the machine: lets a finished execution be shaped into a result on its own. */
  readonly pattern: Pattern;
  readonly mode: 'express' | 'standard';
  readonly gather: GatherSpec['strategy'];
  readonly payload: Readonly<Record<string, unknown>>;
  /** Candidates per step id (sequential, pipeline, hierarchical supervisor). */
  readonly targets: Readonly<Record<string, Candidates>>;
  /** Input object per step id (sequential). */
  readonly inputs: Readonly<Record<string, Readonly<Record<string, unknown>>>>;
  /** What the first pipeline step works on, shaped like a task result. */
  readonly initial: { readonly agentId: 'input'; readonly output: unknown; readonly durationMs: 0 };
  /** Fan-out items (parallel, scatter_gather). */
  readonly items: readonly ExecutionItem[];
  /** Successful agents a scatter-gather needs. */
  readonly required: number;
  /** hierarchical: the workers and what the supervisor may know of them. */
  readonly workers: readonly PlannedWorker[];
  readonly workerInfo: readonly {
    readonly agentId: string;
    readonly capabilities: readonly string[];
  }[];
  /** hierarchical: loop state; results accumulate here and in `steps`. */
  readonly loop: { readonly round: number; readonly history: readonly unknown[] };
  readonly lastResults: readonly unknown[];
  /** Step records, filled in as the run goes. */
  readonly steps: Readonly<Record<string, unknown>>;
  /** Not read by the machine: the planner's stand-ins, for the result. */
  readonly standIns: readonly StandIn[];
}

/**
 * How many agents must succeed for a scatter-gather to succeed: the quorum when one is set, one for
 * first_successful and best-effort collection, and every agent otherwise.
 */
export function requiredSuccesses(plan: CoordinationPlan): number {
  const targets = plan.steps.length;
  const gather = plan.gather ?? { strategy: 'collect' };
  if (gather.strategy === 'quorum') return gather.quorum ?? targets;
  if (gather.strategy === 'first_successful' || plan.failureMode === 'best_effort')
    return Math.min(1, targets);
  return targets;
}

export function executionInput(
  plan: CoordinationPlan,
  coordinationId: string,
  payload: Readonly<Record<string, unknown>>,
): ExecutionInput {
  const fanOut = plan.pattern === 'parallel' || plan.pattern === 'scatter_gather';
  const first = plan.steps[0];
  return {
    coordinationId,
    pattern: plan.pattern,
    mode: plan.mode,
    gather: plan.gather?.strategy ?? 'collect',
    payload,
    targets: fanOut
      ? {}
      : Object.fromEntries(plan.steps.map((s) => [s.id, candidatesOf(s.candidates)])),
    inputs: fanOut ? {} : Object.fromEntries(plan.steps.map((s) => [s.id, s.input ?? payload])),
    initial: { agentId: 'input', output: first?.input ?? payload, durationMs: 0 },
    items: fanOut
      ? plan.steps.map((s) => ({
          stepId: s.id,
          candidates: candidatesOf(s.candidates),
          input: s.input ?? payload,
          timeoutSeconds: s.timeoutSeconds,
        }))
      : [],
    required: plan.pattern === 'scatter_gather' ? requiredSuccesses(plan) : 0,
    workers: plan.workers ?? [],
    workerInfo: (plan.workers ?? []).map((w) => ({
      agentId: w.agentId,
      capabilities: w.capabilities,
    })),
    loop: { round: 1, history: [] },
    lastResults: [],
    steps: {},
    standIns: plan.standIns ?? [],
  };
}
