import { ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import type { APIGatewayProxyEvent } from 'aws-lambda';
import { beforeAll, describe, expect, it } from 'vitest';
import { createApi } from '../../functions/api/app.ts';
import type { AccessSettings } from '../../functions/api/caller.ts';
import type { ApiDependencies } from '../../functions/api/dependencies.ts';
import { accessFromEnvironment } from '../../functions/api/environment.ts';
import { buffered } from '../../functions/api/http.ts';
import { CoordinationService } from '../../functions/coordination/service.ts';
import { createDocumentClient } from '../../functions/core/aws/dynamodb.ts';
import { MessageRouter } from '../../functions/core/messaging/router.ts';
import { AgentRegistry } from '../../functions/core/registry/agent-registry.ts';
import { EmbeddedEngine } from '../../functions/embedded/embedded-engine.ts';
import { lambdaContext } from '../../functions/embedded/lambda-context.ts';
import { messagingWorld } from '../support/agents.ts';
import { card } from '../support/cards.ts';
import { dynamoConfig } from '../support/dynamo.ts';

/**
 * Who may do what, at the handler level: the real API (middy router, error mapper) over the
 * registry on dynalite and SQS on local-aws-sqs, called with the identities API Gateway's IAM
 * authorisation puts in `requestContext.identity` — two agent roles, one operator role.
 */
const ACCOUNT = '123456789012';
const session = (role: string, name = 'session-1') =>
  `arn:aws:sts::${ACCOUNT}:assumed-role/${role}/${name}`;
const ALICE = session('AgentAlice');
const ALICE_ROLE = `arn:aws:iam::${ACCOUNT}:role/AgentAlice`;
const BOB = session('AgentBob');
const OPERATOR = session('MobiusOperator', 'ops-on-call');
const STACK = `arn:aws:cloudformation:us-east-1:${ACCOUNT}:stack/Mobius/0f1e2d3c`;
// Configured with its IAM path, which a session's ARN does not carry: normalised on both sides.
const ACCESS: AccessSettings = {
  mode: 'iam',
  operators: [`arn:aws:iam::${ACCOUNT}:role/ops/MobiusOperator`],
};

type World = Awaited<ReturnType<typeof messagingWorld>>;
let world: World;
let dependencies: ApiDependencies;

function event(
  method: string,
  path: string,
  options: { body?: unknown; query?: Record<string, string>; as?: string | null } = {},
): APIGatewayProxyEvent {
  const { body, query = {}, as } = options;
  return {
    httpMethod: method,
    path,
    resource: path,
    body: body === undefined ? null : JSON.stringify(body),
    headers: { 'content-type': 'application/json' },
    multiValueHeaders: {},
    queryStringParameters: Object.keys(query).length > 0 ? query : null,
    multiValueQueryStringParameters: null,
    pathParameters: null,
    stageVariables: null,
    isBase64Encoded: false,
    requestContext: {
      requestId: 'test',
      ...(as === undefined
        ? {}
        : { identity: { userArn: as, accountId: as === null ? null : ACCOUNT, caller: 'x' } }),
    } as unknown as APIGatewayProxyEvent['requestContext'],
  };
}

type Answer = {
  status: number;
  body: Record<string, unknown> & {
    error?: { code: string; message: string; details: Record<string, unknown> };
  };
};

async function callWith(
  deps: ApiDependencies,
  method: string,
  path: string,
  options: Parameters<typeof event>[2],
): Promise<Answer> {
  const response = await createApi(deps)(event(method, path, options), lambdaContext('mobius-api'));
  return { status: response.statusCode, body: JSON.parse(buffered(response).body) };
}

const as =
  (principal: string | null) =>
  (method: string, path: string, body?: unknown, query?: Record<string, string>) =>
    callWith(dependencies, method, path, {
      as: principal,
      ...(body === undefined ? {} : { body }),
      ...(query === undefined ? {} : { query }),
    });
const alice = as(ALICE);
const bob = as(BOB);
const operator = as(OPERATOR);

beforeAll(async () => {
  world = await messagingWorld('local');
  const router = new MessageRouter({
    registry: world.registry,
    eventBusName: world.eventBusName,
    sqs: world.sqs,
    eventBridge: world.eventBridge,
  });
  dependencies = {
    registry: world.registry,
    router,
    coordinations: new CoordinationService({
      registry: world.registry,
      engine: new EmbeddedEngine(async () => {
        throw new Error('no coordination runs in these tests');
      }),
    }),
    access: ACCESS,
  };
});

describe('cards are owned by the principal that registered them', () => {
  it('records the caller’s role as owner; any session of that role may update it, nobody else', async () => {
    const created = await alice('POST', '/agents', card('summarizer-a'));
    expect(created).toMatchObject({ status: 201, body: { agent: { owner: ALICE_ROLE } } });

    // Take-over with ?update=true and a Lambda of one's own: refused, and the card is unchanged.
    const hijack = card('summarizer-a', {
      endpoint: { lambdaArn: `arn:aws:lambda:us-east-1:${ACCOUNT}:function:keywords` },
    });
    const refused = await bob('POST', '/agents', hijack, { update: 'true' });
    expect(refused).toMatchObject({
      status: 403,
      body: {
        error: {
          code: 'FORBIDDEN',
          details: { agentId: 'summarizer-a', owner: ALICE_ROLE, action: 'update' },
        },
      },
    });
    expect(refused.body.error?.message).toContain(`owned by ${ALICE_ROLE}`);
    expect((await bob('GET', '/agents/summarizer-a')).body).toMatchObject({
      card: { endpoint: { lambdaArn: expect.stringContaining(':function:summarizer-a') } },
    });
    // Registering the identical card again is the owner's idempotent retry, not anyone's.
    expect((await bob('POST', '/agents', card('summarizer-a'))).status).toBe(403);

    const aliceAgain = as(session('AgentAlice', 'another-session'));
    const updated = await aliceAgain(
      'POST',
      '/agents',
      card('summarizer-a', { description: 'v2' }),
      { update: 'true' },
    );
    expect(updated).toMatchObject({ status: 200, body: { outcome: 'updated' } });
  });

  it('lets only the owner (or an operator) heartbeat: nobody else can mark an agent unhealthy', async () => {
    await alice('POST', '/agents', card('beater'));
    const spoofed = await bob('POST', '/agents/beater/heartbeat', { status: 'unhealthy' });
    expect(spoofed).toMatchObject({ status: 403, body: { error: { code: 'FORBIDDEN' } } });
    expect((await bob('GET', '/agents/beater')).body.status).toBe('initializing');

    expect((await alice('POST', '/agents/beater/heartbeat')).body.status).toBe('healthy');
    expect(
      (await operator('POST', '/agents/beater/heartbeat', { status: 'degraded' })).body.status,
    ).toBe('degraded');
    // An unknown agent is still a 404, whoever asks.
    expect((await bob('POST', '/agents/nobody-here/heartbeat')).status).toBe(404);
  });

  it('lets only the owner or an operator deregister', async () => {
    await alice('POST', '/agents', card('leaver'));
    await alice('POST', '/agents', card('kept'));
    expect((await bob('DELETE', '/agents/leaver')).status).toBe(403);
    expect((await bob('GET', '/agents/leaver')).status).toBe(200);
    expect((await alice('DELETE', '/agents/leaver')).status).toBe(200);
    expect((await bob('DELETE', '/agents/leaver')).status).toBe(404);
    expect((await operator('DELETE', '/agents/kept')).status).toBe(200);
    expect((await alice('GET', '/agents/kept')).status).toBe(404);
  });

  it('leaves stack-deployed cards and cards without an owner to operators', async () => {
    await world.registry.register(card('deployed-by-stack'), { owner: STACK });
    await world.registry.register(card('from-before-ownership'));
    for (const id of ['deployed-by-stack', 'from-before-ownership']) {
      const update = card(id, { description: 'changed' });
      expect((await alice('POST', '/agents', update, { update: 'true' })).status).toBe(403);
      expect((await alice('POST', `/agents/${id}/heartbeat`)).status).toBe(403);
      expect((await alice('DELETE', `/agents/${id}`)).status).toBe(403);
      expect((await operator('POST', '/agents', update, { update: 'true' })).status).toBe(200);
    }
    const stackOwned = await alice('DELETE', '/agents/deployed-by-stack');
    expect(stackOwned.body.error?.message).toContain('the stack that deployed it');
    // An operator's update keeps the owner: the stack's card stays the stack's.
    expect((await operator('GET', '/agents/deployed-by-stack')).body.owner).toBe(STACK);
  });

  it('refuses a change without an IAM identity, and local settings behind API Gateway', async () => {
    const unsigned = await as(null)('POST', '/agents', card('unsigned'));
    expect(unsigned).toMatchObject({ status: 403, body: { error: { code: 'FORBIDDEN' } } });
    expect(unsigned.body.error?.message).toMatch(/SigV4/);
    const misconfigured = await callWith(
      { ...dependencies, access: { mode: 'local' } },
      'POST',
      '/agents',
      { as: ALICE, body: card('misconfigured') },
    );
    expect(misconfigured.status).toBe(403);
    // On LocalStack (AWS_ENDPOINT_URL set), whose API Gateway passes no identity, a request
    // without one is the local operator; on AWS that setting is absent and it is refused.
    expect(accessFromEnvironment({})).toEqual({ mode: 'iam', operators: [] });
    const localStack = accessFromEnvironment({
      AWS_ENDPOINT_URL: 'http://127.0.0.1:4566',
      MOBIUS_OPERATORS: 'arn:aws:iam::123456789012:role/a/Ops',
    });
    expect(localStack).toEqual({
      mode: 'iam',
      operators: ['arn:aws:iam::123456789012:role/Ops'],
      anonymous: { principal: 'local', operator: true },
    });
    const onLocalStack = await callWith(
      { ...dependencies, access: localStack },
      'POST',
      '/agents',
      { as: null, body: card('on-localstack') },
    );
    expect(onLocalStack).toMatchObject({ status: 201, body: { agent: { owner: 'local' } } });
    expect((await alice('GET', '/agents/unsigned')).status).toBe(404);
    expect((await alice('GET', '/agents/misconfigured')).status).toBe(404);
    // A signed request there is still its signer.
    expect(
      (
        await callWith({ ...dependencies, access: localStack }, 'DELETE', '/agents/on-localstack', {
          as: BOB,
        })
      ).status,
    ).toBe(403);
  });
});

describe('messages carry the authenticated caller as sender', () => {
  async function received(queueUrl: string, messageId: string) {
    for (let attempt = 0; attempt < 5; attempt++) {
      const { Messages = [] } = await world.sqs.send(
        new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10 }),
      );
      for (const m of Messages) {
        const body = JSON.parse(m.Body ?? '{}') as { messageId?: string };
        if (body.messageId === messageId) return body;
      }
    }
    throw new Error(`message ${messageId} never arrived`);
  }

  it('refuses a `from` naming an agent the caller does not own; the sender is always the caller', async () => {
    const queues = await world.agentWithQueue('inbox');
    await alice('POST', '/agents', card('alice-agent'));

    const spoofed = await bob('POST', '/messages', {
      to: 'inbox',
      from: 'alice-agent',
      payload: { transfer: 100 },
    });
    expect(spoofed).toMatchObject({
      status: 403,
      body: { error: { code: 'FORBIDDEN', details: { agentId: 'alice-agent' } } },
    });
    // An id nobody registered is nobody's to claim.
    expect(
      (await bob('POST', '/messages', { to: 'inbox', from: 'ghost', payload: {} })).status,
    ).toBe(403);
    expect(
      (
        await bob('POST', '/broadcasts', {
          from: 'alice-agent',
          payload: {},
        })
      ).status,
    ).toBe(403);

    const own = await alice('POST', '/messages', {
      to: 'inbox',
      from: 'alice-agent',
      payload: { hello: 1 },
    });
    expect(own.status).toBe(202);
    expect(await received(queues.queueUrl, String(own.body.messageId))).toMatchObject({
      from: 'alice-agent',
      sender: ALICE_ROLE,
    });

    const viaApi = await bob('POST', '/messages', { to: 'inbox', payload: {} });
    expect(await received(queues.queueUrl, String(viaApi.body.messageId))).toMatchObject({
      from: 'api',
      sender: `arn:aws:iam::${ACCOUNT}:role/AgentBob`,
    });

    // Operators may speak for any agent; the sender still says who they are.
    const relayed = await operator('POST', '/messages', {
      to: 'inbox',
      from: 'alice-agent',
      payload: {},
    });
    expect(await received(queues.queueUrl, String(relayed.body.messageId))).toMatchObject({
      from: 'alice-agent',
      sender: `arn:aws:iam::${ACCOUNT}:role/MobiusOperator`,
    });
  });

  it('refuses a `sender` in the body: the field is not the caller’s to set', async () => {
    const forged = await bob('POST', '/messages', {
      to: 'inbox',
      sender: ALICE_ROLE,
      payload: {},
    });
    expect(forged).toMatchObject({ status: 400, body: { error: { code: 'VALIDATION_FAILED' } } });
  });
});

describe('endpoints are queues and functions of the deployment (SSRF)', () => {
  let deployed: ApiDependencies;
  beforeAll(() => {
    // The same table, under the policy a stack in eu-west-1 of ACCOUNT gives its API.
    deployed = {
      ...dependencies,
      registry: new AgentRegistry({
        tableName: world.registry.tableName,
        client: createDocumentClient(dynamoConfig('dynalite')),
        endpointPolicy: { region: 'eu-west-1', accounts: [ACCOUNT] },
      }),
    };
  });
  const register = (endpoint: Record<string, string>, id = 'ssrf') =>
    callWith(deployed, 'POST', '/agents', {
      as: ALICE,
      body: card(id, { endpoint }),
    });

  it.each([
    ['a file URL', { queueUrl: 'file:///etc/passwd' }, 'endpoint.queueUrl'],
    [
      'a loopback listener',
      { queueUrl: 'http://127.0.0.1:8080/123456789012/q' },
      'endpoint.queueUrl',
    ],
    [
      'SQS of another region',
      { queueUrl: 'https://sqs.us-east-1.amazonaws.com/123456789012/q' },
      'endpoint.queueUrl',
    ],
    [
      'a look-alike host',
      { queueUrl: 'https://sqs.eu-west-1.amazonaws.com.evil.example/123456789012/q' },
      'endpoint.queueUrl',
    ],
    [
      'another account’s queue',
      { queueUrl: 'https://sqs.eu-west-1.amazonaws.com/999999999999/q' },
      'endpoint.queueUrl',
    ],
    [
      'another account’s Lambda',
      { lambdaArn: 'arn:aws:lambda:eu-west-1:999999999999:function:theirs' },
      'endpoint.lambdaArn',
    ],
    [
      'a queue ARN that is not the queue URL',
      {
        queueUrl: 'https://sqs.eu-west-1.amazonaws.com/123456789012/q',
        queueArn: 'arn:aws:sqs:eu-west-1:123456789012:other',
      },
      'endpoint.queueArn',
    ],
  ])('refuses %s (400 naming the field) and writes nothing', async (_what, endpoint, path) => {
    const answer = await register(endpoint);
    expect(answer).toMatchObject({ status: 400, body: { error: { code: 'VALIDATION_FAILED' } } });
    expect(answer.body.error?.details.issues).toEqual(
      expect.arrayContaining([expect.objectContaining({ path })]),
    );
    expect((await alice('GET', '/agents/ssrf')).status).toBe(404);
  });

  it('admits the queues and functions of its own region and accounts', async () => {
    const answer = await register(
      {
        queueUrl: 'https://sqs.eu-west-1.amazonaws.com/123456789012/mobius-worker',
        queueArn: 'arn:aws:sqs:eu-west-1:123456789012:mobius-worker',
        lambdaArn: 'arn:aws:lambda:eu-west-1:123456789012:function:worker',
      },
      'ssrf-ok',
    );
    expect(answer.status).toBe(201);
  });
});
