/** How a state machine execution ended, whichever engine ran it (Step Functions or embedded). */
export type ExecutionOutcome =
  | { readonly status: 'SUCCEEDED'; readonly output: unknown }
  | { readonly status: 'FAILED'; readonly error: string; readonly cause: string | null }
  | { readonly status: 'TIMED_OUT' };

/** A Step Functions execution's end as reported by DescribeExecution or its status-change event. */
export interface FinishedExecution {
  readonly status: string;
  /** JSON text, when Step Functions includes it. */
  readonly output?: string | null | undefined;
  readonly error?: string | null | undefined;
  readonly cause?: string | null | undefined;
}

/** The outcome of a finished Step Functions execution (ABORTED counts as failed, by its status). */
export function outcomeOf(execution: FinishedExecution): ExecutionOutcome {
  if (execution.status === 'SUCCEEDED')
    return { status: 'SUCCEEDED', output: JSON.parse(execution.output ?? 'null') };
  if (execution.status === 'TIMED_OUT') return { status: 'TIMED_OUT' };
  return {
    status: 'FAILED',
    error: execution.error ?? `States.${execution.status}`,
    cause: execution.cause ?? null,
  };
}
