import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import {
  type HttpPrelude,
  httpResponseStream,
  type ResponseStream,
  type StreamingHandler,
  streamifyResponse,
  writeWithBackPressure,
} from '../core/aws/lambda-streaming.ts';
import { type ApiResult, endOf, isStreaming, pipeStream, type StreamingResult } from './http.ts';

/** The API as createApi builds it (the middy chain): a proxy event in, an API result out. */
export type ApiHandler = (event: APIGatewayProxyEvent, context: Context) => Promise<ApiResult>;

/**
 * A streamed answer ends this long before the function's own timeout: cleanly, so that the client
 * sees the stream end and resumes (an SSE client reconnects with Last-Event-ID) instead of being
 * cut off mid-event when Lambda stops the function.
 */
export const STREAM_END_MARGIN_MS = 5_000;

export interface StreamEntryOptions {
  /**
   * Runs once the answer is written, or its reader has gone and the route has stopped (bounded
   * by the stream's deadline): the API's middleware finished when the route returned, and work a
   * stream did after that (metrics it added) is flushed here.
   */
  readonly afterResponse?: () => void | Promise<void>;
}

/**
 * The API behind API Gateway's `responseTransferMode: STREAM`: a Lambda response-streaming
 * function (`streamifyResponse`) that answers in the HTTP integration format — a JSON prelude with
 * the status and headers, eight NUL bytes, then the body. A buffered result's body goes out in one
 * write (decoded first when it is base64); a streamed one (SSE) piece by piece as the route yields
 * it, each write waiting while the stream's buffer is full. When the reader goes away (the client
 * closed the connection, API Gateway gave up, the connection was reset), the iteration is stopped,
 * so the route stops producing, as the embedded API server does. A stream still going
 * STREAM_END_MARGIN_MS before the function's timeout is stopped and ended there.
 */
export function streamingApi(api: ApiHandler, options: StreamEntryOptions = {}): StreamingHandler {
  return streamifyResponse(async (event, responseStream, context) => {
    // A reader that resets its connection makes the stream emit 'error', whenever it happens —
    // while the route still works on its answer, too. Unheard, the error would be thrown by the
    // emitter: an uncaught exception ending the environment and every request it serves. The
    // stream is destroyed with it, and each writer below ends quietly on a destroyed stream.
    responseStream.on('error', ignoreReaderGone);
    try {
      const result = await api(event as APIGatewayProxyEvent, context);
      if (isStreaming(result)) await writeStreamed(responseStream, result, context);
      else await writeBuffered(responseStream, result);
    } finally {
      await options.afterResponse?.();
    }
  });
}

function ignoreReaderGone(): void {
  // Nothing to do: the stream is destroyed, which is what every writer here looks at.
}

/** The prelude API Gateway reads a proxy result's status and headers from. */
export function preludeOf(result: APIGatewayProxyResult | StreamingResult): HttpPrelude {
  const headers = Object.entries(result.headers ?? {});
  const multiValueHeaders =
    'multiValueHeaders' in result ? Object.entries(result.multiValueHeaders ?? {}) : [];
  return {
    statusCode: result.statusCode,
    ...(headers.length > 0
      ? { headers: Object.fromEntries(headers.map(([name, value]) => [name, String(value)])) }
      : {}),
    ...(multiValueHeaders.length > 0
      ? {
          multiValueHeaders: Object.fromEntries(
            multiValueHeaders.map(([name, values]) => [name, values.map(String)]),
          ),
        }
      : {}),
  };
}

async function writeBuffered(
  responseStream: ResponseStream,
  result: APIGatewayProxyResult,
): Promise<void> {
  const stream = httpResponseStream(responseStream, preludeOf(result));
  const body = result.isBase64Encoded
    ? new Uint8Array(Buffer.from(result.body, 'base64'))
    : result.body;
  try {
    // Written even when empty: Lambda's runtime writes the prelude just before the first write.
    await writeWithBackPressure(stream, body);
    await endOf(stream);
  } catch (error) {
    // Nobody is left to read the answer.
    if (stream.destroyed) return;
    throw error;
  }
}

/**
 * A streamed answer, through the same pipe as the embedded server's (pipeStream), cut
 * STREAM_END_MARGIN_MS before the invocation's deadline. The route's cleanup is awaited until then
 * too: the invocation lasts as long as work the route waits for there (a run its reader left).
 */
async function writeStreamed(
  responseStream: ResponseStream,
  result: StreamingResult,
  context: Context,
): Promise<void> {
  const stream = httpResponseStream(responseStream, preludeOf(result));
  const { outOfTime, cancel } = deadlineOf(context);
  try {
    // An empty first write sends the status and headers at once (the prelude goes out before the
    // first write), as the embedded server flushes its headers: the client knows the stream is
    // open before the route has anything to say.
    if (!stream.destroyed) stream.write('');
    await pipeStream(result.stream, stream, { until: outOfTime });
  } finally {
    cancel();
  }
}

/** Resolves STREAM_END_MARGIN_MS before the invocation's deadline (never, without one). */
function deadlineOf(context: Context): { outOfTime: Promise<void>; cancel: () => void } {
  const remaining = context.getRemainingTimeInMillis?.();
  if (typeof remaining !== 'number' || !Number.isFinite(remaining))
    return { outOfTime: new Promise(() => undefined), cancel: () => undefined };
  let timer: NodeJS.Timeout | undefined;
  const outOfTime = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, Math.max(0, remaining - STREAM_END_MARGIN_MS));
  });
  return { outOfTime, cancel: () => clearTimeout(timer) };
}
