import { LambdaClient } from '@aws-sdk/client-lambda';
import { SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keywordExtractor } from '../../examples/agents/keyword-extractor.ts';
import { summarizer } from '../../examples/agents/summarizer.ts';
import { createApi } from '../../functions/api/app.ts';
import { buffered, isStreaming } from '../../functions/api/http.ts';
import { lambdaContext } from '../../functions/embedded/lambda-context.ts';
import { EmbeddedRuntime } from '../../functions/embedded/runtime.ts';
import { sweep } from '../../functions/monitor/health-monitor.ts';
import { type RemoteAgent, startRemoteAgent } from '../support/a2a-remote.ts';
import { gatewayEvent } from '../support/api-json.ts';

/**
 * Remote A2A agents join Mobius (issue 19, import), checked against an independent implementation:
 * the A2A JS SDK's own server (`@a2a-js/sdk` 1.3) on 127.0.0.1 is the remote; Mobius imports it
 * over its API (POST /agents/import) on the embedded runtime and uses it as it uses its own agents
 * — in a scatter-gather beside them, for a request, a stream — while a remote that fails or hangs
 * meets the same breaker, timeouts and fallbacks a local agent does.
 */

const TEXT =
  'Serverless agents coordinate through queues. Queues absorb bursts. Coordinators route work by capability.';

let runtime: EmbeddedRuntime;
let api: string;
const remotes: RemoteAgent[] = [];

/** Calls the runtime's API; the body parsed. */
async function call<T = Record<string, unknown>>(
  method: 'GET' | 'POST',
  path: string,
  body?: unknown,
): Promise<{ status: number; body: T }> {
  const response = await fetch(`${api}${path}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: response.status, body: (await response.json()) as T };
}

interface Result {
  status: string;
  output: unknown;
  degraded: boolean;
  steps: { stepId: string; agentId: string; status: string; attempt: number; output?: unknown }[];
  errors: { agentId: string; stepId: string; error: string; cause: string }[];
  standIns?: { requested: string; agentId: string; reason: string }[];
}

async function coordinate(request: Record<string, unknown>): Promise<Result> {
  const { status, body } = await call<Record<string, unknown>>('POST', '/coordinations', request);
  const error = body.error as { details?: { result?: Result } } | undefined;
  const result = (error?.details?.result ?? body) as Result;
  if (result.status === undefined)
    throw new Error(`POST /coordinations answered ${status}: ${JSON.stringify(body)}`);
  return result;
}

async function remote(options: Parameters<typeof startRemoteAgent>[0]): Promise<RemoteAgent> {
  const agent = await startRemoteAgent(options);
  remotes.push(agent);
  return agent;
}

async function importAgent(url: string, agentId?: string) {
  return call<Record<string, unknown>>('POST', '/agents/import', {
    url,
    ...(agentId === undefined ? {} : { agentId }),
  });
}

/** Polls `probe` until it returns true, at most `ms`. */
async function eventually(what: string, probe: () => Promise<boolean>, ms = 10_000): Promise<void> {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    if (await probe()) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`not within ${ms} ms: ${what}`);
}

let summarizerRemote: RemoteAgent;
let streamer: RemoteAgent;
let broken: RemoteAgent;
let slow: RemoteAgent;

beforeAll(async () => {
  runtime = await EmbeddedRuntime.start({
    agents: [keywordExtractor, summarizer],
    port: 0,
    a2a: { allowedHosts: ['127.0.0.1'] },
    // Sweeps are run by the tests themselves.
    sweepSeconds: 3600,
  });
  api = runtime.apiUrl ?? '';
  summarizerRemote = await remote({
    name: 'Remote Summarizer',
    skills: [{ id: 'abstractive-summary', description: 'Summarises text', tags: ['text'] }],
    answer: (input) => ({
      artifact: { summary: String(input).split('. ')[0], by: 'remote' },
    }),
  });
  streamer = await remote({
    name: 'Remote Streamer',
    skills: [{ id: 'poem' }],
    streaming: true,
    answer: () => ({ artifact: 'a poem', chunks: ['roses ', 'are ', 'red'] }),
  });
  broken = await remote({
    name: 'Remote Broken',
    skills: [{ id: 'summarize-badly' }],
    answer: () => ({ fail: 'the remote model is down' }),
  });
  slow = await remote({
    name: 'Remote Slow',
    skills: [{ id: 'ponder' }],
    answer: () => ({ hang: true }),
  });
}, 60_000);

afterAll(async () => {
  for (const agent of remotes) await agent.stop();
  await runtime?.stop();
});

describe('POST /agents/import', () => {
  it('reads the card under the URL, registers the agent with its skills as capabilities, reached through the A2A proxy, and reads it healthy', async () => {
    const { status, body } = await importAgent(summarizerRemote.url);
    expect(status).toBe(201);
    expect(body.outcome).toBe('created');
    const agent = body.agent as {
      card: Record<string, unknown> & { endpoint: Record<string, unknown> };
      status: string;
      owner: string;
    };
    expect(agent.card).toMatchObject({
      agentId: 'remote-summarizer',
      agentType: 'a2a',
      capabilities: [
        {
          name: 'abstractive-summary',
          version: '2.1.0',
          metadata: {
            skill: 'abstractive-summary',
            description: 'Summarises text',
            tags: ['text'],
          },
        },
      ],
      protocols: [
        { name: 'mobius', versions: ['1.0'] },
        { name: 'a2a', versions: ['1.0'] },
      ],
    });
    expect(agent.card.endpoint).toEqual({
      lambdaArn: 'arn:aws:lambda:us-east-1:000000000000:function:mobius-a2a-proxy',
      a2a: {
        url: `${summarizerRemote.url}/a2a/jsonrpc`,
        cardUrl: `${summarizerRemote.url}/.well-known/agent-card.json`,
        streaming: false,
      },
    });
    expect(agent.status).toBe('healthy');
    expect(agent.owner).toBe('local');
    // It joins discovery like any agent.
    const found = await call<{ matches: { agentId: string }[] }>('POST', '/discover', {
      capability: 'abstractive-summary',
    });
    expect(found.body.matches.map((m) => m.agentId)).toEqual(['remote-summarizer']);
    // The same card again is unchanged (200); the card's own URL works as well as its base.
    const again = await importAgent(`${summarizerRemote.url}/.well-known/agent-card.json`);
    expect(again.status).toBe(200);
    expect(again.body.outcome).toBe('unchanged');
  });

  it('takes the agent id it is given', async () => {
    const { status, body } = await importAgent(streamer.url, 'poet');
    expect(status).toBe(201);
    expect((body.agent as { card: { agentId: string; endpoint: unknown } }).card).toMatchObject({
      agentId: 'poet',
      endpoint: { a2a: { streaming: true } },
    });
    for (const [agent, id] of [
      [broken, 'remote-broken'],
      [slow, 'remote-slow'],
    ] as const)
      expect((await importAgent(agent.url, id)).status).toBe(201);
  });

  it('refuses a host the allow-list does not name with 400, naming the setting', async () => {
    const { status, body } = await importAgent(
      summarizerRemote.url.replace('127.0.0.1', 'localhost'),
    );
    expect(status).toBe(400);
    expect(body.error).toMatchObject({
      code: 'VALIDATION_FAILED',
      details: {
        issues: [
          {
            path: 'url',
            message: expect.stringMatching(
              /host localhost:\d+ is not allowed; hosts allowed: 127\.0\.0\.1 \(the embedded runtime's a2a\.allowedHosts option\)/,
            ),
          },
        ],
      },
    });
    // Registering such a card directly is held to the same rules.
    const card = {
      agentId: 'sneaky',
      agentType: 'a2a',
      description: 'points elsewhere',
      capabilities: [{ name: 'x', version: '1.0.0' }],
      endpoint: {
        lambdaArn: 'arn:aws:lambda:us-east-1:000000000000:function:mobius-a2a-proxy',
        a2a: { url: 'http://169.254.169.254/latest', cardUrl: 'http://169.254.169.254/card.json' },
      },
    };
    const direct = await call<{ error: { details: { issues: { path: string }[] } } }>(
      'POST',
      '/agents',
      card,
    );
    expect(direct.status).toBe(400);
    expect(direct.body.error.details.issues.map((i) => i.path)).toEqual([
      'endpoint.a2a.url',
      'endpoint.a2a.cardUrl',
    ]);
  });

  it('lets only operators register a card with an a2a endpoint: an agent role posting one to POST /agents gets 403', async () => {
    // The API as API Gateway runs it, with IAM identities: an agent role and an operator.
    const AGENT_ROLE = 'arn:aws:iam::123456789012:role/some-agent';
    const OPERATOR = 'arn:aws:iam::123456789012:role/an-operator';
    const gateway = createApi({
      registry: runtime.registry,
      router: runtime.router,
      coordinations: runtime.coordinations,
      events: runtime.events,
      access: { mode: 'iam', operators: [OPERATOR] },
    });
    const post = async (path: string, body: unknown, caller: string) => {
      const event = gatewayEvent('POST', path, {
        body,
        headers: { 'content-type': 'application/json' },
        caller,
      });
      const result = await gateway(event, lambdaContext('mobius-api'));
      if (isStreaming(result)) throw new Error('expected a JSON answer');
      return { status: result.statusCode, body: JSON.parse(buffered(result).body) };
    };
    const proxyArn = runtime.registry.endpointPolicy?.a2a?.proxyArn ?? '';
    // On an allowed host, through the deployment's proxy: all the endpoint policy asks.
    const card = {
      agentId: 'registered-by-hand',
      agentType: 'a2a',
      description: 'A remote agent registered without import',
      capabilities: [{ name: 'by-hand', version: '1.0.0' }],
      endpoint: {
        lambdaArn: proxyArn,
        a2a: { url: `${summarizerRemote.url}/`, cardUrl: `${summarizerRemote.url}/card.json` },
      },
    };
    const refused = await post('/agents', card, AGENT_ROLE);
    expect(refused.status).toBe(403);
    expect(refused.body.error).toMatchObject({
      code: 'FORBIDDEN',
      message: expect.stringMatching(/only operators may have Mobius call a remote A2A agent/),
    });
    expect((await call('GET', '/agents/registered-by-hand')).status).toBe(404);
    // An operator may.
    expect((await post('/agents', card, OPERATOR)).status).toBe(201);
    await runtime.registry.deregister('registered-by-hand');
  });

  it('refuses a URL that is no http(s) URL with 400 on url, before making a card URL of it', async () => {
    for (const url of ['mailto:x', 'data:,x', 'urn:isbn:1', 'not a url']) {
      const { status, body } = await importAgent(url);
      expect(status, url).toBe(400);
      expect(body.error, url).toMatchObject({
        code: 'VALIDATION_FAILED',
        details: { issues: [{ path: 'url' }] },
      });
    }
  });

  it('refuses a bad card with 400 and the path of each problem in it', async () => {
    const bad = await remote({
      name: 'Bad Card',
      skills: [{ id: 'x' }],
      answer: () => ({ message: 'never' }),
      card: (card) => ({
        ...card,
        supportedInterfaces: [
          { url: 'grpc://127.0.0.1:1', protocolBinding: 'GRPC', protocolVersion: '1.0' },
        ],
        skills: [{ name: 'no id' }],
      }),
    });
    const { status, body } = await importAgent(bad.url);
    expect(status).toBe(400);
    expect((body.error as { details: { issues: { path: string }[] } }).details.issues).toEqual([
      { path: 'skills.0.id', message: 'a skill needs its id' },
    ]);
    const noJsonRpc = await remote({
      name: 'No JSON-RPC',
      skills: [{ id: 'x' }],
      answer: () => ({ message: 'never' }),
      card: (card) => ({
        ...card,
        supportedInterfaces: [
          { url: 'http://127.0.0.1:1/', protocolBinding: 'GRPC', protocolVersion: '1.0' },
        ],
      }),
    });
    const second = await importAgent(noJsonRpc.url);
    expect(second.status).toBe(400);
    expect(second.body.error).toMatchObject({
      message: expect.stringContaining(
        'Invalid A2A agent card: supportedInterfaces: no JSONRPC interface for A2A 1.0 (the card offers GRPC 1.0)',
      ),
    });
    const legacy = await remote({
      name: 'Old Agent',
      skills: [{ id: 'x' }],
      answer: () => ({ message: 'never' }),
      card: ({ supportedInterfaces: _, ...card }) => ({
        ...card,
        url: 'http://127.0.0.1:1/',
        preferredTransport: 'JSONRPC',
      }),
    });
    const third = await importAgent(legacy.url);
    expect(third.status).toBe(400);
    expect(third.body.error).toMatchObject({ message: expect.stringContaining('A2A 0.3 card') });
    // Nothing was registered.
    expect((await call('GET', '/agents/bad-card')).status).toBe(404);
  });
});

describe('an imported agent at work', () => {
  it('runs in a scatter-gather beside Mobius agents, its answer mapped back to JSON', async () => {
    const result = await coordinate({
      pattern: 'scatter_gather',
      steps: [
        { id: 'keywords', agent: 'keyword-extractor' },
        { id: 'summary', agent: 'summarizer' },
        { id: 'remote', agent: 'remote-summarizer' },
      ],
      payload: { text: TEXT },
      timeout: 30,
    });
    expect(result.status).toBe('succeeded');
    expect(result.steps.find((s) => s.stepId.startsWith('remote'))).toMatchObject({
      agentId: 'remote-summarizer',
      status: 'succeeded',
      attempt: 0,
      output: { summary: 'Serverless agents coordinate through queues', by: 'remote' },
    });
    // The remote got the text as a text part: the payload { text } is the text.
    expect(summarizerRemote.received.at(-1)).toBe(TEXT);
    // Its outcome counts in its metrics, as a local agent's does.
    await eventually('the remote success recorded', async () => {
      const { body } = await call<{ metrics: { requestsProcessed: number } }>(
        'GET',
        '/agents/remote-summarizer/health',
      );
      return body.metrics.requestsProcessed >= 1;
    });
  });

  it('answers a request sent with POST /messages (wait)', async () => {
    const { status, body } = await call<{ response: { from: string; payload: unknown } }>(
      'POST',
      '/messages',
      {
        to: 'remote-summarizer',
        type: 'request',
        payload: 'First sentence. Second sentence.',
        wait: true,
        timeout: 10,
      },
    );
    expect(status).toBe(200);
    expect(body.response).toMatchObject({
      from: 'remote-summarizer',
      payload: { summary: 'First sentence', by: 'remote' },
    });
  });

  it("streams a streaming agent's artifact updates as chunks (POST /messages, stream)", async () => {
    const response = await fetch(`${api}/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        to: 'poet',
        type: 'request',
        payload: { topic: 'roses' },
        stream: true,
        timeout: 10,
      }),
    });
    expect(response.status).toBe(200);
    const text = await response.text();
    const chunks = [...text.matchAll(/^event: chunk\ndata: (.*)$/gm)].map(
      (m) => JSON.parse(m[1] ?? '{}').text,
    );
    // Every artifact update is a chunk, the final artifact's too, in the order they came.
    expect(chunks).toEqual(['roses ', 'are ', 'red', 'a poem']);
    expect(text).toMatch(/"payload":\{"stream":"roses are red","output":"a poem"\}/);
    expect(streamer.received.at(-1)).toEqual({ topic: 'roses' });
  });
});

describe('a streaming imported agent in a coordination', () => {
  it("reports its step's events and its artifact updates as chunks to the run's event log, as an agent does", async () => {
    const { body } = await call<{ coordinationId: string; status: string; output: unknown }>(
      'POST',
      '/coordinations',
      {
        pattern: 'sequential',
        steps: [{ id: 'poem', agent: 'poet' }],
        payload: { topic: 'roses' },
        timeout: 30,
      },
    );
    expect(body.status).toBe('succeeded');
    const events = await (await fetch(`${api}/coordinations/${body.coordinationId}/events`)).text();
    const typesOf = [...events.matchAll(/^data: (.*)$/gm)].map(
      (m) => JSON.parse(m[1] ?? '{}') as { type: string; chunk?: { text?: string } },
    );
    expect(typesOf.filter((e) => e.type === 'step.chunk').map((e) => e.chunk?.text)).toEqual([
      'roses ',
      'are ',
      'red',
      'a poem',
    ]);
    expect(typesOf.map((e) => e.type)).toEqual(
      expect.arrayContaining(['step.started', 'step.succeeded']),
    );
  });
});

describe('a failing or hanging remote, as a local agent', () => {
  it('a FAILED task fails the step; its fallback answers, and the failures open its breaker', async () => {
    const request = {
      pattern: 'scatter_gather',
      steps: [
        { id: 'keywords', agent: 'keyword-extractor' },
        { id: 'summary', agent: 'remote-broken', fallbacks: ['summarizer'] },
      ],
      payload: { text: TEXT },
      timeout: 30,
    };
    const first = await coordinate(request);
    expect(first.status).toBe('succeeded');
    expect(first.degraded).toBe(true);
    expect(first.steps.find((s) => s.stepId.startsWith('summary'))).toMatchObject({
      agentId: 'summarizer',
      attempt: 1,
      status: 'succeeded',
    });
    expect(first.errors).toEqual([
      expect.objectContaining({
        agentId: 'remote-broken',
        error: 'Error',
        cause: expect.stringContaining('the remote model is down'),
      }),
    ]);
    // Five failures in a row open its breaker, as for any agent…
    for (let i = 0; i < 4; i++) await coordinate(request);
    await eventually('the breaker open', async () => {
      const { body } = await call<{ circuit: { state: string } }>(
        'GET',
        '/agents/remote-broken/health',
      );
      return body.circuit.state === 'open';
    });
    await new Promise((resolve) => setTimeout(resolve, 1100)); // the planning cache catches up
    // …after which it is passed over: the fallback stands in, and the remote is not called.
    const calls = broken.received.length;
    const after = await coordinate(request);
    expect(after).toMatchObject({
      status: 'succeeded',
      standIns: [{ requested: 'remote-broken', agentId: 'summarizer', reason: 'circuit_open' }],
    });
    expect(broken.received.length).toBe(calls);
  }, 60_000);

  it('a remote that does not answer within the step timeout times out (States.Timeout), and its fallback answers', async () => {
    const result = await coordinate({
      pattern: 'sequential',
      steps: [{ id: 'ponder', agent: 'remote-slow', timeout: 2, fallbacks: ['summarizer'] }],
      payload: { text: TEXT },
      timeout: 30,
    });
    expect(result.status).toBe('succeeded');
    expect(result.errors).toEqual([
      expect.objectContaining({ agentId: 'remote-slow', error: 'States.Timeout' }),
    ]);
    expect(result.steps[0]).toMatchObject({ agentId: 'summarizer', attempt: 1 });
    // A request to it ends in the router's 504, its own deadline.
    const { status, body } = await call<{ error: { code: string } }>('POST', '/messages', {
      to: 'remote-slow',
      type: 'request',
      payload: 'anything',
      wait: true,
      timeout: 1,
    });
    expect(status).toBe(504);
    expect(body.error.code).toBe('TIMEOUT');
  }, 30_000);
});

describe('the health monitor', () => {
  it('pings an imported agent through the proxy: healthy while its card answers, unhealthy when it does not', async () => {
    const lambda = new LambdaClient({});
    const sqs = new SQSClient({});
    const statusOf = async () =>
      (
        await call<{ status: string; lastSeen: string | null }>(
          'GET',
          '/agents/remote-summarizer/health',
        )
      ).body;
    const before = (await statusOf()).lastSeen;
    summarizerRemote.down = true;
    await sweep(runtime.registry, { lambda, sqs });
    await eventually('unhealthy', async () => (await statusOf()).status === 'unhealthy');
    summarizerRemote.down = false;
    await sweep(runtime.registry, { lambda, sqs });
    await eventually('healthy again', async () => (await statusOf()).status === 'healthy');
    expect((await statusOf()).lastSeen).not.toBe(before);
  });
});
