import { STATUS_BY_CODE } from '../api/http-errors.ts';
import type { components, operations } from './api-types.ts';
import { printable } from './format.ts';

/**
 * The typed client's error for what the API refused or failed at: an error answer (4xx, 5xx), or
 * the `error` event that ends a stream the API had already begun. Both carry the API's error body
 * `{ error: { code, message, details } }`.
 */

type ErrorBody = components['schemas']['Error'];

/** The API answered 4xx or 5xx; `body` is its `{ error: { code, message, details } }`. */
export class ApiError extends Error {
  override readonly name = 'ApiError';
  readonly operationId: keyof operations;
  /** The answer's status; for an `error` event, the status the API gives its code. */
  readonly status: number;
  readonly body: unknown;
  /**
   * True when the error ended a stream of server-sent events (an `error` event) rather than being
   * the answer itself: the request had been taken, and what it streamed before stands.
   */
  readonly midStream: boolean;

  constructor(
    operationId: keyof operations,
    status: number,
    body: unknown,
    options: { readonly midStream?: boolean } = {},
  ) {
    const error = (body as Partial<ErrorBody> | undefined)?.error;
    // The API's words reach a terminal wherever this message is printed: escaped here, once.
    const text = printable(error?.message ?? JSON.stringify(body));
    super(
      options.midStream
        ? `The API's event stream ended with ${printable(error?.code ?? 'an error')} (${status}): ${text}`
        : `The API answered ${status}: ${text}`,
    );
    this.operationId = operationId;
    this.status = status;
    this.body = body;
    this.midStream = options.midStream ?? false;
  }

  /** The error code (`NOT_FOUND`, `VALIDATION_FAILED`, …) when the body is the API's error shape. */
  get code(): string | undefined {
    return (this.body as Partial<ErrorBody> | undefined)?.error?.code;
  }
}

/**
 * The status of an error the API sent as an event: its code's, as a JSON answer would have had
 * (http-errors.ts); a code it does not know is the API's own failure, 500 (`INTERNAL`).
 */
export function statusOfCode(code: string): number {
  return (STATUS_BY_CODE as Readonly<Record<string, number>>)[code] ?? 500;
}

/**
 * Whether asking again may bring another answer: the API's or a proxy's failures (5xx) — except
 * 501 (the operation is not there) and EVENTS_NOT_CONFIGURED (the API keeps no event log), which
 * stay what they are. A 4xx never changes.
 */
export function isTransient(error: unknown): boolean {
  return (
    error instanceof ApiError &&
    error.status >= 500 &&
    error.status !== 501 &&
    error.code !== 'EVENTS_NOT_CONFIGURED'
  );
}
