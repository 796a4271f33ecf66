import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { sseResult } from '../../functions/api/sse-stream.ts';
import { SSE_HEADERS, SSE_KEEPALIVE } from '../../functions/core/streaming/sse.ts';

describe('SSE answers', () => {
  it('send a keep-alive comment in each silence, and every piece once, in order', async () => {
    const result = sseResult(async function* () {
      yield 'a';
      await sleep(120);
      yield 'b';
      yield 'c';
    }, 25);
    expect(result.statusCode).toBe(200);
    expect(result.headers).toEqual(SSE_HEADERS);
    const pieces: string[] = [];
    for await (const piece of result.stream) pieces.push(piece);
    expect(pieces.filter((p) => p !== SSE_KEEPALIVE)).toEqual(['a', 'b', 'c']);
    expect(pieces[0]).toBe('a');
    // The 120 ms pause holds at least one keep-alive (each after 25 ms of silence).
    expect(pieces.slice(1, pieces.indexOf('b'))).toContain(SSE_KEEPALIVE);
  });

  it('tell the producer when the reader leaves, even while it waits', async () => {
    let aborted = false;
    const result = sseResult(async function* (signal) {
      yield 'first';
      await new Promise<void>((resolve) =>
        signal.addEventListener(
          'abort',
          () => {
            aborted = true;
            resolve();
          },
          { once: true },
        ),
      );
    }, 60_000);
    const reader = result.stream[Symbol.asyncIterator]();
    expect((await reader.next()).value).toBe('first');
    const waiting = reader.next();
    await reader.return?.(undefined);
    expect(aborted).toBe(true);
    expect(await waiting).toMatchObject({ done: true });
  });
});
