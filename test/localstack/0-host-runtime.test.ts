import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { freePort, waitUntil } from '../../functions/embedded/free-port.ts';

/**
 * The host runtime LocalStack runs every function with (localstack/plugins/mobius_localstack/
 * runtime.mjs), against a stand-in for LocalStack's executor endpoint: it must resolve handlers
 * and run response-streaming ones as Lambda's Node.js runtime does, so the stack's streaming
 * functions (the API, agents' `handler.streaming`) behave in LocalStack as they will on AWS.
 */
const RUNTIME = join(
  import.meta.dirname,
  '..',
  '..',
  'localstack',
  'plugins',
  'mobius_localstack',
  'runtime.mjs',
);

/** A function's code: the handlers every test loads by `_HANDLER`. */
const CODE = `
const plain = async (event) => ({ echoed: event.n });
const streaming = awslambda.streamifyResponse(async (event, stream) => {
  stream.write({ chunk: { seq: 0, text: 'a' } });
  stream.write('\\n{"chunk":{"seq":1,"text":"b"}}\\n');
  stream.end('{"response":{"n":' + event.n + '}}\\n');
});
export const handler = Object.assign(plain, { streaming });
export const marked = streaming;
export const lib = { nested: streaming };
export const api = awslambda.streamifyResponse(async (event, stream) => {
  const out = awslambda.HttpResponseStream.from(stream, {
    statusCode: 201,
    headers: { 'content-type': 'text/event-stream' },
    cookies: ['a=1'],
  });
  out.write('');
  out.write('event: chunk\\ndata: 1\\n\\n');
  await new Promise((resolve) => setTimeout(resolve, 5));
  out.end('event: response\\ndata: {}\\n\\n');
});
export const binary = awslambda.streamifyResponse(async (event, stream) => {
  const out = awslambda.HttpResponseStream.from(stream, { statusCode: 200 });
  // As on Lambda, the prelude goes out before the first write(): end(chunk) alone would skip it.
  out.write(new Uint8Array([0, 255, 1]));
  out.end();
});
export const isMarked = async () => ({
  marked: streaming[Symbol.for('aws.lambda.runtime.handler.streaming')],
  plain: plain[Symbol.for('aws.lambda.runtime.handler.streaming')] ?? null,
});
`;

let code: string;
let endpoint: Server;
let endpointUrl: string;
const received: { path: string; body: Buffer }[] = [];
let running: ChildProcess | undefined;

beforeAll(async () => {
  code = mkdtempSync(join(tmpdir(), 'mobius-runtime-'));
  writeFileSync(join(code, 'index.mjs'), CODE);
  endpoint = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      received.push({ path: request.url ?? '', body: Buffer.concat(chunks) });
      response.writeHead(202).end();
    });
  });
  await new Promise<void>((resolve) => endpoint.listen(0, '127.0.0.1', resolve));
  endpointUrl = `http://127.0.0.1:${(endpoint.address() as AddressInfo).port}`;
});

afterEach(() => {
  running?.kill('SIGKILL');
  running = undefined;
  received.length = 0;
});

afterAll(async () => {
  await new Promise((resolve) => endpoint.close(resolve));
  rmSync(code, { recursive: true, force: true });
});

const reported = (prefix: string) => received.find((r) => r.path.startsWith(prefix));

/** Starts an environment for `handler`; resolves with what it reported at start (ready or error). */
async function start(handler: string): Promise<{ port: number; status: string }> {
  const port = await freePort();
  running = spawn(process.execPath, [RUNTIME], {
    env: {
      PATH: process.env.PATH ?? '',
      LOCALSTACK_RUNTIME_ENDPOINT: endpointUrl,
      LOCALSTACK_RUNTIME_ID: 'env-1',
      MOBIUS_RUNTIME_PORT: String(port),
      LAMBDA_TASK_ROOT: code,
      _HANDLER: handler,
      AWS_LAMBDA_FUNCTION_TIMEOUT: '5',
    },
    stdio: 'ignore',
  });
  await waitUntil(
    `the runtime to report its start (${handler})`,
    async () => {
      if (!reported('/status/env-1/')) throw new Error('not yet');
    },
    { timeoutMs: 10_000, intervalMs: 20 },
  );
  return { port, status: reported('/status/env-1/')?.path ?? '' };
}

/** Runs one invocation; resolves with what the runtime answered (response or error). */
async function invoke(port: number, event: unknown): Promise<{ path: string; body: Buffer }> {
  await fetch(`http://127.0.0.1:${port}/invoke`, {
    method: 'POST',
    body: JSON.stringify({ 'invoke-id': 'r-1', payload: JSON.stringify(event) }),
  });
  let answer: { path: string; body: Buffer } | undefined;
  await waitUntil(
    'the invocation to be answered',
    async () => {
      answer = received.find(
        (r) => r.path === '/invocations/r-1/response' || r.path === '/invocations/r-1/error',
      );
      if (answer === undefined) throw new Error('not yet');
    },
    { timeoutMs: 10_000, intervalMs: 20 },
  );
  return answer as { path: string; body: Buffer };
}

describe('the LocalStack host runtime', () => {
  it('resolves a handler path through objects, not functions, as Lambda’s runtime does', async () => {
    // Lambda's current runtime walks into objects only: a property of a function is not found.
    const refused = await start('index.handler.streaming');
    expect(refused.status).toBe('/status/env-1/error');
    running?.kill('SIGKILL');
    received.length = 0;
    const { port, status } = await start('index.lib.nested');
    expect(status).toBe('/status/env-1/ready');
    const answer = await invoke(port, { n: 7 });
    expect(answer.path).toBe('/invocations/r-1/response');
    // An agent's streaming entry: its NDJSON frames, as written (objects written as JSON).
    expect(answer.body.toString('utf8')).toBe(
      '{"chunk":{"seq":0,"text":"a"}}\n{"chunk":{"seq":1,"text":"b"}}\n{"response":{"n":7}}\n',
    );
  });

  it('still runs plain handlers, answering their result as JSON', async () => {
    const { port } = await start('index.handler');
    const answer = await invoke(port, { n: 3 });
    expect(JSON.parse(answer.body.toString('utf8'))).toEqual({ echoed: 3 });
  });

  it('gives functions the awslambda global: streamifyResponse marks with the runtime’s symbol', async () => {
    const { port } = await start('index.isMarked');
    const answer = await invoke(port, {});
    expect(JSON.parse(answer.body.toString('utf8'))).toEqual({ marked: 'response', plain: null });
  });

  it('answers a stream that starts with an HTTP prelude as the proxy result API Gateway would make of it', async () => {
    const { port } = await start('index.api');
    const answer = await invoke(port, {});
    expect(JSON.parse(answer.body.toString('utf8'))).toEqual({
      statusCode: 201,
      headers: { 'content-type': 'text/event-stream' },
      multiValueHeaders: { 'set-cookie': ['a=1'] },
      body: 'event: chunk\ndata: 1\n\nevent: response\ndata: {}\n\n',
      isBase64Encoded: false,
    });
  });

  it('carries a body that is not text base64-encoded', async () => {
    const { port } = await start('index.binary');
    const answer = await invoke(port, {});
    expect(JSON.parse(answer.body.toString('utf8'))).toMatchObject({
      statusCode: 200,
      body: Buffer.from([0, 255, 1]).toString('base64'),
      isBase64Encoded: true,
    });
  });

  it('fails the start of an environment whose handler path leads nowhere', async () => {
    const { status } = await start('index.handler.nothing.here');
    expect(status).toBe('/status/env-1/error');
    expect(
      JSON.parse(reported('/status/env-1/error')?.body.toString('utf8') ?? '{}'),
    ).toMatchObject({ errorType: 'Runtime.HandlerNotFound' });
  });
});
