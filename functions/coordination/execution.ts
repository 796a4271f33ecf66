/** How a state machine execution ended, whichever engine ran it (Step Functions or embedded). */
export type ExecutionOutcome =
  | { readonly status: 'SUCCEEDED'; readonly output: unknown }
  | { readonly status: 'FAILED'; readonly error: string; readonly cause: string | null }
  | { readonly status: 'TIMED_OUT' };
