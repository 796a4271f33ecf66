import type { Writable } from 'node:stream';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import type { z } from 'zod';
import { writeWithBackPressure } from '../core/aws/lambda-streaming.ts';
import { ValidationError } from '../core/errors.ts';
import { parseExternal, parseWith } from '../core/validation.ts';

export type ApiEvent = APIGatewayProxyEvent;
/**
 * What a route answers: an API Gateway proxy result, or a streamed one. A streamed answer's status
 * and headers go out first, then its body piece by piece as the iterable yields (SSE): the
 * embedded server writes each piece with back-pressure; on AWS the API function writes them to its
 * Lambda response stream behind an API Gateway method with `responseTransferMode: STREAM`.
 * Stopping the iteration (`return()`, when the client goes away) is how a route learns to stop.
 */
export type ApiResult = APIGatewayProxyResult | StreamingResult;
export interface StreamingResult {
  readonly statusCode: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly stream: AsyncIterable<string>;
}
export type RouteHandler = (event: ApiEvent) => Promise<ApiResult>;

export function isStreaming(result: ApiResult): result is StreamingResult {
  return 'stream' in result && result.stream !== undefined;
}

/**
 * A stream body whose producer learns at once that nobody reads any more: stopping the iteration
 * (the client went away) aborts `signal`, even while the producer is waiting for its next piece —
 * an async generator's own `return()` would wait for that piece first.
 */
export function abortableStream(
  produce: (signal: AbortSignal) => AsyncIterable<string>,
): AsyncIterable<string> {
  return {
    [Symbol.asyncIterator]() {
      const controller = new AbortController();
      const inner = produce(controller.signal)[Symbol.asyncIterator]();
      return {
        next: () => inner.next(),
        return: async (value?: unknown) => {
          controller.abort();
          await inner.return?.(value);
          return { done: true, value: undefined };
        },
      };
    },
  };
}

/**
 * Writes a streamed answer to `writable` piece by piece as the route yields it, each write waiting
 * while the writable's buffer is full (back-pressure: a slow reader slows its own stream and holds
 * no more than that buffer), then ends it. The one loop behind both writers of a StreamingResult:
 * the embedded API server (an HTTP response) and the API's Lambda entry (its response stream).
 *
 * The reader going away — the writable closes, or errors (a reset connection) — stops the
 * iteration (`return()`) at once, even while the route waits for its next piece, and the pipe
 * ends quietly. `until` resolving (the function's deadline) ends the stream the same way. The
 * route's `return()` is awaited (its cleanup; a route may hold on there until work it started
 * settles), but never past `until`: a route that ignores being stopped cannot hold its writer.
 * Rejects only when a write fails while the reader is still there.
 */
export async function pipeStream(
  pieces: AsyncIterable<string>,
  writable: Writable,
  options: { readonly until?: Promise<unknown> } = {},
): Promise<void> {
  const iterator = pieces[Symbol.asyncIterator]();
  let stopped: Promise<void> | undefined;
  // Once, whoever asks first; never rejects: a route's failing cleanup has nobody to answer.
  const stop = () => {
    stopped ??= (async () => {
      await iterator.return?.(undefined);
    })().catch(() => undefined);
    return stopped;
  };
  let leave: () => void = () => undefined;
  const left = new Promise<typeof LEFT>((resolve) => {
    leave = () => resolve(LEFT);
  });
  const readerLeft = () => {
    leave();
    void stop();
  };
  writable.once('close', readerLeft);
  // An 'error' nobody listens to is thrown by the emitter: an uncaught exception that ends the
  // process (on Lambda, the environment) — and the 'close' that would stop the route never comes.
  // It stays listened to after the pipe, for errors of a stream already ended.
  writable.on('error', readerLeft);
  const cut = options.until?.then((): typeof CUT => CUT) ?? NEVER;
  let wasCut = false;
  try {
    while (!writable.destroyed) {
      const next = await Promise.race([iterator.next(), left, cut]);
      if (next === CUT) {
        wasCut = true;
        break;
      }
      if (next === LEFT || next.done === true || writable.destroyed) break;
      await writeWithBackPressure(writable, next.value);
    }
    await endOf(writable);
  } catch (error) {
    // The reader left mid-write: its stream ends here, quietly.
    if (!writable.destroyed) throw error;
  } finally {
    writable.off('close', readerLeft);
    // Cut at the deadline, the piece the route is working on may never come, nor its cleanup.
    const stopping = stop();
    if (!wasCut) await Promise.race([stopping, cut]);
  }
}

const LEFT = Symbol('reader left');
const CUT = Symbol('cut');
const NEVER = new Promise<never>(() => undefined);

/** Ends the writable and waits until everything written was handed on, or it closed. */
export function endOf(writable: Writable): Promise<void> {
  if (writable.destroyed || writable.writableEnded) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const done = (error?: Error | null) => {
      writable.off('close', onClose);
      if (error && !writable.destroyed) reject(error);
      else resolve();
    };
    // An HTTP response whose connection closes first never calls back from end().
    const onClose = () => done();
    writable.once('close', onClose);
    writable.end(done);
  });
}

/** A result known not to stream (every route answers so unless the caller asked for SSE). */
export function buffered(result: ApiResult): APIGatewayProxyResult {
  if (isStreaming(result)) throw new Error('expected a buffered API result, got a stream');
  return result;
}

export function json(statusCode: number, body: unknown): APIGatewayProxyResult {
  return {
    statusCode,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  };
}

/**
 * Parses the JSON body and validates it; an empty body counts as `{}` only when `optional`. Every
 * body passes here, so this is the one place that refuses what zod and the code after it cannot
 * take: nesting deeper than MAX_JSON_DEPTH (recursion would overflow the stack) and `__proto__`
 * keys (which would silently vanish). V8's JSON.parse is iterative, so any depth parses safely.
 */
export function parseBody<S extends z.ZodType>(
  event: ApiEvent,
  schema: S,
  subject: string,
  options: { optional?: boolean } = {},
): z.output<S> {
  const text =
    event.isBase64Encoded && event.body
      ? Buffer.from(event.body, 'base64').toString('utf8')
      : event.body;
  if (text === null || text === undefined || text.trim() === '') {
    if (options.optional) return parseWith(schema, {}, subject);
    throw new ValidationError(subject, [{ path: '', message: 'the request needs a JSON body' }]);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new ValidationError(subject, [
      { path: '', message: `the body is not valid JSON: ${(error as Error).message}` },
    ]);
  }
  return parseExternal(schema, parsed, subject);
}

export function pathParameter(event: ApiEvent, name: string): string {
  const raw = event.pathParameters?.[name] ?? '';
  try {
    return decodeURIComponent(raw);
  } catch {
    throw new ValidationError(`path parameter "${name}"`, [
      { path: name, message: `"${raw}" is not valid percent-encoding (encode "%" as %25)` },
    ]);
  }
}

export function query(event: ApiEvent): Record<string, string> {
  return Object.fromEntries(
    Object.entries(event.queryStringParameters ?? {}).filter(
      (entry): entry is [string, string] => entry[1] !== undefined,
    ),
  );
}
