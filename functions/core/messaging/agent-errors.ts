/**
 * Errors agent handlers throw to say whether trying again could help. Their names are the contract
 * with the compiled state machines (Retry/Catch `ErrorEquals`) and with the router; the Lambda
 * runtime reports `error.name` as the errorType Step Functions matches on.
 */
export const AGENT_ERROR_NAMES = {
  /** Transient: throttled downstream, a timeout, a dependency briefly down. Retried. */
  retryable: 'RetryableAgentError',
  /** Permanent: bad input, unsupported request. Never retried; fallbacks may still run. */
  fatal: 'FatalAgentError',
} as const;

export class RetryableAgentError extends Error {
  override readonly name = AGENT_ERROR_NAMES.retryable;
}

export class FatalAgentError extends Error {
  override readonly name = AGENT_ERROR_NAMES.fatal;
}
