import type { Writable } from 'node:stream';
import type { Context } from 'aws-lambda';

/**
 * Lambda response streaming, as the Node.js runtime offers it through its `awslambda` global:
 * `streamifyResponse` marks a handler `(event, responseStream, context)` as streaming, and
 * `HttpResponseStream.from` writes the HTTP integration prelude API Gateway's STREAM transfer mode
 * (and function URLs) read: a JSON object with the status and headers, then eight NUL bytes, then
 * the body. Outside Lambda (the embedded runtime, tests) the global is absent and the same
 * functions behave as the runtime does, so one handler serves both.
 */
export type ResponseStream = Writable & { setContentType?(contentType: string): void };

export type StreamingHandler = (
  event: unknown,
  responseStream: ResponseStream,
  context: Context,
) => Promise<void>;

/** What API Gateway reads before the body: the proxy result's status and headers. */
export interface HttpPrelude {
  readonly statusCode: number;
  readonly headers?: Readonly<Record<string, string>>;
  readonly multiValueHeaders?: Readonly<Record<string, readonly string[]>>;
  readonly cookies?: readonly string[];
}

/** The content type Lambda gives a stream that starts with an HTTP prelude. */
export const HTTP_INTEGRATION_CONTENT_TYPE = 'application/vnd.awslambda.http-integration-response';
/** Between the prelude and the body. */
export const PRELUDE_DELIMITER = new Uint8Array(8);

interface LambdaStreamingGlobal {
  streamifyResponse(handler: StreamingHandler): StreamingHandler;
  HttpResponseStream: { from(stream: ResponseStream, prelude: HttpPrelude): ResponseStream };
}

/**
 * The Node.js runtime's streaming functions, or undefined outside Lambda. Checked by function, not
 * by the global alone: Powertools puts a partial `awslambda` (its invoke store) on any process
 * that loads it.
 */
function runtimeGlobal(): LambdaStreamingGlobal | undefined {
  const lambda = (globalThis as unknown as { awslambda?: Partial<LambdaStreamingGlobal> })
    .awslambda;
  return typeof lambda?.streamifyResponse === 'function' &&
    typeof lambda.HttpResponseStream?.from === 'function'
    ? (lambda as LambdaStreamingGlobal)
    : undefined;
}

/**
 * The handler as Lambda must receive it to stream its response: marked by the runtime when it
 * runs in Lambda (read when the module loads, as the runtime defines its global before it loads
 * the handler's module), unchanged elsewhere.
 */
export function streamifyResponse(handler: StreamingHandler): StreamingHandler {
  return runtimeGlobal()?.streamifyResponse(handler) ?? handler;
}

/** Writes the HTTP prelude to `stream` and returns the stream the body goes to. */
export function httpResponseStream(stream: ResponseStream, prelude: HttpPrelude): ResponseStream {
  const lambda = runtimeGlobal();
  if (lambda !== undefined) return lambda.HttpResponseStream.from(stream, prelude);
  stream.setContentType?.(HTTP_INTEGRATION_CONTENT_TYPE);
  stream.write(JSON.stringify(prelude));
  stream.write(PRELUDE_DELIMITER);
  return stream;
}

/**
 * Writes `data`, waiting while the stream's buffer is full (back-pressure: a slow reader slows the
 * writer instead of filling memory). Rejects when the stream was destroyed (the reader went away).
 */
export async function writeWithBackPressure(
  stream: Writable,
  data: string | Uint8Array,
): Promise<void> {
  if (stream.destroyed || stream.writableEnded)
    throw new Error('the response stream is closed: its reader went away');
  if (stream.write(data)) return;
  await new Promise<void>((resolve, reject) => {
    const done = (error?: Error) => {
      stream.off('drain', onDrain);
      stream.off('close', onClose);
      stream.off('error', done);
      if (error) reject(error);
      else resolve();
    };
    const onDrain = () => done();
    const onClose = () => done(new Error('the response stream is closed: its reader went away'));
    stream.on('drain', onDrain);
    stream.on('close', onClose);
    stream.on('error', done);
  });
}
