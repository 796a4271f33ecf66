import { Logger } from '@aws-lambda-powertools/logger';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { type Message, ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import type { APIGatewayProxyEvent } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createApi } from '../../functions/api/app.ts';
import type { ApiDependencies } from '../../functions/api/dependencies.ts';
import { buffered } from '../../functions/api/http.ts';
import { CoordinationService } from '../../functions/coordination/service.ts';
import { CapacityExceededError } from '../../functions/core/errors.ts';
import { FatalAgentError } from '../../functions/core/messaging/agent-errors.ts';
import { MessageRouter } from '../../functions/core/messaging/router.ts';
import { type AgentHandler, defineAgent } from '../../functions/core/sdk/define-agent.ts';
import { LOCAL_CREDENTIALS, LOCAL_REGION } from '../../functions/embedded/dynamodb-engine.ts';
import { EmbeddedEngine } from '../../functions/embedded/embedded-engine.ts';
import { lambdaContext } from '../../functions/embedded/lambda-context.ts';
import { type LambdaServer, startLambdaServer } from '../../functions/embedded/lambda-server.ts';
import { messagingWorld } from '../support/agents.ts';
import { card } from '../support/cards.ts';
import { emf, metricsFor } from '../support/emf.ts';

/**
 * Every route of the HTTP API through the real middy handler, with API Gateway events: the
 * registry on dynalite, SQS on local-aws-sqs, EventBridge on moto, agents behind an
 * embedded Lambda endpoint, coordinations on the embedded engine.
 */
type World = Awaited<ReturnType<typeof messagingWorld>>;
let world: World;
let lambdaServer: LambdaServer;
let api: ReturnType<typeof createApi>;
let dependencies: ApiDependencies;
/** Each test agent's queue and Lambda handler, by agent id. */
const agents = new Map<
  string,
  { queueUrl: string; queueArn: string; handler: ReturnType<typeof defineAgent> }
>();

function event(
  method: string,
  path: string,
  body?: unknown,
  query: Record<string, string> = {},
): APIGatewayProxyEvent {
  return {
    httpMethod: method,
    path,
    resource: path,
    body: body === undefined ? null : typeof body === 'string' ? body : JSON.stringify(body),
    headers: { 'content-type': 'application/json' },
    multiValueHeaders: {},
    queryStringParameters: Object.keys(query).length > 0 ? query : null,
    multiValueQueryStringParameters: null,
    pathParameters: null,
    stageVariables: null,
    isBase64Encoded: false,
    requestContext: {} as APIGatewayProxyEvent['requestContext'],
  };
}

async function call(method: string, path: string, body?: unknown, query?: Record<string, string>) {
  const response = await api(event(method, path, body, query), lambdaContext('mobius-api'));
  return {
    status: response.statusCode,
    body: JSON.parse(buffered(response).body) as Record<string, unknown> & {
      error?: { code: string; message: string; details: Record<string, unknown> };
    },
  };
}

const lambdaArn = (id: string) => `arn:aws:lambda:us-east-1:123456789012:function:${id}`;

beforeAll(async () => {
  world = await messagingWorld('local');
  lambdaServer = await startLambdaServer();
  const behaviours: Record<string, AgentHandler> = {
    echo: (message) => ({ echoed: message.input }),
    broken: () => {
      throw new FatalAgentError('broken on purpose');
    },
    slow: async () => {
      await new Promise((resolve) => setTimeout(resolve, 2_500));
      return 'late';
    },
  };
  // Agents by every endpoint a compiled machine may name: Lambda ARN (express) or queue URL (standard).
  const handlers = new Map<string, ReturnType<typeof defineAgent>>();
  for (const [agentId, handler] of Object.entries(behaviours)) {
    const queues = await world.agentWithQueue(agentId);
    const lambda = defineAgent(
      {
        agentId,
        agentType: 'test',
        description: `api test ${agentId}`,
        capabilities: [{ name: agentId, version: '1.0.0' }],
        handler,
      },
      { idempotency: false },
    );
    handlers.set(lambdaArn(agentId), lambda);
    handlers.set(queues.queueUrl, lambda);
    agents.set(agentId, { queueUrl: queues.queueUrl, queueArn: queues.queueArn, handler: lambda });
    lambdaServer.register(agentId, lambda);
    await world.registry.register(
      card(agentId, {
        agentType: 'test',
        capabilities: [{ name: agentId, version: '1.0.0' }],
        endpoint: {
          lambdaArn: lambdaArn(agentId),
          queueUrl: queues.queueUrl,
          queueArn: queues.queueArn,
        },
      }),
      { update: true },
    );
    await world.registry.heartbeat(agentId);
  }
  const lambda = new LambdaClient({
    endpoint: lambdaServer.endpoint,
    region: LOCAL_REGION,
    credentials: LOCAL_CREDENTIALS,
  });
  const router = new MessageRouter({
    registry: world.registry,
    eventBusName: world.eventBusName,
    sqs: world.sqs,
    eventBridge: world.eventBridge,
    lambda,
  });
  const engine = new EmbeddedEngine(async (target, task) => {
    const handler = handlers.get(target);
    if (handler === undefined) throw new Error(`no agent behind ${target}`);
    return handler(task, lambdaContext(target));
  });
  dependencies = {
    registry: world.registry,
    router,
    coordinations: new CoordinationService({ registry: world.registry, engine }),
  };
  api = createApi(dependencies);
});

afterAll(async () => {
  await lambdaServer.stop();
});

describe('HTTP API: agents', () => {
  it('registers (201), repeats idempotently (200), refuses a different card (409) and updates on request', async () => {
    const created = await call('POST', '/agents', card('api-agent'));
    expect(created).toMatchObject({
      status: 201,
      body: { outcome: 'created', agent: { status: 'initializing' } },
    });
    expect((await call('POST', '/agents', card('api-agent'))).body.outcome).toBe('unchanged');
    const conflict = await call('POST', '/agents', card('api-agent', { description: 'other' }));
    expect(conflict).toMatchObject({ status: 409, body: { error: { code: 'CONFLICT' } } });
    expect(
      (
        await call('POST', '/agents', card('api-agent', { description: 'other' }), {
          update: 'true',
        })
      ).body.outcome,
    ).toBe('updated');
  });

  it('reads, lists, heartbeats, reports health and deregisters', async () => {
    await call('POST', '/agents', card('lifecycle'));
    expect((await call('POST', '/agents/lifecycle/heartbeat', { inFlight: 2 })).body.status).toBe(
      'healthy',
    );
    expect((await call('POST', '/agents/lifecycle/heartbeat')).status).toBe(200);
    expect((await call('GET', '/agents/lifecycle')).body.card).toMatchObject({
      agentId: 'lifecycle',
    });
    const health = await call('GET', '/agents/lifecycle/health');
    expect(health.body).toMatchObject({
      agentId: 'lifecycle',
      status: 'healthy',
      circuit: { state: 'closed' },
    });
    expect(health.body.lastSeen).toEqual(expect.any(String));
    const listed = await call('GET', '/agents', undefined, {
      capability: 'summarize',
      status: 'healthy',
    });
    expect(
      (listed.body.agents as { card: { agentId: string } }[]).map((a) => a.card.agentId),
    ).toContain('lifecycle');
    expect((await call('DELETE', '/agents/lifecycle')).status).toBe(200);
    expect((await call('GET', '/agents/lifecycle')).status).toBe(404);
  });

  it('discovers with ranking and scores', async () => {
    const found = await call('POST', '/discover', {
      capability: 'ech',
      match: 'fuzzy',
      minScore: 0.5,
    });
    expect(found.status).toBe(200);
    expect((found.body.matches as { agentId: string; score: number }[])[0]).toMatchObject({
      agentId: 'echo',
    });
  });
});

describe('HTTP API: messages and broadcasts', () => {
  it('queues a direct message (202) and answers a request-response (200)', async () => {
    const queued = await call('POST', '/messages', { to: 'echo', payload: { hello: 1 } });
    expect(queued).toMatchObject({
      status: 202,
      body: { agentId: 'echo', messageId: expect.any(String) },
    });
    const answered = await call('POST', '/messages', {
      to: 'echo',
      payload: { q: 2 },
      wait: true,
      timeout: 5,
    });
    expect(answered).toMatchObject({
      status: 200,
      body: { response: { type: 'response', from: 'echo', payload: { echoed: { q: 2 } } } },
    });
  });

  it('maps agent failures to 502 and slow agents to 504', async () => {
    const failed = await call('POST', '/messages', { to: 'broken', payload: {}, wait: true });
    expect(failed).toMatchObject({
      status: 502,
      body: {
        error: {
          code: 'AGENT_FAILED',
          details: { agentId: 'broken', errorType: 'FatalAgentError' },
        },
      },
    });
    const slow = await call('POST', '/messages', {
      to: 'slow',
      payload: {},
      wait: true,
      timeout: 1,
    });
    expect(slow).toMatchObject({ status: 504, body: { error: { code: 'TIMEOUT' } } });
  });

  it('rejects an oversized message with 413', async () => {
    const big = await call('POST', '/messages', {
      to: 'echo',
      payload: { blob: 'x'.repeat(300_000) },
    });
    expect(big).toMatchObject({ status: 413, body: { error: { code: 'PAYLOAD_TOO_LARGE' } } });
  });

  it('sends an event to one agent (202): it reaches the agent’s queue as an event, which the agent handles', async () => {
    const sent = await call('POST', '/messages', {
      to: 'echo',
      type: 'event',
      eventType: 'doc.ready',
      payload: { id: 7 },
    });
    expect(sent).toMatchObject({ status: 202, body: { agentId: 'echo' } });
    const echo = agents.get('echo');
    if (echo === undefined) throw new Error('no echo agent');
    let record: Message | undefined;
    for (let attempt = 0; attempt < 10 && record === undefined; attempt++) {
      const { Messages = [] } = await world.sqs.send(
        new ReceiveMessageCommand({ QueueUrl: echo.queueUrl, MaxNumberOfMessages: 10 }),
      );
      record = Messages.find((m) => m.Body?.includes(String(sent.body.messageId)));
    }
    expect(JSON.parse(record?.Body ?? '{}')).toMatchObject({
      type: 'event',
      to: 'echo',
      eventType: 'doc.ready',
      payload: { id: 7 },
      // The embedded API's one caller: the local operator.
      sender: 'local',
    });
    // The agent SDK takes it as an event (a batch item failure would mean it was refused).
    const handled = await echo.handler(
      {
        Records: [
          {
            messageId: record?.MessageId ?? 'm',
            receiptHandle: record?.ReceiptHandle ?? 'r',
            body: record?.Body ?? '',
            attributes: {
              ApproximateReceiveCount: '1',
              SentTimestamp: '0',
              SenderId: 'test',
              ApproximateFirstReceiveTimestamp: '0',
            },
            messageAttributes: {},
            md5OfBody: '',
            eventSource: 'aws:sqs',
            eventSourceARN: echo.queueArn,
            awsRegion: LOCAL_REGION,
          },
        ],
      },
      lambdaContext('echo'),
    );
    expect(handled).toEqual({ batchItemFailures: [] });
    // An event says what happened: without an eventType it is refused, naming the field.
    const untyped = await call('POST', '/messages', { to: 'echo', type: 'event', payload: {} });
    expect(untyped).toMatchObject({
      status: 400,
      body: { error: { details: { issues: [{ path: 'eventType' }] } } },
    });
  });

  it('publishes broadcasts and events (202)', async () => {
    expect((await call('POST', '/broadcasts', { payload: { note: 'hi' } })).status).toBe(202);
    const published = await call('POST', '/broadcasts', {
      to: { capability: 'echo' },
      eventType: 'doc.indexed',
      payload: {},
    });
    expect(published).toMatchObject({ status: 202, body: { type: 'event' } });
  });
});

describe('HTTP API: coordinations', () => {
  it('runs an express coordination and returns the result inline', async () => {
    const ran = await call('POST', '/coordinations', {
      pattern: 'pipeline',
      agents: ['echo', 'echo'],
      payload: { x: 1 },
    });
    expect(ran).toMatchObject({ status: 200, body: { status: 'succeeded', pattern: 'pipeline' } });
    expect((ran.body.timings as { steps: unknown[] }).steps).toHaveLength(2);
  });

  it('answers 502 with the result when an agent fails, 503 when nobody can do it, 504 on timeout', async () => {
    const failed = await call('POST', '/coordinations', {
      pattern: 'sequential',
      agents: ['echo', 'broken'],
    });
    expect(failed).toMatchObject({
      status: 502,
      body: { error: { code: 'AGENT_FAILED', details: { result: { status: 'failed' } } } },
    });
    expect(failed.body.error?.message).toContain('agent broken at step step2');
    const nobody = await call('POST', '/coordinations', {
      pattern: 'sequential',
      steps: [{ capability: 'time-travel' }],
    });
    expect(nobody).toMatchObject({ status: 503, body: { error: { code: 'NO_AGENT_AVAILABLE' } } });
    const timedOut = await call('POST', '/coordinations', {
      pattern: 'sequential',
      agents: ['slow'],
      stepTimeout: 1,
    });
    expect(timedOut).toMatchObject({ status: 504, body: { error: { code: 'TIMEOUT' } } });
  });

  it('refuses a coordination whose input Step Functions would refuse (413)', async () => {
    const big = await call('POST', '/coordinations', {
      pattern: 'parallel',
      agents: ['echo'],
      payload: { blob: 'x'.repeat(300_000) },
    });
    expect(big).toMatchObject({
      status: 413,
      body: { error: { code: 'PAYLOAD_TOO_LARGE', details: { field: 'payload', limit: 262_144 } } },
    });
  });

  it('answers 504 itself, naming the standard mode, when an express run outlasts its wait limit', async () => {
    const waiting = createApi({ ...dependencies, syncWaitMs: 300 });
    const response = await waiting(
      event('POST', '/coordinations', { pattern: 'sequential', agents: ['slow'] }),
      lambdaContext('mobius-api'),
    );
    expect(response.statusCode).toBe(504);
    const body = JSON.parse(buffered(response).body) as {
      error: { code: string; message: string };
    };
    expect(body.error.code).toBe('TIMEOUT');
    expect(body.error.message).toContain('"mode": "standard"');
  });

  it('publishes EMF metrics: outcome counts, and duration and overhead per pattern', async () => {
    const metrics = metricsFor('mobius-api');
    const measured = createApi({ ...dependencies, metrics });
    const emitted = await emf(
      () =>
        measured(
          event('POST', '/coordinations', { pattern: 'parallel', agents: ['echo', 'echo'] }),
          lambdaContext('mobius-api'),
        ),
      metrics,
    );
    expect(emitted.result.statusCode).toBe(200);
    expect(emitted.metrics).toEqual(
      expect.arrayContaining([
        { name: 'CoordinationsStarted', pattern: undefined },
        { name: 'CoordinationsSucceeded', pattern: undefined },
        { name: 'CoordinationDuration', pattern: 'parallel' },
        { name: 'CoordinationOverhead', pattern: 'parallel' },
      ]),
    );
  });

  it('counts a coordination that ends in a 5xx without a result as failed, and a refused one not at all', async () => {
    const metrics = metricsFor('mobius-api');
    const measured = createApi({ ...dependencies, metrics });
    const post = (request: unknown) =>
      measured(event('POST', '/coordinations', request), lambdaContext('mobius-api'));
    const emitted = await emf(async () => {
      const statuses = [
        // 503: nobody holds the capability (planning fails before anything starts in Step Functions).
        (await post({ pattern: 'sequential', steps: [{ capability: 'time-travel' }] })).statusCode,
        // 400 and 413: the caller's mistake, no coordination.
        (await post({ pattern: 'swarm' })).statusCode,
        (
          await post({
            pattern: 'sequential',
            agents: ['echo'],
            payload: { b: 'x'.repeat(300_000) },
          })
        ).statusCode,
      ];
      return statuses;
    }, metrics);
    expect(emitted.result).toEqual([503, 400, 413]);
    expect(emitted.values).toMatchObject({ CoordinationsStarted: 1, CoordinationsFailed: 1 });
    expect(emitted.values).not.toHaveProperty('CoordinationsThrottled');
  });

  it('counts coordination starts Step Functions refused, for the throttling alarm', async () => {
    const metrics = metricsFor('mobius-api');
    const refusing = createApi({
      ...dependencies,
      metrics,
      coordinations: {
        run: () =>
          Promise.reject(
            new CapacityExceededError('Step Functions is throttling coordination starts', {
              service: 'states',
              reason: 'ThrottlingException',
            }),
          ),
      } as unknown as ApiDependencies['coordinations'],
    });
    const emitted = await emf(
      () =>
        refusing(
          event('POST', '/coordinations', { pattern: 'sequential', agents: ['echo'] }),
          lambdaContext('mobius-api'),
        ),
      metrics,
    );
    expect(emitted.result.statusCode).toBe(503);
    expect(JSON.parse(buffered(emitted.result).body)).toMatchObject({
      error: { code: 'CAPACITY_EXCEEDED', details: { reason: 'ThrottlingException' } },
    });
    expect(emitted.values).toMatchObject({
      CoordinationsStarted: 1,
      CoordinationsFailed: 1,
      CoordinationsThrottled: 1,
    });
  });

  it('logs an unexpected error with its request id, and answers 500 with only that id', async () => {
    const logged: unknown[] = [];
    const logger = new Logger({ serviceName: 'mobius-api', logLevel: 'SILENT' });
    vi.spyOn(logger, 'error').mockImplementation((...args: unknown[]) => {
      logged.push(args);
    });
    const broken = createApi({
      ...dependencies,
      logger,
      registry: {
        list: () => Promise.reject(new TypeError('registry exploded')),
      } as unknown as ApiDependencies['registry'],
    });
    const response = await broken(event('GET', '/agents'), lambdaContext('mobius-api'));
    expect(response.statusCode).toBe(500);
    const body = JSON.parse(buffered(response).body) as {
      error: { code: string; message: string };
    };
    expect(body.error.code).toBe('INTERNAL');
    expect(body.error.message).not.toContain('exploded');
    expect(logged).toEqual([
      [
        'unexpected error',
        {
          requestId: expect.any(String),
          error: expect.objectContaining({ message: 'registry exploded' }),
        },
      ],
    ]);
    const { requestId } = (logged[0] as [string, { requestId: string }])[1];
    expect(body.error.message).toContain(requestId);
  });

  it('starts a standard coordination (202) and serves it by id', async () => {
    const started = await call('POST', '/coordinations', {
      pattern: 'sequential',
      agents: ['echo'],
      mode: 'standard',
    });
    expect(started).toMatchObject({ status: 202, body: { status: 'running' } });
    const id = String(started.body.coordinationId);
    let fetched = await call('GET', `/coordinations/${encodeURIComponent(id)}`);
    for (let i = 0; i < 50 && fetched.body.status === 'running'; i++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      fetched = await call('GET', `/coordinations/${encodeURIComponent(id)}`);
    }
    expect(fetched).toMatchObject({ status: 200, body: { status: 'succeeded', mode: 'standard' } });
    expect((await call('GET', '/coordinations/nope')).status).toBe(404);
    const malformed = await call('GET', '/coordinations/%zz');
    expect(malformed).toMatchObject({
      status: 400,
      body: { error: { code: 'VALIDATION_FAILED' } },
    });
    expect(malformed.body.error?.details.issues).toEqual([expect.objectContaining({ path: 'id' })]);
  });
});

describe('HTTP API: CORS', () => {
  const withOrigin = (origin: string, method: string, path: string) => {
    const request = event(method, path);
    return { ...request, headers: { ...request.headers, origin } };
  };

  it('allows the configured origins on answers and errors alike, and no other origin', async () => {
    const browserApi = createApi(dependencies, { corsOrigins: ['https://app.example.com'] });
    const allowed = await browserApi(
      withOrigin('https://app.example.com', 'GET', '/agents'),
      lambdaContext('mobius-api'),
    );
    expect(allowed.statusCode).toBe(200);
    expect(allowed.headers?.['Access-Control-Allow-Origin']).toBe('https://app.example.com');
    const missing = await browserApi(
      withOrigin('https://app.example.com', 'GET', '/agents/ghost'),
      lambdaContext('mobius-api'),
    );
    expect(missing.statusCode).toBe(404);
    expect(missing.headers?.['Access-Control-Allow-Origin']).toBe('https://app.example.com');
    // A page can read when to retry a shed request, and the request id to quote.
    expect(missing.headers?.['Access-Control-Expose-Headers']).toBe(
      'Retry-After, x-amzn-RequestId',
    );
    const other = await browserApi(
      withOrigin('https://evil.example.net', 'GET', '/agents'),
      lambdaContext('mobius-api'),
    );
    expect(other.headers?.['Access-Control-Allow-Origin']).not.toBe('https://evil.example.net');
  });

  it('sends no CORS headers when no origin is configured', async () => {
    const response = await api(
      withOrigin('https://app.example.com', 'GET', '/agents'),
      lambdaContext('mobius-api'),
    );
    expect(response.headers?.['Access-Control-Allow-Origin']).toBeUndefined();
  });
});

describe('HTTP API: bad input', () => {
  it('answers 400 with field paths, and changes nothing', async () => {
    const bad = await call('POST', '/agents', {
      ...card('x'),
      capabilities: [{ name: 'y', version: 'one' }],
    });
    expect(bad.status).toBe(400);
    expect(bad.body.error?.details.issues).toEqual([
      { path: 'capabilities.0.version', message: expect.stringContaining('semantic version') },
    ]);
    expect((await call('GET', '/agents/x')).status).toBe(404);
  });

  it('never answers 500 to malformed requests', async () => {
    const attempts: [string, string, unknown?, Record<string, string>?][] = [
      ['POST', '/agents', '{not json'],
      ['POST', '/agents', ''],
      ['POST', '/agents', '[]'],
      ['POST', '/agents', 'null'],
      ['GET', '/agents', undefined, { status: 'sleepy' }],
      ['GET', '/agents', undefined, { limit: '-4' }],
      ['GET', '/agents', undefined, { nextToken: 'garbage' }],
      ['GET', '/agents/has%20space'],
      ['POST', '/agents/echo/heartbeat', { inFlight: 'many' }],
      ['POST', '/discover', { capability: 'x', version: '>>>' }],
      ['POST', '/discover', 42],
      ['POST', '/messages', { to: 'echo' }],
      ['POST', '/messages', { to: 'ghost', payload: {} }],
      ['POST', '/broadcasts', { to: { capability: '' }, payload: {} }],
      ['POST', '/coordinations', { pattern: 'swarm' }],
      ['POST', '/coordinations', { pattern: 'pipeline', agents: ['ghost'] }],
      ['POST', '/coordinations', '"just a string"'],
      ['PUT', '/agents'],
      ['GET', '/nowhere'],
    ];
    for (const [method, path, body, query] of attempts) {
      const response = await call(method, path, body, query);
      expect(response.status, `${method} ${path} ${JSON.stringify(body)}`).toBeGreaterThanOrEqual(
        400,
      );
      expect(response.status, `${method} ${path} ${JSON.stringify(body)}`).toBeLessThan(500);
      expect(response.body.error?.code).toEqual(expect.any(String));
    }
  });
});
