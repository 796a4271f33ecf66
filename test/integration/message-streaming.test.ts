import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  InvokeWithResponseStreamCommand,
  type InvokeWithResponseStreamCompleteEvent,
  LambdaClient,
} from '@aws-sdk/client-lambda';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { ApiDependencies } from '../../functions/api/dependencies.ts';
import { type ApiEvent, type ApiResult, isStreaming } from '../../functions/api/http.ts';
import {
  MAX_STREAM_TIMEOUT_SECONDS,
  type SendMessageOptions,
  sendMessage,
} from '../../functions/api/routes/messages.ts';
import { STREAM_END_MARGIN_MS } from '../../functions/api/stream-entry.ts';
import { AgentFailedError } from '../../functions/core/errors.ts';
import { FatalAgentError } from '../../functions/core/messaging/agent-errors.ts';
import {
  createMessage,
  createResponse,
  type Envelope,
} from '../../functions/core/messaging/envelope.ts';
import { MessageRouter, type StreamedReply } from '../../functions/core/messaging/router.ts';
import type { AgentDefinition } from '../../functions/core/sdk/define-agent.ts';
import type { StreamChunk } from '../../functions/core/streaming/chunks.ts';
import { type ReceivedSse, readSse, SSE_KEEPALIVE } from '../../functions/core/streaming/sse.ts';
import { LOCAL_CREDENTIALS, LOCAL_REGION } from '../../functions/embedded/dynamodb-engine.ts';
import { startLambdaServer } from '../../functions/embedded/lambda-server.ts';
import { EmbeddedRuntime } from '../../functions/embedded/runtime.ts';

/**
 * Request-response streaming (issue 17) over the embedded runtime, end to end: `POST /messages`
 * with `"stream": true` over real HTTP, the router's InvokeWithResponseStream through the embedded
 * Lambda endpoint with a real LambdaClient, the agent SDK's streaming entry, and SSE read back
 * with readSse. What a user relies on: every chunk, in order; a slow reader holds the agent back
 * instead of filling memory; a reader that leaves stops its own stream and nothing else; errors
 * arrive as an `error` event after the chunks that came before them; an agent that thinks long
 * before its first chunk gets an answer started (and kept alive) rather than a silent connection.
 */

/** What the streaming agents report, per request tag, for the test to watch. */
const progress = new Map<string, { produced: number; ended: boolean }>();
const track = (tag: string) => {
  const entry = { produced: 0, ended: false };
  progress.set(tag, entry);
  return entry;
};

/** Resolved by a test once it has read what it waits for; the agent then crashes. */
let crashNow: () => void = () => undefined;

interface StreamInput {
  readonly tag?: string;
  readonly count: number;
  /** Bytes per chunk (text). Default: a short token. */
  readonly size?: number;
  /** Throw a FatalAgentError once this many chunks are out. */
  readonly failAt?: number;
  /** Return nothing: callers that do not stream get the chunks' text joined. */
  readonly returnNothing?: boolean;
  /** Pause between chunks, to keep a stream open while others run. */
  readonly pauseMs?: number;
}

const streamer: AgentDefinition = {
  agentId: 'streamer',
  agentType: 'writer',
  description: 'streams as many text chunks as it is asked for',
  capabilities: [{ name: 'streaming', version: '1.0.0' }],
  async *handler(message) {
    const input = message.input as unknown as StreamInput;
    const seen = track(input.tag ?? 'untagged');
    try {
      for (let i = 0; i < input.count; i++) {
        if (input.failAt === i) throw new FatalAgentError(`broke after ${i} chunks`);
        seen.produced++;
        yield input.size === undefined ? `token-${i} ` : `${i}`.padEnd(input.size, '.');
        if (input.pauseMs !== undefined) await sleep(input.pauseMs);
      }
      return input.returnNothing === true ? undefined : { count: input.count };
    } finally {
      seen.ended = true;
    }
  },
};

/** Answers in one piece: no chunks. */
const plain: AgentDefinition = {
  agentId: 'plain',
  agentType: 'echo',
  description: 'answers at once, without streaming',
  capabilities: [{ name: 'echo', version: '1.0.0' }],
  handler: (message) => ({ echoed: message.input }),
};

/** Streams two chunks, then its environment dies (an exception thrown from a timer). */
const crasher: AgentDefinition = {
  agentId: 'crasher',
  agentType: 'writer',
  description: 'crashes mid-stream',
  capabilities: [{ name: 'crashing', version: '1.0.0' }],
  async *handler() {
    yield 'one ';
    yield 'two ';
    await new Promise<void>((resolve) => {
      crashNow = resolve;
    });
    setTimeout(() => {
      throw new Error('crashed from a timer');
    }, 0);
    await new Promise(() => undefined);
  },
};

/** One stream at a time: its card's maxConcurrency holds for streams too. */
const narrowGate = { inFlight: 0, peak: 0 };
const narrow: AgentDefinition = {
  agentId: 'narrow',
  agentType: 'writer',
  description: 'streams, one request at a time',
  capabilities: [{ name: 'narrow-streaming', version: '1.0.0' }],
  maxConcurrency: 1,
  async *handler() {
    narrowGate.inFlight++;
    narrowGate.peak = Math.max(narrowGate.peak, narrowGate.inFlight);
    try {
      for (let i = 0; i < 5; i++) {
        yield `${i} `;
        await sleep(10);
      }
      return 'done';
    } finally {
      narrowGate.inFlight--;
    }
  },
};

/**
 * Gates the `thinker` and `single` agents wait on before their first chunk, by request tag: the
 * test opens one when it is ready (a model thinking, a slot held).
 */
const gates = new Map<string, () => void>();
const gate = (tag: string) => new Promise<void>((resolve) => gates.set(tag, resolve));
const open = (tag: string) => gates.get(tag)?.();

/** Says nothing until its gate opens, then one chunk (or a failure). */
const thinker: AgentDefinition = {
  agentId: 'thinker',
  agentType: 'writer',
  description: 'thinks for as long as the test likes before its first chunk',
  capabilities: [{ name: 'thinking', version: '1.0.0' }],
  async *handler(message) {
    const input = message.input as { tag: string; fail?: boolean };
    await gate(input.tag);
    if (input.fail === true) throw new FatalAgentError('thought better of it');
    yield 'after a long thought';
    return 'done';
  },
};

/** One invocation at a time; records which requests ran. */
const singleRuns: string[] = [];
const single: AgentDefinition = {
  agentId: 'single',
  agentType: 'writer',
  description: 'streams, one request at a time, once its gate opens',
  capabilities: [{ name: 'single-streaming', version: '1.0.0' }],
  maxConcurrency: 1,
  async *handler(message) {
    const { tag } = message.input as { tag: string };
    singleRuns.push(tag);
    await gate(tag);
    yield `${tag} `;
    return tag;
  },
};

let runtime: EmbeddedRuntime;

beforeAll(async () => {
  runtime = await EmbeddedRuntime.start({
    agents: [streamer, plain, crasher, narrow, thinker, single],
    port: 0,
  });
  // An agent reached through its queue only (a container on its own queue, say): it cannot stream.
  await runtime.registry.register({
    agentId: 'queue-only',
    agentType: 'worker',
    description: 'reached through its queue only',
    capabilities: [{ name: 'queued', version: '1.0.0' }],
    endpoint: { queueUrl: runtime.agents[0]?.queueUrl as string },
  });
  await runtime.registry.heartbeat('queue-only');
}, 60_000);

afterAll(async () => {
  for (const release of gates.values()) release();
  await runtime?.stop();
});

function post(body: unknown, init: { accept?: string; signal?: AbortSignal } = {}) {
  return fetch(`${runtime.apiUrl}/messages`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...(init.accept === undefined ? {} : { accept: init.accept }),
    },
    body: JSON.stringify(body),
    ...(init.signal === undefined ? {} : { signal: init.signal }),
  });
}

async function events(response: Response): Promise<ReceivedSse[]> {
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/);
  const received: ReceivedSse[] = [];
  for await (const event of readSse(response.body as ReadableStream<Uint8Array>))
    received.push(event);
  return received;
}

const chunksOf = (received: readonly ReceivedSse[]) =>
  received.filter((e) => e.event === 'chunk').map((e) => e.data as StreamChunk);

async function until(check: () => boolean, what: string, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

/** Waits until `value()` has not changed for `quietMs` (bounded by `ms`), and returns it. */
async function settled(value: () => number, quietMs: number, ms = 20_000): Promise<number> {
  const deadline = Date.now() + ms;
  let last = value();
  let since = Date.now();
  while (Date.now() < deadline) {
    await sleep(50);
    const now = value();
    if (now !== last) {
      last = now;
      since = Date.now();
    } else if (Date.now() - since >= quietMs) return now;
  }
  throw new Error(`still changing after ${ms} ms (at ${value()})`);
}

describe('POST /messages with "stream": true', () => {
  it('delivers 10 000 chunks in order, none lost, each with its seq as the event id, then the response', async () => {
    const received = await events(
      await post({ to: 'streamer', payload: { count: 10_000 }, stream: true, timeout: 120 }),
    );
    const chunks = chunksOf(received);
    expect(chunks).toHaveLength(10_000);
    chunks.forEach((chunk, i) => {
      expect(chunk).toEqual({ seq: i, text: `token-${i} ` });
    });
    expect(received.filter((e) => e.event === 'chunk').map((e) => e.id)).toEqual(
      chunks.map((c) => String(c.seq)),
    );
    const last = received.at(-1);
    expect(last?.event).toBe('response');
    expect(last?.data).toMatchObject({
      type: 'response',
      from: 'streamer',
      payload: { count: 10_000 },
    });
    expect(received).toHaveLength(10_001);
  }, 120_000);

  it('answers Accept: text/event-stream the same way, with or without wait', async () => {
    for (const wait of [true, false]) {
      const received = await events(
        await post(
          { to: 'streamer', payload: { count: 3 }, wait },
          { accept: 'text/event-stream' },
        ),
      );
      expect(received.map((e) => e.event)).toEqual(['chunk', 'chunk', 'chunk', 'response']);
    }
  });

  /**
   * What may sit between an agent and a client that reads nothing: the socket buffers of two
   * loopback connections (client–API, API–Lambda endpoint) and a few streams' buffers. About 8 MB
   * was measured here; the bound leaves room for other kernels' socket autotuning.
   */
  const MAX_BUFFERED_BYTES = 32 * 1024 * 1024;

  it('holds a slow reader’s agent back: while the client reads nothing, the agent stops producing', async () => {
    const total = 2000;
    const size = 64 * 1024;
    const response = await post({
      to: 'streamer',
      payload: { tag: 'slow-reader', count: total, size },
      stream: true,
      timeout: 300,
    });
    expect(response.status).toBe(200);
    const reader = (response.body as ReadableStream<Uint8Array>).getReader();
    let bytesRead = 0;
    const seen = progress.get('slow-reader');
    expect(seen).toBeDefined();
    // The client reads nothing more: the agent's production must come to a halt, held by the
    // sockets' and streams' buffers (a few MB), far short of the 128 MB it would write.
    const produced = await settled(() => seen?.produced ?? 0, 750);
    expect(produced * size).toBeLessThanOrEqual(MAX_BUFFERED_BYTES);
    expect(seen?.ended).toBe(false);
    // Reading again releases it, and every chunk arrives.
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      bytesRead += value.byteLength;
    }
    expect(seen).toMatchObject({ produced: total, ended: true });
    expect(bytesRead).toBeGreaterThan(total * size);
  }, 120_000);

  it('a client that disconnects stops its own stream only: another stream and a coordination finish', async () => {
    const leaving = new AbortController();
    const response = await post(
      {
        to: 'streamer',
        payload: { tag: 'leaver', count: 1000, pauseMs: 1 },
        stream: true,
        timeout: 300,
      },
      { signal: leaving.signal },
    );
    const other = post({
      to: 'streamer',
      payload: { tag: 'stayer', count: 200, pauseMs: 2 },
      stream: true,
      timeout: 60,
    }).then(events);
    const coordination = runtime.coordinations.run({
      pattern: 'sequential',
      agents: ['plain', 'plain'],
      payload: { hello: 'world' },
    });
    let read = 0;
    for await (const event of readSse(response.body as ReadableStream<Uint8Array>)) {
      if (event.event === 'chunk') read++;
      if (read === 5) break;
    }
    leaving.abort();

    const stayed = await other;
    expect(chunksOf(stayed)).toHaveLength(200);
    expect(stayed.at(-1)?.event).toBe('response');
    const result = await coordination;
    expect(result.state === 'completed' && result.result.status).toBe('succeeded');
    // The leaver's handler is stopped at its next chunk (its finally runs), long before the 1000
    // it was asked for; its invocation ends without a crash and frees its slot.
    await until(() => progress.get('leaver')?.ended === true, 'the leaver’s handler to end');
    expect(progress.get('leaver')?.produced).toBeLessThan(1000);
    await until(
      () => runtime.slots.figures('streamer').inFlight === 0,
      'the leaver’s invocation to end',
    );
    // And the runtime serves the next stream as before.
    const next = await events(await post({ to: 'streamer', payload: { count: 2 }, stream: true }));
    expect(next.map((e) => e.event)).toEqual(['chunk', 'chunk', 'response']);
  }, 120_000);

  it('an error in the middle: the chunks before it, then an error event with the API error body, then the end', async () => {
    const received = await events(
      await post({ to: 'streamer', payload: { count: 10, failAt: 3 }, stream: true }),
    );
    expect(received.map((e) => e.event)).toEqual(['chunk', 'chunk', 'chunk', 'error']);
    expect(chunksOf(received).map((c) => c.seq)).toEqual([0, 1, 2]);
    expect(received.at(-1)?.data).toEqual({
      error: {
        code: 'AGENT_FAILED',
        message: expect.stringContaining('broke after 3 chunks'),
        details: expect.objectContaining({ agentId: 'streamer', errorType: 'FatalAgentError' }),
      },
    });
  });

  it('an agent that crashes mid-stream: its chunks, then an error event naming Runtime.ExitError; the runtime keeps serving', async () => {
    // The runtime logs the crash (nothing is swallowed); kept out of the test's output.
    const logged = vi.spyOn(console, 'error').mockImplementation(() => undefined);
    const response = await post({ to: 'crasher', payload: {}, stream: true });
    const received: ReceivedSse[] = [];
    for await (const event of readSse(response.body as ReadableStream<Uint8Array>)) {
      received.push(event);
      if (chunksOf(received).length === 2 && received.length === 2) crashNow();
    }
    expect(received.map((e) => e.event)).toEqual(['chunk', 'chunk', 'error']);
    expect(received.at(-1)?.data).toMatchObject({
      error: {
        code: 'AGENT_FAILED',
        details: { agentId: 'crasher', errorType: 'Runtime.ExitError' },
      },
    });
    expect(logged).toHaveBeenCalledWith('embedded Lambda crasher crashed:', expect.any(Error));
    logged.mockRestore();
    const next = await events(await post({ to: 'streamer', payload: { count: 1 }, stream: true }));
    expect(next.map((e) => e.event)).toEqual(['chunk', 'response']);
  });

  it('holds streams to the agent’s maxConcurrency: they wait for its slot, and all finish', async () => {
    narrowGate.peak = 0;
    const all = await Promise.all(
      Array.from({ length: 3 }, () =>
        post({ to: 'narrow', payload: {}, stream: true }).then(events),
      ),
    );
    for (const received of all) expect(chunksOf(received)).toHaveLength(5);
    expect(narrowGate.peak).toBe(1);
  });

  it('an agent whose handler does not stream, called with stream: just the response event (its SDK streaming entry answers)', async () => {
    const received = await events(await post({ to: 'plain', payload: { a: 1 }, stream: true }));
    expect(received).toHaveLength(1);
    expect(received[0]).toMatchObject({
      event: 'response',
      data: { payload: { echoed: { a: 1 } } },
    });
  });

  it('a caller that does not stream gets a streaming agent’s final output: its chunks’ text joined', async () => {
    const response = await post({
      to: 'streamer',
      payload: { count: 3, returnNothing: true },
      wait: true,
    });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^application\/json/);
    const body = (await response.json()) as { response: Envelope };
    expect(body.response.payload).toBe('token-0 token-1 token-2 ');
  });

  it('refusals before the first frame are plain JSON errors, not SSE', async () => {
    const unknown = await post({ to: 'nobody', payload: {}, stream: true });
    expect(unknown.status).toBe(404);
    expect(unknown.headers.get('content-type')).toMatch(/^application\/json/);

    const queueOnly = await post({ to: 'queue-only', payload: {}, stream: true });
    expect(queueOnly.status).toBe(400);
    const refusal = (await queueOnly.json()) as { error: { code: string; details: unknown } };
    expect(refusal.error.code).toBe('VALIDATION_FAILED');
    expect(JSON.stringify(refusal.error.details)).toContain('queue-only');
    expect(JSON.stringify(refusal.error.details)).toContain('Lambda endpoint');

    // An agent that fails before it streams anything answers as it would without streaming.
    const early = await post({ to: 'streamer', payload: { count: 5, failAt: 0 }, stream: true });
    expect(early.status).toBe(502);
    expect(((await early.json()) as { error: { code: string } }).error.code).toBe('AGENT_FAILED');
  });

  it('takes a timeout up to 880 s when the answer is streamed, asked either way, and at most 25 s otherwise', async () => {
    // The message's deadline comes before the API function ends the stream (5 s before its
    // 15 minutes), so a stream cut short says why in an error event.
    expect(MAX_STREAM_TIMEOUT_SECONDS * 1000).toBeLessThan(15 * 60_000 - STREAM_END_MARGIN_MS);
    const long = await events(await post({ to: 'plain', payload: {}, stream: true, timeout: 880 }));
    expect(long.map((e) => e.event)).toEqual(['response']);
    const accepted = await events(
      await post(
        { to: 'plain', payload: {}, wait: true, timeout: 880 },
        { accept: 'text/event-stream' },
      ),
    );
    expect(accepted.map((e) => e.event)).toEqual(['response']);
    const refused = await post({ to: 'plain', payload: {}, wait: true, timeout: 60 });
    expect(refused.status).toBe(400);
    const body = (await refused.json()) as { error: { details: { issues: { path: string }[] } } };
    expect(body.error.details.issues.map((i) => i.path)).toContain('timeout');
    expect((await post({ to: 'plain', payload: {}, stream: true, timeout: 881 })).status).toBe(400);
  });

  it('a stream its timeout cuts short: the chunks that came, then an error event (TIMEOUT)', async () => {
    const received = await events(
      await post({
        to: 'streamer',
        payload: { tag: 'overdue', count: 3, pauseMs: 3000 },
        stream: true,
        timeout: 1,
      }),
    );
    expect(received.map((e) => e.event)).toEqual(['chunk', 'error']);
    expect(received.at(-1)?.data).toMatchObject({
      error: { code: 'TIMEOUT', details: { agentId: 'streamer' } },
    });
  });
});

describe('POST /messages streamed: the wait for the first frame', () => {
  const route = (options: SendMessageOptions) =>
    sendMessage(
      {
        registry: runtime.registry,
        router: runtime.router,
        coordinations: runtime.coordinations,
      } satisfies ApiDependencies,
      options,
    );
  const eventOf = (body: unknown) =>
    ({
      httpMethod: 'POST',
      path: '/messages',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
      isBase64Encoded: false,
      requestContext: { requestId: 'first-frame-test' },
    }) as unknown as ApiEvent;
  /** The route's answer, or 'silent' if it has not answered within 10 s. */
  const answerOf = (answering: Promise<ApiResult>) =>
    Promise.race([answering, sleep(10_000).then(() => 'silent' as const)]);
  /** The SSE events of a streamed answer (comments, such as keep-alives, left out). */
  async function eventsOf(pieces: AsyncIterator<string>): Promise<ReceivedSse[]> {
    const bytes = (async function* () {
      for (let next = await pieces.next(); next.done !== true; next = await pieces.next())
        yield new TextEncoder().encode(next.value);
    })();
    const received: ReceivedSse[] = [];
    for await (const event of readSse(bytes)) received.push(event);
    return received;
  }

  it('starts the answer when the agent is silent past the wait: keep-alives while it thinks, then its chunks', async () => {
    const answered = await answerOf(
      route({ firstFrameWaitMs: 50, keepAliveMs: 50 })(
        eventOf({ to: 'thinker', payload: { tag: 'long-thought' }, stream: true, timeout: 60 }),
      ),
    );
    try {
      // Answered while the agent has said nothing: a proxy that closes silent connections (API
      // Gateway's edge endpoints, after 30 s) sees the headers, then keep-alives.
      expect(answered).not.toBe('silent');
      if (answered === 'silent' || !isStreaming(answered)) throw new Error('not a streamed answer');
      expect(answered.statusCode).toBe(200);
      const pieces = answered.stream[Symbol.asyncIterator]();
      expect((await pieces.next()).value).toBe(SSE_KEEPALIVE);
      await until(() => gates.has('long-thought'), 'the thinker to start');
      open('long-thought');
      const received = await eventsOf(pieces);
      expect(received.map((e) => e.event)).toEqual(['chunk', 'response']);
    } finally {
      open('long-thought');
    }
  });

  it('reports a failure after the wait as an error event with the API error body', async () => {
    const answered = await answerOf(
      route({ firstFrameWaitMs: 50 })(
        eventOf({
          to: 'thinker',
          payload: { tag: 'changed-mind', fail: true },
          stream: true,
          timeout: 60,
        }),
      ),
    );
    try {
      if (answered === 'silent' || !isStreaming(answered)) throw new Error('not a streamed answer');
      expect(answered.statusCode).toBe(200);
      await until(() => gates.has('changed-mind'), 'the thinker to start');
      open('changed-mind');
      const received = await eventsOf(answered.stream[Symbol.asyncIterator]());
      expect(received).toEqual([
        expect.objectContaining({
          event: 'error',
          data: {
            error: {
              code: 'AGENT_FAILED',
              message: expect.stringContaining('thought better of it'),
              details: expect.objectContaining({ agentId: 'thinker' }),
            },
          },
        }),
      ]);
    } finally {
      open('changed-mind');
    }
  });

  it('keeps a refusal within the wait a JSON error with its status', async () => {
    const refused = route({ firstFrameWaitMs: 5_000 })(
      eventOf({ to: 'queue-only', payload: {}, stream: true }),
    );
    await expect(refused).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
  });
});

describe('MessageRouter.requestStream', () => {
  const request = (to: string, payload: unknown) =>
    createMessage({ from: 'api', to, type: 'request', payload: payload as never });

  async function collect(frames: AsyncIterable<StreamedReply>): Promise<StreamedReply[]> {
    const all: StreamedReply[] = [];
    for await (const frame of frames) all.push(frame);
    return all;
  }

  it('streams through the embedded Lambda endpoint with a real LambdaClient: chunks, then the response', async () => {
    const message = request('streamer', { count: 4 });
    const reply = await runtime.router.requestStream(message);
    expect(reply).toMatchObject({ agentId: 'streamer', messageId: message.messageId });
    const frames = await collect(reply.frames);
    expect(frames.slice(0, 4)).toEqual(
      [0, 1, 2, 3].map((seq) => ({ chunk: { seq, text: `token-${seq} ` } })),
    );
    const last = frames[4];
    expect(last && 'response' in last && last.response).toMatchObject({
      correlationId: message.messageId,
      payload: { count: 4 },
    });
    expect(frames).toHaveLength(5);
  });

  it('ends quietly when its caller aborts, and the invocation ends without a crash', async () => {
    const caller = new AbortController();
    const reply = await runtime.router.requestStream(
      request('streamer', { tag: 'aborted', count: 1000, pauseMs: 1 }),
      { signal: caller.signal },
    );
    let chunks = 0;
    for await (const frame of reply.frames) {
      if ('chunk' in frame) chunks++;
      if (chunks === 3) caller.abort();
    }
    // The iteration stopped at once: no chunk after the abort reached the caller.
    expect(chunks).toBe(3);
    // And the agent's handler was stopped, not run on to its 1000th chunk for nobody.
    await until(() => progress.get('aborted')?.ended === true, 'the aborted handler to end');
    expect(progress.get('aborted')?.produced).toBeLessThan(1000);
    await until(
      () => runtime.slots.figures('streamer').inFlight === 0,
      'the aborted invocation to end',
    );
  });

  it('gives up a streamed request still waiting for the agent’s slot when its caller leaves: it never runs', async () => {
    // Neither request has opened yet (resolved) when the caller leaves: the embedded endpoint
    // answers InvokeWithResponseStream with its first write, and neither agent has written.
    const holder = runtime.router.requestStream(request('single', { tag: 'holder' }));
    await until(() => singleRuns.includes('holder'), 'the holder to run');
    const leaving = new AbortController();
    const waiter = runtime.router.requestStream(request('single', { tag: 'waiter' }), {
      signal: leaving.signal,
    });
    await until(() => runtime.slots.figures('single').waiting === 1, 'the waiter to wait');
    leaving.abort();
    await expect(waiter).rejects.toMatchObject({ name: 'AbortError' });
    await until(
      () => runtime.slots.figures('single').waiting === 0,
      'the waiter to be given up',
      5_000,
    );
    open('holder');
    const frames = await collect((await holder).frames);
    expect(frames.map((f) => ('chunk' in f ? 'chunk' : 'response'))).toEqual(['chunk', 'response']);
    await until(() => runtime.slots.figures('single').inFlight === 0, 'the holder to end');
    expect(singleRuns).toEqual(['holder']);
  });

  it('streams from a function deployed without response streaming: its whole answer as one response', async () => {
    // A Lambda function with no streaming handler answers InvokeWithResponseStream with its whole
    // result in one PayloadChunk, as Lambda does: one plain envelope, not frames.
    const lambda = await startLambdaServer();
    try {
      lambda.register('whole', async (event) => {
        const message = event as Envelope;
        if ((message.payload as { fail?: boolean }).fail === true)
          throw new FatalAgentError('no answer for that');
        return createResponse(message, 'whole', { answered: message.payload });
      });
      await runtime.registry.register({
        agentId: 'whole',
        agentType: 'echo',
        description: 'a Lambda function deployed without response streaming',
        capabilities: [{ name: 'whole-answers', version: '1.0.0' }],
        endpoint: { lambdaArn: `arn:aws:lambda:${LOCAL_REGION}:000000000000:function:whole` },
      });
      await runtime.registry.heartbeat('whole');
      const router = new MessageRouter({
        registry: runtime.registry,
        eventBusName: 'mobius-bus',
        lambda: new LambdaClient({
          endpoint: lambda.endpoint,
          region: LOCAL_REGION,
          credentials: LOCAL_CREDENTIALS,
        }),
      });
      const message = request('whole', { q: 1 });
      const frames = await collect((await router.requestStream(message)).frames);
      expect(frames).toEqual([
        {
          response: expect.objectContaining({
            correlationId: message.messageId,
            payload: { answered: { q: 1 } },
          }),
        },
      ]);
      // Its failure is the InvokeComplete error Lambda reports: an AgentFailedError.
      const failing = await router.requestStream(request('whole', { fail: true }));
      const failure = await collect(failing.frames).catch((error: unknown) => error);
      expect(failure).toBeInstanceOf(AgentFailedError);
      expect(failure).toMatchObject({
        details: { agentId: 'whole', errorType: 'FatalAgentError' },
      });
    } finally {
      await lambda.stop();
    }
  });

  it('answers through Invoke, whole, when the endpoint does not implement InvokeWithResponseStream (as LocalStack answers: 501)', async () => {
    const lambdaEndpoint = process.env.AWS_ENDPOINT_URL_LAMBDA as string;
    const proxy = await withoutResponseStreaming(lambdaEndpoint);
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => undefined);
    try {
      const router = new MessageRouter({
        registry: runtime.registry,
        eventBusName: 'mobius-bus',
        lambda: new LambdaClient({
          endpoint: proxy.url,
          region: LOCAL_REGION,
          credentials: LOCAL_CREDENTIALS,
        }),
      });
      for (const count of [3, 2]) {
        const message = request('streamer', { count, returnNothing: true });
        const frames = await collect((await router.requestStream(message)).frames);
        // The plain function's answer: its final output, the chunks' text joined.
        expect(frames).toHaveLength(1);
        const [only] = frames;
        expect(only && 'response' in only && only.response.payload).toBe(
          Array.from({ length: count }, (_, i) => `token-${i} `).join(''),
        );
      }
      // Said once, not on every request: the second went straight to Invoke.
      expect(warn).toHaveBeenCalledTimes(1);
      expect(String(warn.mock.calls[0]?.[0])).toContain('InvokeWithResponseStream');
      expect(proxy.streamingCalls()).toBe(1);
    } finally {
      warn.mockRestore();
      await proxy.stop();
    }
  });
});

/**
 * A Lambda endpoint without InvokeWithResponseStream: answers it as LocalStack 2026.3 does (501,
 * InternalFailure, "not currently supported"), and passes everything else to `target`.
 */
async function withoutResponseStreaming(target: string) {
  let streamingCalls = 0;
  const server: Server = createServer((incoming, outgoing) => {
    if (incoming.url?.includes('/response-streaming-invocations')) {
      streamingCalls++;
      incoming.resume();
      outgoing.writeHead(501, {
        'content-type': 'application/json',
        'x-amzn-errortype': 'InternalFailure',
      });
      outgoing.end(
        JSON.stringify({
          __type: 'InternalFailure',
          message:
            'Sorry, the InvokeWithResponseStream operation on the lambda service is not currently supported by LocalStack.',
        }),
      );
      return;
    }
    const forwarded = httpRequest(
      `${target}${incoming.url}`,
      { method: incoming.method, headers: incoming.headers },
      (answer) => {
        outgoing.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(outgoing);
      },
    );
    forwarded.on('error', () => outgoing.destroy());
    incoming.pipe(forwarded);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    streamingCalls: () => streamingCalls,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

describe('the embedded Lambda endpoint’s InvokeWithResponseStream', () => {
  it('delivers everything a function wrote before it failed, then the error', async () => {
    const lambda = await startLambdaServer();
    try {
      const pieces = 64;
      const size = 1024;
      lambda.register(
        'writes-then-fails',
        async () => null,
        async (_event, responseStream) => {
          // Four times the Writable's buffer, queued without waiting, then the failure.
          for (let i = 0; i < pieces; i++) responseStream.write(`${i}`.padEnd(size, '.'));
          throw new Error('failed after writing');
        },
      );
      const client = new LambdaClient({
        endpoint: lambda.endpoint,
        region: LOCAL_REGION,
        credentials: LOCAL_CREDENTIALS,
      });
      const answer = await client.send(
        new InvokeWithResponseStreamCommand({
          FunctionName: 'writes-then-fails',
          Payload: new TextEncoder().encode('{}'),
        }),
      );
      let text = '';
      let complete: InvokeWithResponseStreamCompleteEvent | undefined;
      for await (const event of answer.EventStream ?? []) {
        if (event.PayloadChunk?.Payload !== undefined)
          text += Buffer.from(event.PayloadChunk.Payload).toString('utf8');
        else if (event.InvokeComplete !== undefined) complete = event.InvokeComplete;
      }
      expect(text).toBe(
        Array.from({ length: pieces }, (_, i) => `${i}`.padEnd(size, '.')).join(''),
      );
      expect(complete).toMatchObject({ ErrorCode: 'Error', ErrorDetails: 'failed after writing' });
      client.destroy();
    } finally {
      await lambda.stop();
    }
  });
});
