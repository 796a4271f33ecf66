import {
  InternalServerException,
  ModelNotReadyException,
  ModelStreamErrorException,
  ModelTimeoutException,
  ServiceUnavailableException,
  ThrottlingException,
} from '@aws-sdk/client-bedrock-runtime';
import {
  FatalAgentError,
  RetryableAgentError,
} from '../../functions/core/messaging/agent-errors.ts';

/**
 * How the example Bedrock agents report a failed model call, so that a coordination treats it
 * right: throttling, the service's faults and the network's are retryable (Step Functions tries
 * again, then the fallback); a request the service refuses (validation, access, quota) is fatal.
 */

/** Bedrock's modelled exceptions worth another try: busy, loading, too slow, a stream broken off. */
const TRANSIENT_EXCEPTIONS = [
  ThrottlingException,
  ServiceUnavailableException,
  InternalServerException,
  ModelNotReadyException,
  ModelTimeoutException,
  ModelStreamErrorException,
];

/**
 * The names the SDK gives a request that took too long: its own connection and request timeouts
 * (and a socket error it recognises as one) are `TimeoutError`; services answer the other two.
 */
const TIMEOUT_NAMES = new Set(['TimeoutError', 'RequestTimeout', 'RequestTimeoutException']);

/**
 * Node's codes for a connection that failed on the way (reset, refused, timed out, cut off, a
 * name lookup that failed for now), as the SDK's HTTP handler passes them on in `code`.
 */
const NETWORK_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'EAI_AGAIN',
  'ERR_STREAM_PREMATURE_CLOSE',
  'ERR_HTTP2_STREAM_ERROR',
  'ERR_HTTP2_SESSION_ERROR',
]);

/** What an AWS SDK error carries about itself (ServiceException's fields; Node's `code`). */
interface SdkErrorFields {
  readonly name?: unknown;
  readonly code?: unknown;
  /** Set by the SDK on errors its model marks retryable (`{ throttling?: boolean }`). */
  readonly $retryable?: unknown;
  /** `server` for the service's own faults, `client` for what the request did wrong. */
  readonly $fault?: unknown;
  readonly $metadata?: { readonly httpStatusCode?: unknown; readonly clockSkewCorrected?: unknown };
  readonly cause?: unknown;
}

/** Causes looked at below an error: a wrapped socket error is usually one or two down. */
const MAX_CAUSE_DEPTH = 3;

/**
 * Whether what the SDK threw says another try may work — the same signs the SDK's own retry
 * strategy reads once it has used its attempts: a modelled transient exception, the model's
 * `$retryable` trait, a server fault (`$fault`, or a 429 or 5xx status in `$metadata`), a clock
 * skew it corrected, a timeout, or a network failure (here or in its `cause`).
 */
function looksTransient(error: unknown, depth = 0): boolean {
  if (typeof error !== 'object' || error === null) return false;
  if (TRANSIENT_EXCEPTIONS.some((type) => error instanceof type)) return true;
  const fields = error as SdkErrorFields;
  const status = fields.$metadata?.httpStatusCode;
  if (
    (fields.$retryable !== undefined && fields.$retryable !== null) ||
    fields.$fault === 'server' ||
    fields.$metadata?.clockSkewCorrected === true ||
    (typeof status === 'number' && (status === 429 || (status >= 500 && status <= 599))) ||
    (typeof fields.name === 'string' && TIMEOUT_NAMES.has(fields.name)) ||
    (typeof fields.code === 'string' && NETWORK_CODES.has(fields.code))
  )
    return true;
  return depth < MAX_CAUSE_DEPTH && looksTransient(fields.cause, depth + 1);
}

/**
 * Worth another try later: throttling, a model still loading or too slow, a stream the model broke
 * off, the service's own faults, and a connection that failed or timed out on the way.
 */
export function isTransient(error: unknown): error is Error {
  return error instanceof Error && looksTransient(error);
}

/** The agent error to throw for what a Bedrock call threw (agent errors pass through as they are). */
export function bedrockFailure(error: unknown): Error {
  if (error instanceof RetryableAgentError || error instanceof FatalAgentError) return error;
  if (isTransient(error))
    return new RetryableAgentError(`Bedrock could not answer now: ${error.name}: ${error.message}`);
  return new FatalAgentError(`Bedrock refused the request: ${(error as Error).message}`);
}
