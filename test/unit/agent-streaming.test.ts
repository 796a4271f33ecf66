import { Writable } from 'node:stream';
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { StreamingHandler } from '../../functions/core/aws/lambda-streaming.ts';
import {
  FatalAgentError,
  RetryableAgentError,
} from '../../functions/core/messaging/agent-errors.ts';
import { createMessage, type Envelope } from '../../functions/core/messaging/envelope.ts';
import { type AgentHandler, defineAgent } from '../../functions/core/sdk/define-agent.ts';
import { AGENT_ENVIRONMENT } from '../../functions/core/sdk/environment.ts';
import { type AgentStreamFrame, readFrames } from '../../functions/core/streaming/frames.ts';
import { lambdaContext } from '../../functions/embedded/lambda-context.ts';

/**
 * Streaming agents as their callers see them: a caller that does not stream (plain Invoke, SQS)
 * gets the final output; the streaming entry (`handler.streaming`, Lambda response streaming)
 * writes the chunks as frames as they come, then the response or the error.
 */

function agent(handler: AgentHandler) {
  return defineAgent(
    {
      agentId: 'writer',
      agentType: 'worker',
      description: 'streams text',
      capabilities: [{ name: 'write', version: '1.0.0' }],
      handler,
    },
    { idempotency: false, events: false },
  );
}

const request = (payload: Envelope['payload'] = { topic: 'streams' }) =>
  createMessage({ from: 'api', to: 'writer', type: 'request', payload });

/** What a caller that does not stream gets: the response envelope's payload. */
async function answer(handler: AgentHandler, payload?: Envelope['payload']): Promise<unknown> {
  const response = (await agent(handler)(request(payload), lambdaContext('writer'))) as Envelope;
  return response.payload;
}

/** A reader of the response stream: keeps what it is given, at the pace `consume` sets. */
class Reader extends Writable {
  readonly pieces: Buffer[] = [];
  /** Frames (lines) this reader has taken so far. */
  frames = 0;
  readonly #consume: (done: () => void) => void;

  constructor(options: { highWaterMark?: number; consume?: (done: () => void) => void } = {}) {
    super(options.highWaterMark === undefined ? {} : { highWaterMark: options.highWaterMark });
    this.#consume = options.consume ?? ((done) => done());
  }

  override _write(piece: Buffer, _encoding: BufferEncoding, done: (error?: Error) => void): void {
    this.#consume(() => {
      this.pieces.push(piece);
      this.frames += piece.toString('utf8').split('\n').length - 1;
      done();
    });
  }

  async readFrames(): Promise<AgentStreamFrame[]> {
    const frames: AgentStreamFrame[] = [];
    const pieces = this.pieces;
    for await (const frame of readFrames(
      'writer',
      (async function* () {
        yield* pieces;
      })(),
    ))
      frames.push(frame);
    return frames;
  }
}

async function streamed(handler: AgentHandler, event: unknown = request(), reader = new Reader()) {
  await agent(handler).streaming(event, reader, lambdaContext('writer'));
  return { reader, frames: await reader.readFrames() };
}

afterEach(() => {
  vi.unstubAllEnvs();
  vi.restoreAllMocks();
});

describe('a streaming handler, for callers that do not stream', () => {
  it('gives the returned value when the generator returns one', async () => {
    expect(
      await answer(async function* () {
        yield 'draft ';
        yield 'text';
        return { summary: 'final' };
      }),
    ).toEqual({ summary: 'final' });
  });

  it('joins text chunks when the handler returns nothing', async () => {
    expect(
      await answer(async function* () {
        for (const word of ['Streams ', 'arrive ', 'in ', 'order.']) yield word;
      }),
    ).toBe('Streams arrive in order.');
  });

  it('lists the chunk values in order when not every chunk is text', async () => {
    expect(
      await answer(async function* () {
        yield { step: 1 };
        yield 'two';
        yield [3];
      }),
    ).toEqual([{ step: 1 }, 'two', [3]]);
  });

  it('takes a sync generator too, awaiting the promises it yields and returns', async () => {
    expect(
      await answer(function* () {
        yield Promise.resolve('a');
        yield 'b';
      }),
    ).toBe('ab');
    expect(
      await answer(function* () {
        yield 'ignored for the final output';
        return Promise.resolve(42);
      }),
    ).toBe(42);
  });

  it('folds what context.stream was given, awaited or not, in the order of the calls', async () => {
    expect(
      await answer(async (_message, context) => {
        await context.stream('one ');
        void context.stream('two ');
        void context.stream('three');
      }),
    ).toBe('one two three');
  });

  it('refuses a chunk that is not JSON with a FatalAgentError naming its seq, and closes the generator', async () => {
    let closed = false;
    const handler = agent(async function* () {
      try {
        yield 'fine';
        yield { count: 2n };
        yield 'never asked for';
      } finally {
        closed = true;
      }
    });
    const failure = handler(request(), lambdaContext('writer'));
    await expect(failure).rejects.toBeInstanceOf(FatalAgentError);
    await expect(failure).rejects.toThrow(
      'Agent writer streamed chunk 1, which cannot travel: Agent writer returned a value that is not JSON: a BigInt at output.count',
    );
    expect(closed).toBe(true);
  });

  it('fails the invocation with a chunk error even when the handler caught it', async () => {
    await expect(
      answer(async (_message, context) => {
        await context.stream({ big: 1n }).catch(() => undefined);
        return 'pretends all went well';
      }),
    ).rejects.toThrow('Agent writer streamed chunk 0, which cannot travel');
  });

  it('refuses a chunk streamed after the handler finished: logged, and thrown to its caller', async () => {
    vi.stubEnv('POWERTOOLS_DEV', 'true');
    vi.stubEnv('POWERTOOLS_LOG_LEVEL', 'ERROR');
    const printed: string[] = [];
    vi.spyOn(console, 'error').mockImplementation((line: unknown) => {
      printed.push(String(line));
    });
    let late: ((chunk: unknown) => Promise<void>) | undefined;
    expect(
      await answer(async (_message, context) => {
        await context.stream('on time');
        late = context.stream;
        return 'done';
      }),
    ).toBe('done');
    await expect(late?.('too late')).rejects.toThrow(
      'Agent writer streamed chunk 1 after its handler had finished, so nobody can receive it',
    );
    expect(printed.map((line) => JSON.parse(line))).toEqual([
      expect.objectContaining({
        level: 'ERROR',
        message: 'chunk streamed after the handler finished',
        seq: 1,
      }),
    ]);
  });

  it('bounds what it keeps for the fold: past 6 MB with no final value it fails saying to return one', async () => {
    const piece = 'x'.repeat(250_000);
    const flood = (returned: unknown) =>
      async function* () {
        for (let i = 0; i < 26; i++) yield piece; // 6.5 MB in all
        return returned;
      };
    await expect(answer(flood(undefined))).rejects.toThrow(
      /streamed more than 6291456 bytes and returned no final value.*return a final value/,
    );
    expect(await answer(flood({ pieces: 26 }))).toEqual({ pieces: 26 });
    expect(await answer(flood(null))).toBeNull();
  });
});

describe('the streaming entry (handler.streaming)', () => {
  it("is marked for response streaming by Lambda's runtime, and a plain function elsewhere", () => {
    // Lambda's Node.js runtime marks a streaming handler with this symbol (UserFunctionLoader).
    const streaming = Symbol.for('aws.lambda.runtime.handler.streaming');
    const host = globalThis as { awslambda?: Record<string, unknown> };
    const saved = host.awslambda;
    try {
      // Outside Lambda: at most Powertools' invoke store's partial global, no streamifyResponse.
      expect(Object.hasOwn(agent(() => 'x').streaming, streaming)).toBe(false);
      host.awslambda = {
        ...saved,
        streamifyResponse: (handler: object) => Object.assign(handler, { [streaming]: 'response' }),
        HttpResponseStream: { from: (stream: unknown) => stream },
      };
      expect(Object.getOwnPropertyDescriptor(agent(() => 'x').streaming, streaming)?.value).toBe(
        'response',
      );
    } finally {
      host.awslambda = saved;
    }
  });

  it("is the module's handler export itself in the agent's streaming function (MOBIUS_AGENT_ENTRY)", async () => {
    // Lambda's runtime finds `index.handler` by export name and streams when it is marked; the
    // CDK Agent's streaming function sets MOBIUS_AGENT_ENTRY=streaming, so it gets the entry.
    vi.stubEnv(AGENT_ENVIRONMENT.entry, 'streaming');
    const entry = agent(async function* () {
      yield 'a';
      return 'done';
    });
    expect(entry.agentId).toBe('writer');
    expect(entry).toBe(entry.streaming);
    const reader = new Reader();
    await (entry as unknown as StreamingHandler)(request(), reader, lambdaContext('writer'));
    expect(await reader.readFrames()).toMatchObject([
      { chunk: { seq: 0, text: 'a' } },
      { response: { payload: 'done' } },
    ]);
    vi.unstubAllEnvs();
    expect(agent(() => 'x')).not.toBe(agent(() => 'x').streaming);
  });

  it('writes each chunk as a frame in order, then the response envelope, then ends', async () => {
    const req = request();
    const { reader, frames } = await streamed(async function* (message) {
      yield `about ${(message.input as { topic: string }).topic}: `;
      yield { progress: 0.5 };
      yield 'done';
      return { words: 3 };
    }, req);
    expect(frames).toEqual([
      { chunk: { seq: 0, text: 'about streams: ' } },
      { chunk: { seq: 1, data: { progress: 0.5 } } },
      { chunk: { seq: 2, text: 'done' } },
      {
        response: expect.objectContaining({
          type: 'response',
          from: 'writer',
          to: 'api',
          correlationId: req.messageId,
          payload: { words: 3 },
        }),
      },
    ]);
    expect(reader.writableEnded).toBe(true);
  });

  it('streams what context.stream is given, and the fold is the response payload', async () => {
    const { frames } = await streamed(async (_message, context) => {
      await context.stream('Hel');
      await context.stream('lo');
    });
    expect(
      frames.map((f) => ('chunk' in f ? f.chunk : 'response' in f ? f.response.payload : f)),
    ).toEqual([{ seq: 0, text: 'Hel' }, { seq: 1, text: 'lo' }, 'Hello']);
  });

  it('ends with an error frame after the chunks already streamed when the handler fails mid-stream', async () => {
    const { reader, frames } = await streamed(async function* () {
      yield 'first';
      yield 'second';
      throw new RetryableAgentError('the model is overloaded');
    });
    expect(frames).toEqual([
      { chunk: { seq: 0, text: 'first' } },
      { chunk: { seq: 1, text: 'second' } },
      { error: { errorType: 'RetryableAgentError', errorMessage: 'the model is overloaded' } },
    ]);
    expect(reader.writableEnded).toBe(true);
  });

  it('answers anything but a request with an error frame', async () => {
    let ran = false;
    const handler = async () => {
      ran = true;
    };
    const task = {
      kind: 'mobius.task',
      coordinationId: 'c1',
      stepId: 's1',
      agentId: 'writer',
      pattern: 'sequential',
      input: {},
    };
    const event = createMessage({
      from: 'a',
      to: 'writer',
      type: 'event',
      eventType: 'draft.written',
      payload: {},
    });
    for (const input of [task, event, { hello: 'world' }]) {
      const { frames } = await streamed(handler, input);
      expect(frames).toEqual([
        {
          error: {
            errorType: 'FatalAgentError',
            errorMessage: expect.stringContaining(
              'Agent writer: the streaming entry takes requests only',
            ),
          },
        },
      ]);
    }
    expect(ran).toBe(false);
  });

  it('delivers 10 000 chunks with none lost, in order', async () => {
    const count = 10_000;
    const { frames } = await streamed(async function* () {
      for (let i = 0; i < count; i++) yield `${i} `;
    });
    expect(frames).toHaveLength(count + 1);
    const seqs = frames.slice(0, count).map((f) => ('chunk' in f ? f.chunk.seq : -1));
    expect(seqs).toEqual(Array.from({ length: count }, (_, i) => i));
    const texts = frames
      .slice(0, count)
      .map((f) => ('chunk' in f && 'text' in f.chunk ? f.chunk.text : ''));
    expect(texts.every((text, i) => text === `${i} `)).toBe(true);
    const last = frames[count];
    expect(last && 'response' in last ? last.response.payload : last).toBe(texts.join(''));
  });

  it('holds a handler that streams faster than its reader reads (back-pressure), with bounded buffering', async () => {
    const highWaterMark = 64;
    const reader = new Reader({ highWaterMark, consume: (done) => setImmediate(done) });
    let produced = 0;
    let aheadPeak = 0;
    let bufferedPeak = 0;
    const count = 500;
    const { frames } = await streamed(
      async function* () {
        for (let i = 0; i < count; i++) {
          // How far the handler got ahead of what the reader took, before each new chunk.
          aheadPeak = Math.max(aheadPeak, produced - reader.frames);
          bufferedPeak = Math.max(bufferedPeak, reader.writableLength);
          produced++;
          yield `word${i} `;
        }
      },
      request(),
      reader,
    );
    expect(frames).toHaveLength(count + 1);
    // A frame here is ≈ 40 bytes: the stream holds about two before it says stop. Without
    // back-pressure the generator would run all 500 chunks ahead of the slow reader.
    expect(aheadPeak).toBeLessThanOrEqual(4);
    expect(bufferedPeak).toBeLessThanOrEqual(highWaterMark + 64);
  });

  // The reader leaves while the writer waits for it to drain, or while the handler is between two
  // chunks and nothing waits on the stream (its error event then has only the SDK's listener).
  it.each(['while a write waits for it', 'between two chunks'] as const)(
    'stops a generator handler at its next chunk when the reader goes away %s: its finally runs, no crash, no unhandled rejection',
    async (when) => {
      const unhandled: unknown[] = [];
      const onUnhandled = (reason: unknown) => unhandled.push(reason);
      process.on('unhandledRejection', onUnhandled);
      try {
        let taken = 0;
        const reader = new Reader({
          highWaterMark: 64,
          consume: (done) => {
            taken++;
            if (when === 'while a write waits for it' && taken === 5)
              reader.destroy(new Error('client disconnected'));
            else setImmediate(done);
          },
        });
        let yielded = 0;
        let finished = false;
        let cleanedUp = false;
        const handler = agent(async function* () {
          try {
            for (let i = 0; i < 200; i++) {
              if (when === 'between two chunks' && i === 5) {
                await new Promise((resolve) => setImmediate(resolve));
                reader.destroy(new Error('client disconnected'));
                await new Promise((resolve) => setImmediate(resolve));
              }
              yield `w${i} `;
              yielded++;
            }
            finished = true;
            return 'the end';
          } finally {
            cleanedUp = true;
          }
        });
        await expect(
          handler.streaming(request(), reader, lambdaContext('writer')),
        ).resolves.toBeUndefined();
        // Stopped a few chunks after the reader left (those the stream's buffer held), not run on
        // to its 200th; its finally ran (the SDK closed the generator).
        expect(finished).toBe(false);
        expect(yielded).toBeLessThan(10);
        expect(cleanedUp).toBe(true);
        expect(reader.destroyed).toBe(true);
        expect(reader.frames).toBeLessThan(10);
        // Give a stray rejection its turn to surface before looking.
        await new Promise((resolve) => setImmediate(resolve));
        expect(unhandled).toEqual([]);
      } finally {
        process.off('unhandledRejection', onUnhandled);
      }
    },
  );

  it('fails the next context.stream once the reader has gone, which ends a handler that awaits it', async () => {
    const reader = new Reader();
    let streamed = 0;
    let failure: unknown;
    const handler = agent(async (_message, context) => {
      try {
        for (let i = 0; i < 200; i++) {
          if (i === 3) reader.destroy(new Error('client disconnected'));
          await context.stream(`w${i} `);
          streamed++;
        }
      } catch (error) {
        failure = error;
        throw error;
      }
      return 'ran to the end';
    });
    const metrics = vi.spyOn(Metrics.prototype, 'addMetric');
    const errors = vi.spyOn(Logger.prototype, 'error');
    await expect(
      handler.streaming(request(), reader, lambdaContext('writer')),
    ).resolves.toBeUndefined();
    expect(streamed).toBe(3);
    expect(failure).toMatchObject({
      name: 'ReaderGoneError',
      message: expect.stringContaining('the reader of the streamed answer went away'),
    });
    // A reader leaving is not the agent's failure: no error logged, no HandlerErrors counted.
    expect(metrics.mock.calls.map(([name]) => name)).not.toContain('HandlerErrors');
    expect(errors.mock.calls.map(([message]) => message)).not.toContain('agent handler failed');
  });
});
