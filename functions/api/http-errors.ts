import type { Logger } from '@aws-lambda-powertools/logger';
import type { APIGatewayProxyResult } from 'aws-lambda';
import type { ErrorCode } from '../core/errors.ts';
import { CapacityExceededError, isMobiusError, ValidationError } from '../core/errors.ts';
import { json } from './http.ts';

/** The one place domain errors become HTTP responses. */
export const STATUS_BY_CODE: Readonly<Record<ErrorCode, number>> = {
  VALIDATION_FAILED: 400,
  PROTOCOL_UNSUPPORTED: 400,
  NOT_FOUND: 404,
  CONFLICT: 409,
  PAYLOAD_TOO_LARGE: 413,
  AGENT_FAILED: 502,
  NO_AGENT_AVAILABLE: 503,
  TIMEOUT: 504,
  CAPACITY_EXCEEDED: 503,
  FORBIDDEN: 403,
  EVENTS_NOT_CONFIGURED: 503,
};

export interface ErrorBody {
  readonly error: {
    readonly code: string;
    readonly message: string;
    readonly details: Record<string, unknown>;
  };
}

/** The status an error answers with: its code's, or 500 for anything that is not a domain error. */
export function statusOf(error: unknown): number {
  return isMobiusError(error) ? STATUS_BY_CODE[error.code] : 500;
}

/**
 * `{ error: { code, message, details } }` with the status for the error's code. Anything that is
 * not a domain error is a bug on our side: 500 with a request id to quote, never a stack trace
 * (the caller logs it; see createApi).
 */
export function errorResponse(error: unknown, requestId: string): APIGatewayProxyResult {
  if (isMobiusError(error)) {
    const details = error instanceof ValidationError ? { issues: error.issues } : error.details;
    const body: ErrorBody = { error: { code: error.code, message: error.message, details } };
    const response = json(statusOf(error), body);
    // Shed load tells the caller when to come back (RFC 9110 §10.2.3), as API Gateway's 429s do.
    if (error instanceof CapacityExceededError)
      response.headers = { ...response.headers, 'retry-after': String(error.retryAfterSeconds) };
    return response;
  }
  const body: ErrorBody = {
    error: {
      code: 'INTERNAL',
      message: `Internal error; quote request ${requestId} when reporting it.`,
      details: { requestId },
    },
  };
  return json(500, body);
}

/**
 * The answer to an error a route met, however it is sent (a JSON answer, or an SSE `error` event):
 * a 500 is our bug, so it is logged with the request id the caller is given to quote.
 */
export function answerError(
  error: unknown,
  requestId: string,
  logger?: Pick<Logger, 'error'>,
): APIGatewayProxyResult {
  if (statusOf(error) === 500) logger?.error('unexpected error', { requestId, error });
  return errorResponse(error, requestId);
}
