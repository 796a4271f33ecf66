import type { Logger } from '@aws-lambda-powertools/logger';
import { formatSse, SSE_HEADERS, SSE_KEEPALIVE } from '../core/streaming/sse.ts';
import { abortableStream, type StreamingResult } from './http.ts';
import { answerError } from './http-errors.ts';

/**
 * Silence after which an SSE answer sends a comment: proxies, load balancers and API Gateway
 * close connections that stay idle too long, and a streamed answer may wait minutes for its next
 * event (a step that works without streaming, a model thinking before its first token).
 */
export const KEEPALIVE_MS = 15_000;

/**
 * A 200 `text/event-stream` answer whose body `produce` writes as SSE text. The producer gets a
 * signal that aborts when the reader leaves; a keep-alive comment goes out whenever `keepAliveMs`
 * pass without a piece.
 */
export function sseResult(
  produce: (signal: AbortSignal) => AsyncIterable<string>,
  keepAliveMs = KEEPALIVE_MS,
): StreamingResult {
  return {
    statusCode: 200,
    headers: { ...SSE_HEADERS },
    stream: abortableStream((signal) => withKeepAlive(produce(signal), keepAliveMs)),
  };
}

/** The pieces as they come, with SSE_KEEPALIVE in every silence of `ms`. */
async function* withKeepAlive(pieces: AsyncIterable<string>, ms: number): AsyncGenerator<string> {
  const inner = pieces[Symbol.asyncIterator]();
  try {
    let pending = inner.next();
    for (;;) {
      let timer: NodeJS.Timeout | undefined;
      const quiet = new Promise<'quiet'>((resolve) => {
        timer = setTimeout(() => resolve('quiet'), ms);
      });
      const next = await Promise.race([pending, quiet]);
      clearTimeout(timer);
      if (next === 'quiet') {
        // The same piece is still awaited: nothing is read twice or skipped.
        yield SSE_KEEPALIVE;
        continue;
      }
      if (next.done === true) return;
      yield next.value;
      pending = inner.next();
    }
  } finally {
    await inner.return?.();
  }
}

/**
 * An error met after an SSE answer has begun (its status is sent): an `error` event carrying the
 * API's error body, as a JSON answer would have (a 500 logged, see answerError).
 */
export function sseErrorEvent(
  error: unknown,
  requestId: string,
  logger?: Pick<Logger, 'error'>,
): string {
  return formatSse({
    event: 'error',
    data: JSON.parse(answerError(error, requestId, logger).body),
  });
}
