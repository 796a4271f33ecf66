import { describe, expect, it } from 'vitest';
import { FatalAgentError } from '../../functions/core/messaging/agent-errors.ts';
import { createMessage, createResponse } from '../../functions/core/messaging/envelope.ts';
import {
  chunkOf,
  finalOutput,
  isChunkSource,
  MAX_CHUNK_BYTES,
} from '../../functions/core/streaming/chunks.ts';
import { coordinationEventInputSchema } from '../../functions/core/streaming/events.ts';
import { formatFrame, readFrames } from '../../functions/core/streaming/frames.ts';
import { formatSse, readSse, wantsEventStream } from '../../functions/core/streaming/sse.ts';

/** The bytes of `text`, cut into pieces of `size` bytes: how a network delivers them. */
async function* pieces(text: string, size: number): AsyncGenerator<Uint8Array> {
  const bytes = new TextEncoder().encode(text);
  for (let i = 0; i < bytes.length; i += size) yield bytes.slice(i, i + size);
}

async function all<T>(source: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of source) out.push(item);
  return out;
}

describe('chunks', () => {
  it('makes a string a text delta and any other JSON a data chunk', () => {
    expect(chunkOf('Hel', 0, 'a')).toEqual({ seq: 0, text: 'Hel' });
    expect(chunkOf({ progress: 0.5 }, 1, 'a')).toEqual({ seq: 1, data: { progress: 0.5 } });
    expect(chunkOf(new Date(0), 2, 'a')).toEqual({ seq: 2, data: '1970-01-01T00:00:00.000Z' });
  });

  it('refuses a chunk that cannot travel, naming it', () => {
    expect(() => chunkOf({ n: 1n }, 7, 'a')).toThrow(FatalAgentError);
    expect(() => chunkOf({ n: 1n }, 7, 'a')).toThrow(/chunk 7.*BigInt/);
    expect(() => chunkOf('x'.repeat(MAX_CHUNK_BYTES + 1), 3, 'a')).toThrow(/chunk 3 of \d+ bytes/);
  });

  it('measures a chunk as the JSON it travels as, escapes included', () => {
    // 50 000 characters, each escaped to six bytes (\u0001): about 300 KB once serialised.
    const escaped = '\u0001'.repeat(50_000);
    expect(Buffer.byteLength(escaped)).toBeLessThan(MAX_CHUNK_BYTES);
    expect(() => chunkOf(escaped, 4, 'a')).toThrow(/chunk 4 of 300\d+ bytes as JSON/);
    expect(() => chunkOf({ text: escaped }, 5, 'a')).toThrow(/chunk 5 of \d+ bytes as JSON/);
    // What fits as JSON is taken whole: a chunk at the bound, serialised, is accepted.
    const fits = 'x'.repeat(MAX_CHUNK_BYTES - JSON.stringify({ seq: 6, text: '' }).length);
    expect(chunkOf(fits, 6, 'a')).toEqual({ seq: 6, text: fits });
    expect(() => chunkOf(`${fits}x`, 6, 'a')).toThrow(FatalAgentError);
  });

  it('gives callers that do not stream the returned value, else what was streamed', () => {
    const text = [chunkOf('Hello, ', 0, 'a'), chunkOf('world', 1, 'a')];
    expect(finalOutput({ done: true }, text)).toEqual({ done: true });
    expect(finalOutput(undefined, text)).toBe('Hello, world');
    expect(finalOutput(undefined, [chunkOf('a', 0, 'x'), chunkOf({ b: 1 }, 1, 'x')])).toEqual([
      'a',
      { b: 1 },
    ]);
    expect(finalOutput(undefined, [])).toBeUndefined();
  });

  it('recognises generators as chunk sources, and nothing else', () => {
    expect(isChunkSource((async function* () {})())).toBe(true);
    expect(isChunkSource((function* () {})())).toBe(true);
    expect(isChunkSource([1, 2])).toBe(false);
    expect(isChunkSource({ next: 1 })).toBe(false);
  });
});

describe('server-sent events', () => {
  it('reads back what it writes, whatever the network cuts', async () => {
    const written = [
      formatSse({ id: 1, event: 'step.chunk', data: { text: 'a\nb', n: 'é' } }),
      ': keep-alive\n\n',
      formatSse({ event: 'response', data: [1, 2] }),
    ].join('');
    for (const size of [1, 3, 7, 1000]) {
      expect(await all(readSse(pieces(written, size)))).toEqual([
        { event: 'step.chunk', data: { text: 'a\nb', n: 'é' }, id: '1' },
        { event: 'response', data: [1, 2], id: '1' },
      ]);
    }
  });

  it('reads CRLF line ends and multi-line data, and drops an event cut off by the end', async () => {
    const text =
      'event: x\r\ndata: line1\r\ndata: line2\r\n\r\nid: 9\r\ndata: {"a":1}\r\n\r\ndata: cut';
    for (const size of [1, 2, 3, 4, 64]) {
      expect(await all(readSse(pieces(text, size)))).toEqual([
        { event: 'x', data: 'line1\nline2', id: undefined },
        { event: 'message', data: { a: 1 }, id: '9' },
      ]);
    }
  });

  it('tells a request for SSE by its Accept header, whatever its case', () => {
    expect(wantsEventStream({ Accept: 'text/event-stream' })).toBe(true);
    expect(wantsEventStream({ accept: 'application/json, text/event-stream;q=0.9' })).toBe(true);
    expect(wantsEventStream({ accept: 'application/json' })).toBe(false);
    expect(wantsEventStream(null)).toBe(false);
  });
});

describe('agent stream frames', () => {
  const request = createMessage({ from: 'api', to: 'writer', type: 'request', payload: {} });
  const response = createResponse(request, 'writer', 'done');

  it('reads chunks then the response, across any cut', async () => {
    const text = [
      formatFrame({ chunk: { seq: 0, text: 'he' } }),
      formatFrame({ chunk: { seq: 1, data: { x: 1 } } }),
      formatFrame({ response }),
    ].join('');
    for (const size of [1, 5, 4096]) {
      const frames = await all(readFrames('writer', pieces(text, size)));
      expect(frames).toEqual([
        { chunk: { seq: 0, text: 'he' } },
        { chunk: { seq: 1, data: { x: 1 } } },
        { response: JSON.parse(JSON.stringify(response)) },
      ]);
    }
  });

  it('reads a plain response envelope (a function that does not stream) as the response', async () => {
    const frames = await all(readFrames('writer', pieces(JSON.stringify(response), 10)));
    expect(frames).toHaveLength(1);
    expect(frames[0]).toMatchObject({ response: { correlationId: request.messageId } });
  });

  it('refuses what is neither a frame nor a message, naming the agent', async () => {
    await expect(all(readFrames('writer', pieces('{"chunk":1}\nnot json\n', 64)))).rejects.toThrow(
      /Agent writer streamed something that is not a Mobius frame/,
    );
    await expect(all(readFrames('writer', pieces('{"other":true}\n', 64)))).rejects.toThrow(
      /neither a frame nor a Mobius message/,
    );
  });
});

describe('coordination events', () => {
  it('accepts each documented shape and refuses an unknown type', () => {
    const step = { stepId: 'step1', agentId: 'summarizer' };
    for (const event of [
      { type: 'coordination.started', pattern: 'pipeline', mode: 'express', steps: [step] },
      { type: 'step.started', ...step, candidate: 0, attempt: 1 },
      { type: 'step.retried', ...step, attempt: 2 },
      { type: 'step.fallback', ...step, candidate: 1 },
      { type: 'step.chunk', ...step, chunk: { seq: 0, text: 'x' } },
      { type: 'step.succeeded', ...step, output: { a: 1 }, durationMs: 3 },
      { type: 'step.failed', ...step, error: 'Mobius.FatalAgentError', cause: 'no' },
      { type: 'coordination.finished', status: 'succeeded', result: {} },
    ])
      expect(coordinationEventInputSchema.safeParse(event).success, event.type).toBe(true);
    expect(coordinationEventInputSchema.safeParse({ type: 'step.exploded', ...step }).success).toBe(
      false,
    );
  });
});
