import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import {
  type HttpPrelude,
  httpResponseStream,
  type ResponseStream,
  type StreamingHandler,
  streamifyResponse,
  writeWithBackPressure,
} from '../core/aws/lambda-streaming.ts';
import { type ApiResult, isStreaming, type StreamingResult } from './http.ts';

/** The API as createApi builds it (the middy chain): a proxy event in, an API result out. */
export type ApiHandler = (event: APIGatewayProxyEvent, context: Context) => Promise<ApiResult>;

export interface StreamEntryOptions {
  /**
   * Runs once the answer is written, or its reader has gone: the API's middleware finished when
   * the route returned, and work a stream did after that (metrics it added) is flushed here.
   */
  readonly afterResponse?: () => void | Promise<void>;
}

/**
 * The API behind API Gateway's `responseTransferMode: STREAM`: a Lambda response-streaming
 * function (`streamifyResponse`) that answers in the HTTP integration format — a JSON prelude with
 * the status and headers, eight NUL bytes, then the body. A buffered result's body goes out in one
 * write (decoded first when it is base64); a streamed one (SSE) piece by piece as the route yields
 * it, each write waiting while the stream's buffer is full. When the reader goes away (the client
 * closed the connection, API Gateway gave up), the iteration is stopped, so the route stops
 * producing, as the embedded API server does.
 */
export function streamingApi(api: ApiHandler, options: StreamEntryOptions = {}): StreamingHandler {
  return streamifyResponse(async (event, responseStream, context) => {
    try {
      const result = await api(event as APIGatewayProxyEvent, context);
      if (isStreaming(result)) await writeStreamed(responseStream, result);
      else await writeBuffered(responseStream, result);
    } finally {
      await options.afterResponse?.();
    }
  });
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
    await end(stream);
  } catch (error) {
    // Nobody is left to read the answer.
    if (stream.destroyed) return;
    throw error;
  }
}

async function writeStreamed(
  responseStream: ResponseStream,
  result: StreamingResult,
): Promise<void> {
  const stream = httpResponseStream(responseStream, preludeOf(result));
  const pieces = result.stream[Symbol.asyncIterator]();
  // The reader going away while the route waits for its next piece ends the iteration too.
  const gone = () => void pieces.return?.(undefined);
  stream.once('close', gone);
  try {
    // An empty first write sends the status and headers at once (the prelude goes out before the
    // first write), as the embedded server flushes its headers: the client knows the stream is
    // open before the route has anything to say.
    await writeWithBackPressure(stream, '');
    for (;;) {
      const next = await pieces.next();
      if (next.done === true || stream.destroyed) break;
      await writeWithBackPressure(stream, next.value);
    }
    await end(stream);
  } catch (error) {
    // The reader left mid-write: its stream ends here, quietly.
    if (stream.destroyed) return;
    throw error;
  } finally {
    stream.off('close', gone);
    await pieces.return?.(undefined);
  }
}

/** Ends the stream and waits until everything written was handed on. */
function end(stream: ResponseStream): Promise<void> {
  if (stream.destroyed || stream.writableEnded) return Promise.resolve();
  return new Promise((resolve, reject) => {
    stream.end((error?: Error | null) => {
      if (error && !stream.destroyed) reject(error);
      else resolve();
    });
  });
}
