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

/** Longest message kept from a thrown value that is not an Error (Step Functions keeps 32 KiB of cause). */
const MAX_THROWN_TEXT = 1_000;

/**
 * Whatever an agent handler threw, as an Error with a usable name and message. JavaScript lets a
 * handler throw anything (`throw null`, `throw 'text'`, a plain object); Lambda, Step Functions'
 * Catch (`{ Error, Cause }`) and SendTaskFailure all need a name and a message. Errors pass
 * through unchanged, so FatalAgentError and RetryableAgentError keep the names Retry matches on.
 */
export function asAgentError(thrown: unknown): Error {
  if (thrown instanceof Error && typeof thrown.name === 'string' && thrown.name.length > 0) {
    return thrown;
  }
  if (thrown instanceof Error) {
    return Object.assign(new Error(String(thrown.message), { cause: thrown }), { name: 'Error' });
  }
  return new Error(describeThrown(thrown), { cause: thrown });
}

function describeThrown(thrown: unknown): string {
  if (thrown === null || thrown === undefined) {
    return `the handler threw ${String(thrown)} instead of an Error`;
  }
  if (typeof thrown === 'string') return clip(thrown);
  if (typeof thrown === 'object' && typeof (thrown as { message?: unknown }).message === 'string') {
    return clip((thrown as { message: string }).message);
  }
  let text: string;
  try {
    text = typeof thrown === 'object' ? (JSON.stringify(thrown) ?? String(thrown)) : String(thrown);
  } catch {
    text = Object.prototype.toString.call(thrown);
  }
  return `the handler threw ${typeof thrown === 'object' ? 'an object' : `a ${typeof thrown}`} instead of an Error: ${clip(text)}`;
}

function clip(text: string): string {
  return text.length > MAX_THROWN_TEXT ? `${text.slice(0, MAX_THROWN_TEXT)}…` : text;
}
