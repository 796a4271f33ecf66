import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApi } from '../../functions/api/app.ts';
import type { AccessSettings } from '../../functions/api/caller.ts';
import type { ApiDependencies } from '../../functions/api/dependencies.ts';
import { buffered } from '../../functions/api/http.ts';
import { FatalAgentError } from '../../functions/core/messaging/agent-errors.ts';
import {
  agentQueueSchema,
  deadLettersSchema,
  redriveSchema,
} from '../../functions/core/messaging/queue-inspector.ts';
import type { AgentDefinition } from '../../functions/core/sdk/define-agent.ts';
import { LOCAL_CREDENTIALS, LOCAL_REGION } from '../../functions/embedded/dynamodb-engine.ts';
import { lambdaContext } from '../../functions/embedded/lambda-context.ts';
import { EmbeddedRuntime } from '../../functions/embedded/runtime.ts';
import { type Answer, gatewayEvent, requestJson } from '../support/api-json.ts';
import { card } from '../support/cards.ts';
import { eventually as poll } from '../support/poll.ts';

/**
 * The operators' queue routes — GET /agents/{id}/queue, GET /agents/{id}/dead-letters, POST
 * /agents/{id}/dead-letters/redrive — through the embedded runtime's HTTP API, over its SQS
 * (local-aws-sqs), with real agents: one that parks what it cannot handle in its dead-letter queue
 * until it is mended, and whose dead letters are looked at and moved back to be handled.
 */
let runtime: EmbeddedRuntime;
/** Whether `flaky` refuses its messages for good (FatalAgentError parks them in its DLQ at once). */
let broken = true;
const handled: unknown[] = [];

const agent = (agentId: string, extra: Partial<AgentDefinition> = {}): AgentDefinition => ({
  agentId,
  agentType: 'worker',
  description: `queue test agent ${agentId}`,
  capabilities: [{ name: 'working', version: '1.0.0' }],
  handler: async () => ({}),
  ...extra,
});

const http = (method: string, path: string, body?: unknown) =>
  requestJson(runtime.apiUrl ?? '', method, path, body);

/** Up to 15 s: queue moves and receives take seconds on the emulator. */
const eventually = <T>(read: () => Promise<T>, ok: (value: T) => boolean) => poll(read, ok, 150);

const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/;
/** The embedded runtime's SQS, as the runtime points every client made from the environment at it. */
const localSqs = () =>
  new SQSClient({
    region: LOCAL_REGION,
    credentials: LOCAL_CREDENTIALS,
    endpoint: process.env.AWS_ENDPOINT_URL_SQS ?? '',
  });

beforeAll(async () => {
  runtime = await EmbeddedRuntime.start({
    agents: [
      agent('flaky', {
        handler: async (message) => {
          if (broken) throw new FatalAgentError('cannot handle orders yet');
          handled.push(message.input);
          return {};
        },
      }),
      agent('in-order'),
      agent('spare'),
      agent('delayed-work'),
    ],
    ordered: ['in-order'],
    port: 0,
  });
  // A card reached through Lambda only: it has no queue to look at.
  const lambdaArn = runtime.agents.find((a) => a.agentId === 'flaky')?.lambdaArn;
  await runtime.registry.register(card('lambda-only', { endpoint: { lambdaArn } }));
}, 60_000);

afterAll(async () => {
  await runtime?.stop();
});

describe('GET /agents/{id}/queue', () => {
  it("shows an idle agent's queue and its dead-letter queue, read now", async () => {
    const before = Date.now();
    const answer = await http('GET', '/agents/flaky/queue');
    expect(answer.status, JSON.stringify(answer.body)).toBe(200);
    expect(agentQueueSchema.parse(answer.body)).toEqual(answer.body);
    expect(answer.body).toEqual({
      agentId: 'flaky',
      queueUrl: expect.stringMatching(/\/mobius-flaky$/),
      fifo: false,
      depth: 0,
      inFlight: 0,
      delayed: 0,
      // No CloudWatch in the embedded runtime: unknown.
      oldestMessageAgeSeconds: null,
      deadLetter: { queueUrl: expect.stringMatching(/\/mobius-flaky-dlq$/), depth: 0 },
      readAt: expect.stringMatching(ISO),
    });
    expect(Date.parse(answer.body.readAt)).toBeGreaterThanOrEqual(before - 1);
  });

  it('says when the queue is FIFO, and names its FIFO dead-letter queue', async () => {
    const answer = await http('GET', '/agents/in-order/queue');
    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({
      fifo: true,
      queueUrl: expect.stringMatching(/\/mobius-in-order\.fifo$/),
      deadLetter: { queueUrl: expect.stringMatching(/\/mobius-in-order-dlq\.fifo$/), depth: 0 },
    });
  });

  it('counts a message sent with a delay as delayed, not waiting', async () => {
    const { queueUrl } = (await http('GET', '/agents/delayed-work/queue')).body;
    const sqs = localSqs();
    await sqs.send(
      new SendMessageCommand({
        QueueUrl: queueUrl,
        MessageBody: '{"later":true}',
        DelaySeconds: 900,
      }),
    );
    sqs.destroy();
    const answer = await eventually(
      () => http('GET', '/agents/delayed-work/queue'),
      (a) => a.body.delayed === 1,
    );
    expect(answer.body).toMatchObject({ depth: 0, delayed: 1 });
  });
});

describe('a dead letter: looked at, left where it is, redriven and handled', () => {
  let first: Answer;

  it('is parked in the agent’s dead-letter queue when the agent cannot handle it', async () => {
    const sent = await http('POST', '/messages', { to: 'flaky', payload: { order: 42 } });
    expect(sent.status, JSON.stringify(sent.body)).toBe(202);
    const queue = await eventually(
      () => http('GET', '/agents/flaky/queue'),
      (a) => a.body.deadLetter?.depth === 1,
    );
    expect(queue.body).toMatchObject({ depth: 0, inFlight: 0, deadLetter: { depth: 1 } });
  });

  it('shows the dead letter with its body, why it was parked, when it was sent', async () => {
    first = await http('GET', '/agents/flaky/dead-letters');
    expect(first.status, JSON.stringify(first.body)).toBe(200);
    expect(deadLettersSchema.parse(first.body)).toEqual(first.body);
    expect(first.body).toMatchObject({
      agentId: 'flaky',
      deadLetterQueueUrl: expect.stringMatching(/\/mobius-flaky-dlq$/),
      depth: 1,
    });
    expect(first.body.messages).toHaveLength(1);
    const [letter] = first.body.messages;
    expect(letter).toEqual({
      messageId: expect.any(String),
      sentAt: expect.stringMatching(ISO),
      receiveCount: expect.any(Number),
      // The Mobius envelope the router sent, parsed.
      body: expect.objectContaining({ to: 'flaky', type: 'request', payload: { order: 42 } }),
      attributes: { 'mobius-error': 'cannot handle orders yet', 'mobius-agent': 'flaky' },
    });
  });

  it('is still there on a second look, which counts as one more receive', async () => {
    const second = await http('GET', '/agents/flaky/dead-letters?limit=1');
    expect(second.status).toBe(200);
    expect(second.body.depth).toBe(1);
    expect(second.body.messages.map((m: { messageId: string }) => m.messageId)).toEqual([
      first.body.messages[0].messageId,
    ]);
    expect(second.body.messages[0].receiveCount).toBeGreaterThan(
      first.body.messages[0].receiveCount,
    );
    expect((await http('GET', '/agents/flaky/queue')).body.deadLetter.depth).toBe(1);
    expect(handled).toEqual([]);
  });

  it('refuses a limit outside 1–10, naming the field', async () => {
    for (const limit of ['0', '11', 'ten', '2.5']) {
      const refused = await http('GET', `/agents/flaky/dead-letters?limit=${limit}`);
      expect(refused.status, limit).toBe(400);
      expect(refused.body.error.code).toBe('VALIDATION_FAILED');
      expect(refused.body.error.details.issues[0].path).toBe('limit');
    }
    expect((await http('GET', '/agents/flaky/dead-letters?max=3')).status).toBe(400);
  });

  it('is moved back to the queue by a redrive (202), and the mended agent handles it', async () => {
    broken = false;
    const redrive = await http('POST', '/agents/flaky/dead-letters/redrive');
    expect(redrive.status, JSON.stringify(redrive.body)).toBe(202);
    expect(redriveSchema.parse(redrive.body)).toEqual(redrive.body);
    expect(redrive.body).toEqual({
      agentId: 'flaky',
      taskHandle: expect.any(String),
      source: expect.stringMatching(/^arn:aws:sqs:[^:]+:\d+:mobius-flaky-dlq$/),
      destination: expect.stringMatching(/^arn:aws:sqs:[^:]+:\d+:mobius-flaky$/),
      approximateMessagesToMove: 1,
    });
    await eventually(
      async () => handled,
      (h) => h.length > 0,
    );
    expect(handled).toEqual([{ order: 42 }]);
    const after = await eventually(
      () => http('GET', '/agents/flaky/queue'),
      (a) => a.body.deadLetter.depth === 0 && a.body.depth === 0 && a.body.inFlight === 0,
    );
    expect(after.body.deadLetter.depth).toBe(0);
    const empty = await http('GET', '/agents/flaky/dead-letters');
    expect(empty.body).toMatchObject({ depth: 0, messages: [] });
  });

  it('starts one move at a time: a second redrive while one runs is a 409 with SQS’s reason', async () => {
    // Both at once on an empty dead-letter queue: SQS runs one move task per queue at a time.
    const answers = await Promise.all([
      http('POST', '/agents/spare/dead-letters/redrive'),
      http('POST', '/agents/spare/dead-letters/redrive'),
    ]);
    const statuses = answers.map((a) => a.status).sort();
    expect(statuses, JSON.stringify(answers.map((a) => a.body))).toEqual([202, 409]);
    const started = answers.find((a) => a.status === 202);
    const refused = answers.find((a) => a.status === 409);
    // An empty dead-letter queue is no error: the task starts, with nothing to move.
    expect(started?.body.approximateMessagesToMove).toBe(0);
    expect(refused?.body.error.code).toBe('CONFLICT');
    expect(refused?.body.error.message).toMatch(/^SQS refused to start moving the dead letters/);
    expect(refused?.body.error.message).toMatch(/already a task running/);
    expect(refused?.body.error.details.runningTask).toMatchObject({
      destination: started?.body.destination,
      startedAt: expect.stringMatching(ISO),
    });
  });
});

describe('agents the routes cannot serve', () => {
  it('409 for an agent without a queue, naming why, on every route', async () => {
    for (const [method, path] of [
      ['GET', '/agents/lambda-only/queue'],
      ['GET', '/agents/lambda-only/dead-letters'],
      ['POST', '/agents/lambda-only/dead-letters/redrive'],
    ] as const) {
      const refused = await http(method, path);
      expect(refused.status, path).toBe(409);
      expect(refused.body.error).toMatchObject({
        code: 'CONFLICT',
        message: expect.stringMatching(/lambda-only has no queue: .*no queueUrl/),
        details: { agentId: 'lambda-only' },
      });
    }
  });

  it('404 for an agent nobody registered', async () => {
    expect((await http('GET', '/agents/nobody/queue')).status).toBe(404);
    expect((await http('POST', '/agents/nobody/dead-letters/redrive')).status).toBe(404);
  });
});

describe('who may look and redrive (IAM access settings)', () => {
  const ACCOUNT = '123456789012';
  const session = (role: string) => `arn:aws:sts::${ACCOUNT}:assumed-role/${role}/session-1`;
  const ACCESS: AccessSettings = {
    mode: 'iam',
    operators: [`arn:aws:iam::${ACCOUNT}:role/MobiusOperator`],
  };

  /** The API as API Gateway calls it: the signer's identity in the request context. */
  async function as(
    principal: string,
    method: string,
    path: string,
    extra: Partial<ApiDependencies> = {},
  ): Promise<Answer> {
    const api = createApi({
      registry: runtime.registry,
      router: runtime.router,
      coordinations: runtime.coordinations,
      access: ACCESS,
      sqs: localSqs(),
      ...extra,
    });
    const event = gatewayEvent(method, path, { caller: principal });
    const response = buffered(await api(event, lambdaContext('mobius-api')));
    return { status: response.statusCode, body: JSON.parse(response.body) };
  }

  it('refuses callers who are not operators, before reading anything', async () => {
    for (const [method, path] of [
      ['GET', '/agents/flaky/queue'],
      ['GET', '/agents/flaky/dead-letters'],
      ['POST', '/agents/flaky/dead-letters/redrive'],
      // Nor does a refusal say which agents exist.
      ['GET', '/agents/nobody/queue'],
    ] as const) {
      const refused = await as(session('AgentOwner'), method, path);
      expect(refused.status, path).toBe(403);
      expect(refused.body.error.code).toBe('FORBIDDEN');
      expect(refused.body.error.message).toMatch(/only operators may/);
    }
  });

  it("shows an operator the oldest message's age its reader gives, and null when reading fails", async () => {
    const operator = session('MobiusOperator');
    const read = await as(operator, 'GET', '/agents/flaky/queue', {
      oldestMessageAge: {
        seconds: async ({ queueArn }) => (queueArn.endsWith(':mobius-flaky') ? 42 : 0),
      },
    });
    expect(read.status, JSON.stringify(read.body)).toBe(200);
    expect(read.body.oldestMessageAgeSeconds).toBe(42);
    const failing = await as(operator, 'GET', '/agents/flaky/queue', {
      oldestMessageAge: {
        seconds: async () => {
          throw new Error('AccessDenied: cloudwatch:GetMetricData');
        },
      },
    });
    expect(failing.status).toBe(200);
    expect(failing.body.oldestMessageAgeSeconds).toBeNull();
  });
});
