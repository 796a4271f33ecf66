/** How a state machine execution ended, whichever engine ran it (Step Functions or embedded). */
export type ExecutionOutcome =
  | { readonly status: 'SUCCEEDED'; readonly output: unknown }
  | {
      readonly status: 'FAILED';
      readonly error: string;
      readonly cause: string | null;
      readonly progress?: ExecutionProgress;
    }
  | { readonly status: 'TIMED_OUT'; readonly progress?: ExecutionProgress }
  | {
      /** Stopped from outside (StopExecution; the embedded engine's stop): the run was cancelled. */
      readonly status: 'ABORTED';
      /** What the stop gave as its reason, when it gave one (StopExecution's `error`, `cause`). */
      readonly error: string | null;
      readonly cause: string | null;
      readonly progress?: ExecutionProgress;
    };

/**
 * How far a run that failed or timed out had got, when the engine can tell (the embedded engine
 * watches its interpreter; Step Functions' StartSyncExecution reports nothing but the error):
 * the outputs of the steps that had succeeded are what graceful degradation is for.
 */
export interface ExecutionProgress {
  /** The top-level execution state when the run stopped, Map iterations that had finished included. */
  readonly state: unknown;
  /** The top-level state the run stopped in. */
  readonly stoppedIn: string;
  /** Agent tasks still in flight when the run stopped (a timeout names them). */
  readonly running: readonly { readonly agentId: string; readonly stepId: string }[];
}

/** A Step Functions execution's end as reported by DescribeExecution or its status-change event. */
export interface FinishedExecution {
  readonly status: string;
  /** JSON text, when Step Functions includes it. */
  readonly output?: string | null | undefined;
  readonly error?: string | null | undefined;
  readonly cause?: string | null | undefined;
}

/**
 * The outcome of a finished Step Functions execution. ABORTED is a run stopped from outside (the
 * coordination was cancelled); any other status that is not a success or a timeout failed.
 */
export function outcomeOf(execution: FinishedExecution): ExecutionOutcome {
  if (execution.status === 'SUCCEEDED')
    return { status: 'SUCCEEDED', output: JSON.parse(execution.output ?? 'null') };
  if (execution.status === 'TIMED_OUT') return { status: 'TIMED_OUT' };
  // A stop that gave no reason comes back without one, or (moto) with empty strings.
  if (execution.status === 'ABORTED')
    return { status: 'ABORTED', error: execution.error || null, cause: execution.cause || null };
  return {
    status: 'FAILED',
    error: execution.error ?? `States.${execution.status}`,
    cause: execution.cause ?? null,
  };
}
