import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '@aws-lambda-powertools/logger';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createA2aProxy } from '../../functions/a2a/proxy.ts';
import {
  A2aRemoteClient,
  type RemoteStreamEvent,
  type RemoteTask,
} from '../../functions/a2a/remote-client.ts';
import type { A2aEndpoint } from '../../functions/core/model/agent-card.ts';
import type { RemoteHostPolicy } from '../../functions/core/model/remote-hosts.ts';
import type { AgentRegistry } from '../../functions/core/registry/agent-registry.ts';
import { lambdaContext } from '../../functions/embedded/lambda-context.ts';
import { startRemoteAgent } from '../support/a2a-remote.ts';

/**
 * Mobius's client of remote A2A agents, and the proxy on it, against remotes that do what the A2A
 * JS SDK's server never does — a hand-written JSON-RPC server on 127.0.0.1, each path one remote:
 * a stream closed before its task ended, a task answered while still working, a stream that ends
 * before anything, a JSON-RPC error sent with an HTTP error status, a stream cut in the middle of
 * an event.
 */
let server: Server;
let base: string;
/** How many GetTask calls each path has answered. */
const getTasks = new Map<string, number>();
/** The CancelTask calls received: the path and the task id. */
const cancels: { path: string; id: unknown }[] = [];

const COMPLETED = (id: string, text: string) => ({
  id,
  status: { state: 'TASK_STATE_COMPLETED' },
  artifacts: [{ artifactId: 'out', name: 'output', parts: [{ text }] }],
});
const WORKING = (id: string) => ({ id, status: { state: 'TASK_STATE_WORKING' } });

type Answer =
  /** A JSON answer, `delayMs` after the call came when given. */
  | { readonly status?: number; readonly json: unknown; readonly delayMs?: number }
  /** No answer at all: the call is held open (until the client leaves). */
  | { readonly hold: true }
  /** Server-sent events; `open` keeps the stream open after them (until the client leaves). */
  | { readonly sse: readonly string[]; readonly open?: boolean };

interface Params {
  readonly id?: unknown;
  readonly configuration?: { readonly returnImmediately?: unknown };
}

/** What each remote answers to a JSON-RPC call: by path, method, params and the request's id. */
function answer(path: string, method: string, params: Params, id: unknown): Answer {
  const result = (value: unknown) => ({ json: { jsonrpc: '2.0', id, result: value } });
  const event = (value: unknown) =>
    `data: ${JSON.stringify({ jsonrpc: '2.0', id, result: value })}\n\n`;
  const gets = getTasks.get(path) ?? 0;
  if (method === 'GetTask') getTasks.set(path, gets + 1);
  if (method === 'CancelTask') {
    cancels.push({ path, id: params.id });
    const canceled = result({ id: params.id, status: { state: 'TASK_STATE_CANCELED' } });
    return path === '/slow-cancel' ? { ...canceled, delayMs: 1000 } : canceled;
  }
  switch (path) {
    case '/hang-poll':
      // Working, and working still, every time it is asked.
      if (method === 'GetTask') return result(WORKING('t-hang-poll'));
      return result({ task: WORKING('t-hang-poll') });
    case '/blocking':
      // As A2A 1.0 has it: SendMessage holds its answer until the task ends (here, never) unless
      // the caller asks for it at once; the task works on, whoever asks.
      if (method === 'GetTask') return result(WORKING('t-blocking'));
      if (params.configuration?.returnImmediately === true)
        return result({ task: WORKING('t-blocking') });
      return { hold: true };
    case '/slow-cancel':
      // Works on; a cancel is answered a second after it is asked for.
      if (method === 'GetTask') return result(WORKING('t-slow-cancel'));
      return result({ task: WORKING('t-slow-cancel') });
    case '/done-at-once':
      // Ignores returnImmediately: answers the ended task straight away.
      return result({ task: COMPLETED('t-done', 'done at once') });
    case '/hang-stream':
      // Says WORKING, then nothing more, the stream held open.
      return { sse: [event({ task: WORKING('t-hang-stream') })], open: true };
    case '/early-end':
      // The stream says WORKING and ends there; the task completes all the same.
      if (method === 'GetTask') return result(COMPLETED('t-early', 'finished after the stream'));
      return { sse: [event({ task: WORKING('t-early') })] };
    case '/json-working':
      // SendStreamingMessage answered in plain JSON with a task that has not ended.
      if (method === 'GetTask') return result(COMPLETED('t-json', 'finished without a stream'));
      return result({ task: WORKING('t-json') });
    case '/poll':
      // SendMessage answers WORKING; GetTask says WORKING once more, then COMPLETED.
      if (method === 'GetTask')
        return result(gets === 0 ? WORKING('t-poll') : COMPLETED('t-poll', 'polled to its end'));
      return result({ task: WORKING('t-poll') });
    case '/error-500':
      return {
        status: 500,
        json: { jsonrpc: '2.0', id, error: { code: -32602, message: 'message.parts is required' } },
      };
    case '/cut-event':
      // The last event is cut off: no blank line ends it. Its task then completes otherwise.
      if (method === 'GetTask') return result(COMPLETED('t-cut', 'the whole answer'));
      return {
        sse: [
          event({ task: WORKING('t-cut') }),
          `data: ${JSON.stringify({
            jsonrpc: '2.0',
            id,
            result: {
              artifactUpdate: { artifact: { artifactId: 'out', parts: [{ text: 'half' }] } },
            },
          })}\n`,
        ],
      };
    case '/empty-stream':
      return { sse: [] };
    default:
      return { status: 404, json: { message: 'no such remote' } };
  }
}

async function handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  const call = JSON.parse(Buffer.concat(chunks).toString('utf8')) as {
    id: unknown;
    method: string;
    params: Params;
  };
  const answered = answer(request.url ?? '/', call.method, call.params, call.id);
  if ('hold' in answered) return;
  if ('sse' in answered) {
    response.writeHead(200, { 'content-type': 'text/event-stream' });
    for (const text of answered.sse) response.write(text);
    if (answered.open !== true) response.end();
    return;
  }
  if (answered.delayMs !== undefined)
    await new Promise((resolve) => setTimeout(resolve, answered.delayMs));
  response
    .writeHead(answered.status ?? 200, { 'content-type': 'application/json' })
    .end(JSON.stringify(answered.json));
}

beforeAll(async () => {
  server = createServer((request, response) => void handle(request, response));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

const hosts: RemoteHostPolicy = {
  allowedHosts: ['127.0.0.1'],
  allowHttp: true,
  setting: 'the test setting',
};

/** The proxy, standing in for the remote at `path`, its card saying it streams (unless told). */
function proxyFor(path: string, streaming = true) {
  const endpoint: A2aEndpoint = {
    url: `${base}${path}`,
    cardUrl: `${base}/.well-known/agent-card.json`,
    streaming,
  };
  const registry = {
    get: async () => ({ card: { endpoint: { a2a: endpoint } } }),
  } as unknown as AgentRegistry;
  return createA2aProxy({ registry, client: new A2aRemoteClient(hosts), events: false });
}

/**
 * A coordination step for the remote (streamed, when its card says it streams: the proxy reports
 * its chunks), within `timeoutSeconds` when given.
 */
async function step(
  path: string,
  options: { streaming?: boolean; timeoutSeconds?: number } = {},
): Promise<unknown> {
  const task = {
    kind: 'mobius.task',
    coordinationId: randomUUID(),
    stepId: 'ask',
    agentId: 'remote',
    pattern: 'sequential',
    input: { text: 'hello' },
    ...(options.timeoutSeconds === undefined ? {} : { timeoutSeconds: options.timeoutSeconds }),
  };
  const proxy = proxyFor(path, options.streaming ?? true);
  const result = (await proxy.handler(task, lambdaContext('mobius-a2a-proxy'))) as {
    output: unknown;
  };
  return result.output;
}

async function failureOf(work: Promise<unknown>): Promise<Error> {
  try {
    await work;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected a failure');
}

const message = { parts: [{ text: 'hello' }] };

describe('a JSON-RPC error sent with an HTTP error status', () => {
  it('is judged by its code, not the status: -32602 in a 500 is a refusal, never retried', async () => {
    const client = new A2aRemoteClient(hosts);
    const blocking = await failureOf(
      client.send({ url: `${base}/error-500` }, message, AbortSignal.timeout(10_000)),
    );
    expect(blocking).toMatchObject({ name: 'RemoteRpcError', code: -32602 });
    const streamed = await failureOf(step('/error-500'));
    expect(streamed).toMatchObject({ name: 'FatalAgentError' });
    expect(streamed.message).toMatch(/answered JSON-RPC error -32602: message\.parts is required/);
  });

  it('is judged by its status when the body is no JSON-RPC error', async () => {
    const error = await failureOf(step('/nowhere'));
    expect(error).toMatchObject({ name: 'FatalAgentError' });
    expect(error.message).toMatch(/answered HTTP 404/);
  });
});

describe('a task that has not ended when its answer does', () => {
  it('is read with GetTask when its stream ends early, and its output is the task it then is', async () => {
    expect(await step('/early-end')).toBe('finished after the stream');
    expect(getTasks.get('/early-end')).toBe(1);
  });

  it('is read with GetTask when a stream is answered in plain JSON with a working task', async () => {
    expect(await step('/json-working')).toBe('finished without a stream');
  });

  it('is polled with GetTask until it ends when SendMessage answers it working', async () => {
    const client = new A2aRemoteClient(hosts);
    const answered = await client.send(
      { url: `${base}/poll` },
      message,
      AbortSignal.timeout(10_000),
    );
    expect(answered.task).toMatchObject({
      id: 't-poll',
      status: { state: 'TASK_STATE_COMPLETED' },
    });
    expect(getTasks.get('/poll')).toBe(2);
  });

  it('is read as it is when SendMessage answers it ended, whatever was asked', async () => {
    expect(await step('/done-at-once', { streaming: false })).toBe('done at once');
    expect(getTasks.get('/done-at-once')).toBeUndefined();
  });

  it('drops an event the stream was cut in the middle of, and reads the task whole instead', async () => {
    const client = new A2aRemoteClient(hosts);
    const events: RemoteStreamEvent[] = [];
    for await (const event of client.stream(
      { url: `${base}/cut-event` },
      message,
      AbortSignal.timeout(10_000),
    ))
      events.push(event);
    expect(events.map((event) => event.kind)).toEqual(['task', 'task']);
    expect(JSON.stringify(events)).not.toContain('half');
    expect(events.at(-1)).toMatchObject({
      task: {
        status: { state: 'TASK_STATE_COMPLETED' },
        artifacts: [{ parts: [{ text: 'the whole answer' }] }],
      },
    });
  });

  it('fails retryably when a stream ends before any event: it was cut, and may pass next time', async () => {
    const error = await failureOf(step('/empty-stream'));
    expect(error).toMatchObject({ name: 'RetryableAgentError' });
    expect(error.message).toMatch(/ended its stream before its task or message/);
  });
});

describe('a remote task given up on', () => {
  it('is canceled at the remote when the step times out while it is polled', async () => {
    const error = await failureOf(step('/hang-poll', { streaming: false, timeoutSeconds: 1 }));
    expect(error).toMatchObject({ name: 'RetryableAgentError' });
    expect(error.message).toMatch(/did not answer within 1 s/);
    // Canceled before the failure was thrown: a retry will not run beside it.
    expect(cancels).toContainEqual({ path: '/hang-poll', id: 't-hang-poll' });
  });

  it('is canceled at the remote when the step times out on a remote that blocks by default: its task is asked for at once', async () => {
    const error = await failureOf(step('/blocking', { streaming: false, timeoutSeconds: 1 }));
    expect(error).toMatchObject({ name: 'RetryableAgentError' });
    expect(error.message).toMatch(/did not answer within 1 s/);
    expect(cancels).toContainEqual({ path: '/blocking', id: 't-blocking' });
  });

  it("is canceled within the function's own time: the cancel's time is kept out of the call's", async () => {
    // Three seconds left, no step timeout: the function's time bounds the call, and the remote
    // takes a second to answer the cancel. Had the call run to the function's margin, the cancel
    // would have had a few hundred milliseconds, been cut off, and warned.
    const warnings: string[] = [];
    const quiet = () => undefined;
    const logger = {
      warn: (message: string) => warnings.push(message),
      error: quiet,
      info: quiet,
      debug: quiet,
    } as unknown as Logger;
    const endpoint: A2aEndpoint = {
      url: `${base}/slow-cancel`,
      cardUrl: `${base}/.well-known/agent-card.json`,
      streaming: false,
    };
    const registry = {
      get: async () => ({ card: { endpoint: { a2a: endpoint } } }),
    } as unknown as AgentRegistry;
    const proxy = createA2aProxy({
      registry,
      client: new A2aRemoteClient(hosts),
      events: false,
      logger,
    });
    const task = {
      kind: 'mobius.task',
      coordinationId: randomUUID(),
      stepId: 'ask',
      agentId: 'remote',
      pattern: 'sequential',
      input: { text: 'hello' },
    };
    const error = await failureOf(
      proxy.handler(task, lambdaContext('mobius-a2a-proxy', { timeoutMs: 3000 })),
    );
    expect(error).toMatchObject({ name: 'RetryableAgentError' });
    expect(cancels).toContainEqual({ path: '/slow-cancel', id: 't-slow-cancel' });
    // The cancel's answer was waited for, not cut off.
    expect(warnings).toEqual([]);
    expect(error.message).toMatch(/did not answer within 0\.\d s/);
  });

  it('is canceled at the remote when the step times out while it streams', async () => {
    const error = await failureOf(step('/hang-stream', { timeoutSeconds: 1 }));
    expect(error).toMatchObject({ name: 'RetryableAgentError' });
    expect(cancels).toContainEqual({ path: '/hang-stream', id: 't-hang-stream' });
  });

  it('is not canceled when it ended: a completed task needs no cancel', async () => {
    expect(await step('/early-end')).toBe('finished after the stream');
    expect(cancels.filter((cancel) => cancel.path === '/early-end')).toEqual([]);
  });
});

describe('the A2A JS SDK server as the remote', () => {
  it('answers SendMessage at once with the task it works on, whose id the caller then has', async () => {
    const remote = await startRemoteAgent({
      name: 'Remote Hanging',
      skills: [{ id: 'ponder' }],
      answer: () => ({ hang: true }),
    });
    try {
      const seen: RemoteTask[] = [];
      const client = new A2aRemoteClient(hosts);
      const error = await failureOf(
        client.send(
          { url: `${remote.url}/a2a/jsonrpc` },
          message,
          AbortSignal.timeout(1000),
          (task) => seen.push(task),
        ),
      );
      expect(error.name).toBe('TimeoutError');
      expect(seen[0]).toMatchObject({
        id: expect.any(String),
        status: { state: 'TASK_STATE_WORKING' },
      });
    } finally {
      await remote.stop();
    }
  });

  it('answers the task it completes, read to its end', async () => {
    const remote = await startRemoteAgent({
      name: 'Remote Quick',
      skills: [{ id: 'count' }],
      answer: () => ({ artifact: { n: 1 } }),
    });
    try {
      const client = new A2aRemoteClient(hosts);
      const answered = await client.send(
        { url: `${remote.url}/a2a/jsonrpc` },
        message,
        AbortSignal.timeout(10_000),
      );
      expect(answered.task).toMatchObject({
        status: { state: 'TASK_STATE_COMPLETED' },
        artifacts: [{ name: 'output', parts: [{ data: { n: 1 } }] }],
      });
    } finally {
      await remote.stop();
    }
  });
});
