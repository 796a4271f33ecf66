import { setTimeout as sleep } from 'node:timers/promises';
import type { APIGatewayProxyResult } from 'aws-lambda';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createApi } from '../../functions/api/app.ts';
import type { ApiDependencies } from '../../functions/api/dependencies.ts';
import { type ApiResult, abortableStream } from '../../functions/api/http.ts';
import {
  type ApiHandler,
  STREAM_END_MARGIN_MS,
  streamingApi,
} from '../../functions/api/stream-entry.ts';
import {
  HTTP_INTEGRATION_CONTENT_TYPE,
  type ResponseStream,
} from '../../functions/core/aws/lambda-streaming.ts';
import { formatSse, SSE_HEADERS } from '../../functions/core/streaming/sse.ts';
import { lambdaContext } from '../../functions/embedded/lambda-context.ts';
import { gatewayEvent } from '../support/api-json.ts';
import { CollectingStream, integrationResponse } from '../support/response-stream.ts';

/**
 * The API's Lambda entry behind API Gateway's STREAM transfer mode: what it writes to Lambda's
 * response stream must be the HTTP integration format API Gateway reads — a JSON prelude with the
 * status and headers, eight NUL bytes, the body — for buffered answers, streamed ones (SSE) and
 * errors alike.
 */

/**
 * The stream Lambda's Node.js runtime hands a streaming handler: `HttpResponseStream.from` only
 * installs `_onBeforeFirstWrite`, and the runtime calls it just before the first write — so a
 * handler that never writes never sends its prelude.
 */
class RuntimeResponseStream extends CollectingStream {
  _onBeforeFirstWrite: ((write: (chunk: unknown) => void) => void) | undefined;
  #written = false;

  override write(chunk: unknown, ...rest: never[]): boolean {
    if (!this.#written && this._onBeforeFirstWrite !== undefined)
      this._onBeforeFirstWrite((piece) => super.write(piece));
    this.#written = true;
    return super.write(chunk, ...rest);
  }
}

/** The runtime's marker (aws-lambda-nodejs-runtime-interface-client, UserFunctionLoader). */
const HANDLER_STREAMING = Symbol.for('aws.lambda.runtime.handler.streaming');

/** The `awslambda` global of Lambda's Node.js runtime, as it behaves. */
const runtimeGlobal = {
  streamifyResponse(handler: object) {
    Object.assign(handler, { [HANDLER_STREAMING]: 'response' });
    return handler;
  },
  HttpResponseStream: {
    from(stream: RuntimeResponseStream, prelude: object) {
      stream.setContentType(HTTP_INTEGRATION_CONTENT_TYPE);
      stream._onBeforeFirstWrite = (write) => {
        write(JSON.stringify(prelude));
        write(new Uint8Array(8));
      };
      return stream;
    },
  },
};

/**
 * Outside Lambda the global is absent, or partial: Powertools' invoke store (@aws/lambda-invoke-store)
 * puts an `awslambda` object holding only its store on globalThis. Each test says which runtime it
 * is in; the store's object is put back after it.
 */
const host = globalThis as { awslambda?: unknown };
const saved = host.awslambda;
beforeEach(() => {
  delete host.awslambda;
});
afterEach(() => {
  host.awslambda = saved;
});

const event = (method: string, path: string) => gatewayEvent(method, path);

const answering =
  (result: ApiResult): ApiHandler =>
  async () =>
    result;

async function run(handler: ApiHandler, stream: ResponseStream, request = event('GET', '/x')) {
  await streamingApi(handler)(request, stream, lambdaContext('mobius-api'));
}

/** Whether `promise` settles within `ms` (bounds a wait that would otherwise hang the test). */
async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  const settled = promise.then(
    () => true as const,
    () => true as const,
  );
  try {
    return await Promise.race([settled, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** Errors thrown out of the test's reach (an 'error' event nobody listened to), while listening. */
function uncaughtErrors(): { errors: unknown[]; stop: () => void } {
  const errors: unknown[] = [];
  const record = (error: unknown) => void errors.push(error);
  process.on('uncaughtException', record);
  return { errors, stop: () => void process.off('uncaughtException', record) };
}

/**
 * A route's stream that says one thing, then waits; stopping it (`return()`) settles only once
 * `work` has (as POST /coordinations with SSE waits for the run its reader left).
 */
function stoppingAfter(work: Promise<unknown>, settled: () => void): AsyncIterable<string> {
  return {
    [Symbol.asyncIterator]() {
      let calls = 0;
      return {
        next: async () => {
          calls += 1;
          if (calls === 1)
            return { done: false, value: formatSse({ event: 'step.started', data: {} }) };
          return new Promise<IteratorResult<string>>(() => undefined);
        },
        return: async () => {
          await work;
          settled();
          return { done: true, value: undefined };
        },
      };
    },
  };
}

describe('the API’s response-streaming entry', () => {
  it('writes a buffered answer as the prelude, eight NUL bytes and the body', async () => {
    const stream = new CollectingStream();
    await run(
      answering({
        statusCode: 201,
        headers: { 'content-type': 'application/json', 'x-count': 3 },
        multiValueHeaders: { 'set-cookie': ['a=1', 'b=2'] },
        body: '{"created":true}',
      } as APIGatewayProxyResult),
      stream,
    );
    expect(stream.contentType).toBe(HTTP_INTEGRATION_CONTENT_TYPE);
    const { prelude, body } = integrationResponse(stream.bytes);
    expect(prelude).toEqual({
      statusCode: 201,
      headers: { 'content-type': 'application/json', 'x-count': '3' },
      multiValueHeaders: { 'set-cookie': ['a=1', 'b=2'] },
    });
    expect(body.toString('utf8')).toBe('{"created":true}');
    expect(stream.writableFinished).toBe(true);
  });

  it('decodes a base64 body to its bytes', async () => {
    const stream = new CollectingStream();
    const bytes = Buffer.from([0, 1, 2, 250, 255]);
    await run(
      answering({ statusCode: 200, body: bytes.toString('base64'), isBase64Encoded: true }),
      stream,
    );
    const { prelude, body } = integrationResponse(stream.bytes);
    expect(prelude).toEqual({ statusCode: 200 });
    expect(body).toEqual(bytes);
  });

  it('answers an error route with its status in the prelude and the API’s error body', async () => {
    const stream = new CollectingStream();
    // The real router and error mapper: no route matches, so no dependency is touched.
    const api = createApi({} as ApiDependencies);
    await run(api, stream, event('GET', '/no/such/route'));
    const { prelude, body } = integrationResponse(stream.bytes);
    expect(prelude).toMatchObject({
      statusCode: 404,
      headers: { 'content-type': 'application/json' },
    });
    expect(JSON.parse(body.toString('utf8'))).toMatchObject({
      error: { code: 'NOT_FOUND', message: expect.stringContaining('/no/such/route') },
    });
  });

  it('streams SSE piece by piece, in order, after the prelude', async () => {
    const stream = new CollectingStream();
    const events = [1, 2, 3].map((seq) =>
      formatSse({ event: 'chunk', id: seq, data: { seq, text: `word${seq} ` } }),
    );
    await run(
      answering({
        statusCode: 200,
        headers: SSE_HEADERS,
        stream: (async function* () {
          for (const piece of events) {
            await sleep(2);
            yield piece;
          }
        })(),
      }),
      stream,
    );
    const { prelude, body } = integrationResponse(stream.bytes);
    expect(prelude).toEqual({ statusCode: 200, headers: { ...SSE_HEADERS } });
    expect(body.toString('utf8')).toBe(events.join(''));
    // Each event went out as a write of its own, in order: nothing was held back to the end.
    const pieces = stream.writes.map((w) => w.toString('utf8'));
    expect(pieces.slice(-3)).toEqual(events);
    expect(stream.writableFinished).toBe(true);
  });

  it('pulls the next piece only once the stream took the previous one (back-pressure)', async () => {
    const stream = new CollectingStream({ highWaterMark: 1, writeDelayMs: 5 });
    const seenAtPull: number[] = [];
    await run(
      answering({
        statusCode: 200,
        headers: SSE_HEADERS,
        stream: (async function* () {
          for (let i = 0; i < 5; i++) {
            seenAtPull.push(stream.writes.filter((w) => w.toString().startsWith('piece')).length);
            yield `piece${i}\n`;
          }
        })(),
      }),
      stream,
    );
    // When piece i is pulled, pieces 0 … i-1 have all reached the stream's sink.
    expect(seenAtPull).toEqual([0, 1, 2, 3, 4]);
  });

  it('stops the route’s stream when the reader goes away, and ends quietly', async () => {
    const stream = new CollectingStream();
    let stopped = false;
    let produced = 0;
    const entry = streamingApi(
      answering({
        statusCode: 200,
        headers: SSE_HEADERS,
        // A route that would follow a coordination forever: only its reader leaving ends it.
        stream: abortableStream(async function* (signal) {
          try {
            while (!signal.aborted) {
              produced += 1;
              yield `: piece ${produced}\n\n`;
              await sleep(5, undefined, { signal }).catch(() => undefined);
            }
          } finally {
            stopped = true;
          }
        }),
      }),
    );
    const done = entry(event('GET', '/coordinations/c/events'), stream, lambdaContext('api'));
    while (produced < 2) await sleep(1);
    stream.destroy();
    await expect(done).resolves.toBeUndefined();
    expect(stopped).toBe(true);
    const count = produced;
    await sleep(20);
    expect(produced).toBe(count);
  });

  it('a reader reset while a streamed answer waits (the stream errors) stops the route and settles, throwing nothing', async () => {
    const escaped = uncaughtErrors();
    try {
      const stream = new CollectingStream();
      let stopped = false;
      let produced = 0;
      const done = streamingApi(
        answering({
          statusCode: 200,
          headers: SSE_HEADERS,
          // A followed coordination with nothing new to say: only its reader leaving ends it.
          stream: abortableStream(async function* (signal) {
            try {
              produced += 1;
              yield formatSse({ event: 'step.started', id: 1, data: { id: 1 } });
              await sleep(60_000, undefined, { signal }).catch(() => undefined);
            } finally {
              stopped = true;
            }
          }),
        }),
      )(event('GET', '/coordinations/c/events'), stream, lambdaContext('api'));
      while (produced < 1) await sleep(1);
      await sleep(5);
      // What Lambda's response stream does when API Gateway's connection is reset.
      stream.destroy(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }));
      expect(await settlesWithin(done, 2_000)).toBe(true);
      await expect(done).resolves.toBeUndefined();
      expect(stopped).toBe(true);
      expect(escaped.errors).toEqual([]);
    } finally {
      escaped.stop();
    }
  });

  it('a reader reset while the route still works on a buffered answer throws nothing', async () => {
    const escaped = uncaughtErrors();
    try {
      const stream = new CollectingStream();
      const done = streamingApi(async () => {
        stream.destroy(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }));
        await sleep(5);
        return { statusCode: 200, body: '{"late":true}' };
      })(event('GET', '/agents'), stream, lambdaContext('api'));
      expect(await settlesWithin(done, 2_000)).toBe(true);
      await expect(done).resolves.toBeUndefined();
      expect(escaped.errors).toEqual([]);
    } finally {
      escaped.stop();
    }
  });

  it('once the reader has gone, waits for what the route’s stop waits for (a run it started), then runs the after-response hook', async () => {
    const stream = new CollectingStream();
    let finishWork: () => void = () => undefined;
    const work = new Promise<void>((resolve) => {
      finishWork = resolve;
    });
    const order: string[] = [];
    const done = streamingApi(
      answering({
        statusCode: 200,
        headers: SSE_HEADERS,
        stream: stoppingAfter(work, () => order.push('work settled')),
      }),
      { afterResponse: () => void order.push('after') },
    )(event('POST', '/coordinations'), stream, lambdaContext('api'));
    while (stream.writes.length === 0) await sleep(1);
    stream.destroy();
    expect(await settlesWithin(done, 50)).toBe(false);
    finishWork();
    expect(await settlesWithin(done, 2_000)).toBe(true);
    await expect(done).resolves.toBeUndefined();
    expect(order).toEqual(['work settled', 'after']);
  });

  it('waits for the route’s stop no later than the stream’s deadline', async () => {
    const stream = new CollectingStream();
    const context = lambdaContext('api', { timeoutMs: STREAM_END_MARGIN_MS + 40 });
    const done = streamingApi(
      answering({
        statusCode: 200,
        headers: SSE_HEADERS,
        // Work that outlasts the function: the entry must still return before Lambda stops it.
        stream: stoppingAfter(new Promise(() => undefined), () => undefined),
      }),
    )(event('POST', '/coordinations'), stream, context);
    while (stream.writes.length === 0) await sleep(1);
    stream.destroy();
    expect(await settlesWithin(done, 2_000)).toBe(true);
    expect(context.getRemainingTimeInMillis()).toBeGreaterThan(STREAM_END_MARGIN_MS - 1_000);
  });

  it('ends a stream cleanly before the function’s timeout, stopping the route, so the client can resume', async () => {
    const stream = new CollectingStream();
    let stopped = false;
    const entry = streamingApi(
      answering({
        statusCode: 200,
        headers: SSE_HEADERS,
        // A watched coordination that outlasts the function: one event, then a long silence.
        stream: abortableStream(async function* (signal) {
          try {
            yield formatSse({ event: 'step.started', id: 1, data: { id: 1 } });
            await sleep(60_000, undefined, { signal }).catch(() => undefined);
          } finally {
            stopped = true;
          }
        }),
      }),
    );
    // 40 ms left before the margin: the stream must end then, not when Lambda would stop it.
    const context = lambdaContext('api', { timeoutMs: STREAM_END_MARGIN_MS + 40 });
    await entry(event('GET', '/coordinations/c/events'), stream, context);
    expect(stream.writableFinished).toBe(true);
    expect(context.getRemainingTimeInMillis()).toBeGreaterThan(STREAM_END_MARGIN_MS - 1_000);
    const { body } = integrationResponse(stream.bytes);
    expect(body.toString('utf8')).toBe(
      formatSse({ event: 'step.started', id: 1, data: { id: 1 } }),
    );
    await sleep(5);
    expect(stopped).toBe(true);
  });

  it('ends at the deadline even when the route ignores being stopped', async () => {
    const stream = new CollectingStream();
    const context = lambdaContext('api', { timeoutMs: STREAM_END_MARGIN_MS + 20 });
    await streamingApi(
      answering({
        statusCode: 200,
        headers: SSE_HEADERS,
        // Never yields, never looks at a signal: only the deadline ends this answer.
        stream: (async function* () {
          await new Promise(() => undefined);
          yield 'never';
        })(),
      }),
    )(event('GET', '/x'), stream, context);
    expect(stream.writableFinished).toBe(true);
    expect(integrationResponse(stream.bytes).prelude).toMatchObject({ statusCode: 200 });
  });

  it('runs the after-response hook once the answer is written, streamed or not', async () => {
    const order: string[] = [];
    const stream = new CollectingStream();
    await streamingApi(
      answering({
        statusCode: 200,
        headers: SSE_HEADERS,
        stream: (async function* () {
          order.push('piece');
          yield 'data: 1\n\n';
        })(),
      }),
      { afterResponse: () => void order.push('after') },
    )(event('GET', '/x'), stream, lambdaContext('api'));
    expect(order).toEqual(['piece', 'after']);
  });
});

describe('the entry in Lambda’s Node.js runtime (its awslambda global)', () => {
  it('is marked as a response-streaming handler by the runtime’s streamifyResponse', () => {
    host.awslambda = runtimeGlobal;
    const entry = streamingApi(answering({ statusCode: 204, body: '' }));
    expect((entry as unknown as Record<symbol, unknown>)[HANDLER_STREAMING]).toBe('response');
  });

  it('is not marked outside Lambda (the embedded runtime calls it as it is)', () => {
    const entry = streamingApi(answering({ statusCode: 204, body: '' }));
    expect((entry as unknown as Record<symbol, unknown>)[HANDLER_STREAMING]).toBeUndefined();
  });

  it('has the runtime write the prelude, even for an empty body', async () => {
    host.awslambda = runtimeGlobal;
    const stream = new RuntimeResponseStream();
    await run(answering({ statusCode: 204, headers: { 'x-request': 'r1' }, body: '' }), stream);
    expect(stream.contentType).toBe(HTTP_INTEGRATION_CONTENT_TYPE);
    const { prelude, body } = integrationResponse(stream.bytes);
    expect(prelude).toEqual({ statusCode: 204, headers: { 'x-request': 'r1' } });
    expect(body.length).toBe(0);
  });

  it('sends a stream’s status and headers before its first event', async () => {
    host.awslambda = runtimeGlobal;
    const stream = new RuntimeResponseStream();
    let preludeBeforeFirstEvent = false;
    await run(
      answering({
        statusCode: 200,
        headers: SSE_HEADERS,
        stream: (async function* () {
          preludeBeforeFirstEvent = stream.bytes.indexOf(Buffer.alloc(8)) > 0;
          yield formatSse({ event: 'response', data: { ok: true } });
        })(),
      }),
      stream,
    );
    expect(preludeBeforeFirstEvent).toBe(true);
    const { prelude, body } = integrationResponse(stream.bytes);
    expect(prelude).toEqual({ statusCode: 200, headers: { ...SSE_HEADERS } });
    expect(body.toString('utf8')).toBe(formatSse({ event: 'response', data: { ok: true } }));
  });
});
