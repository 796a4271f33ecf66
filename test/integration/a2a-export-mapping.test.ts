import { randomUUID } from 'node:crypto';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { type DynamoDBDocumentClient, PutCommand } from '@aws-sdk/lib-dynamodb';
import type { APIGatewayProxyEvent } from 'aws-lambda';
import { beforeAll, describe, expect, it } from 'vitest';
import { a2aCardOf } from '../../functions/a2a/agent-card.ts';
import { A2aEndpoint, assertVersion } from '../../functions/a2a/endpoint.ts';
import { A2aError } from '../../functions/a2a/json-rpc.ts';
import { payloadOf } from '../../functions/a2a/parts.ts';
import { readCall } from '../../functions/a2a/requests.ts';
import { TaskLog } from '../../functions/a2a/task-log.ts';
import { apiBaseUrl } from '../../functions/api/routes/a2a.ts';
import { createDocumentClient } from '../../functions/core/aws/dynamodb.ts';
import { agentCardSchema } from '../../functions/core/model/agent-card.ts';
import { ensureEventsTable } from '../../functions/core/registry/create-table.ts';
import {
  DynamoEventLog,
  MAX_EVENT_BYTES,
} from '../../functions/core/streaming/dynamo-event-log.ts';
import type { CoordinationEventLog } from '../../functions/core/streaming/event-log.ts';
import { dynamoConfig } from '../support/dynamo.ts';

/**
 * The A2A export's mappings one by one (the end-to-end behaviour is a2a-export.test.ts's): a
 * Mobius card as an A2A card, the API's base URL as API Gateway and the embedded server give it,
 * message parts as an agent's input, the protocol version, and tasks in the event log (dynalite).
 */

const card = agentCardSchema.parse({
  agentId: 'writer',
  agentType: 'llm',
  description: 'Writes things',
  capabilities: [
    { name: 'drafting', version: '1.2.0', metadata: { tags: ['prose', 3], examples: ['a memo'] } },
    { name: 'drafting', version: '1.10.0', metadata: { description: 'Drafts, newer' } },
    { name: 'editing', version: '0.9.1' },
  ],
  endpoint: { queueUrl: 'https://sqs.eu-west-1.amazonaws.com/123456789012/writer' },
});

describe('the A2A card of a Mobius card', () => {
  it('has one skill per capability name, at its highest version, and the highest version overall', () => {
    const a2a = a2aCardOf(card, { endpointUrl: 'https://x/v1/a2a/writer', authentication: 'none' });
    expect(a2a.version).toBe('1.10.0');
    expect(a2a.skills).toEqual([
      {
        id: 'drafting',
        name: 'drafting',
        description: 'Drafts, newer (drafting 1.10.0)',
        tags: ['llm'],
        inputModes: ['application/json', 'text/plain'],
        outputModes: ['application/json', 'text/plain'],
      },
      expect.objectContaining({ id: 'editing', description: 'Writes things (editing 0.9.1)' }),
    ]);
  });

  it('keeps string tags and examples only, and streams only with a Lambda endpoint', () => {
    const older = agentCardSchema.parse({ ...card, capabilities: [card.capabilities[0]] });
    const a2a = a2aCardOf(older, { endpointUrl: 'u', authentication: 'sigv4' });
    expect(a2a.skills[0]).toMatchObject({ tags: ['llm', 'prose'], examples: ['a memo'] });
    expect(a2a.capabilities.streaming).toBe(false);
    expect(a2a.securitySchemes?.sigv4?.httpAuthSecurityScheme.scheme).toBe('AWS4-HMAC-SHA256');
    const lambda = agentCardSchema.parse({
      ...card,
      endpoint: { lambdaArn: 'arn:aws:lambda:eu-west-1:123456789012:function:writer' },
    });
    expect(a2aCardOf(lambda, { endpointUrl: 'u', authentication: 'none' }).capabilities).toEqual({
      streaming: true,
      pushNotifications: false,
    });
  });
});

describe('the API base URL', () => {
  const event = (
    path: string,
    context: Record<string, unknown>,
    headers: Record<string, string> = {},
  ) => ({ path, headers, requestContext: context }) as unknown as APIGatewayProxyEvent;

  it('is the stage URL behind API Gateway, a custom domain with its base path, or the embedded server', () => {
    const path = '/a2a/w';
    const domain = 'abc.execute-api.eu-west-1.amazonaws.com';
    expect(apiBaseUrl(event(path, { domainName: domain, stage: 'v1', path: `/v1${path}` }))).toBe(
      `https://${domain}/v1`,
    );
    expect(
      apiBaseUrl(
        event(path, { domainName: 'api.example.com', stage: 'v1', path: `/agents${path}` }),
      ),
    ).toBe('https://api.example.com/agents');
    expect(apiBaseUrl(event(path, { domainName: 'api.example.com', stage: 'v1', path }))).toBe(
      'https://api.example.com',
    );
    expect(apiBaseUrl(event(path, { stage: 'local', path }, { host: '127.0.0.1:4000' }))).toBe(
      'http://127.0.0.1:4000',
    );
  });
});

describe('message parts as input, and the protocol version', () => {
  const message = (parts: unknown[]) => ({ messageId: 'm', parts }) as never;

  it('gives one data part as it is and text parts as { text }, and refuses the rest', () => {
    expect(payloadOf(message([{ data: [1, { a: 2 }] }]))).toEqual([1, { a: 2 }]);
    expect(payloadOf(message([{ text: 'one' }, { text: 'two' }]))).toEqual({ text: 'one\ntwo' });
    const refusal = (parts: unknown[]) => {
      try {
        payloadOf(message(parts));
      } catch (error) {
        return error instanceof A2aError ? error.kind : 'other';
      }
      return 'accepted';
    };
    expect(refusal([{ data: 1 }, { data: 2 }])).toBe('invalidParams');
    expect(refusal([{ text: 'a' }, { data: 2 }])).toBe('invalidParams');
    expect(refusal([{ text: 'a' }, { raw: 'AAAA' }])).toBe('contentTypeNotSupported');
  });

  it('takes a missing A2A-Version as 1.0 and refuses versions other than 1.0', () => {
    for (const version of [undefined, '', '1.0', '1', '1.0.3', ' 1.0 '])
      expect(() => assertVersion(version), String(version)).not.toThrow();
    for (const version of ['0.3', '1.1', '2.0', 'latest'])
      expect(() => assertVersion(version), version).toThrow(/not supported/);
  });

  it('reads the request id even from a request it refuses', () => {
    expect(readCall('{"jsonrpc":"2.0","id":"x","method":"tasks/get"}')).toMatchObject({
      id: 'x',
      error: { kind: 'methodNotFound' },
    });
    expect(readCall('{"jsonrpc":"2.0","id":{"no":1},"method":"GetTask"}')).toMatchObject({
      id: null,
      error: { kind: 'invalidRequest' },
    });
    expect(readCall(null)).toMatchObject({ id: null, error: { kind: 'parseError' } });
  });
});

describe('tasks in the event log', () => {
  let log: DynamoEventLog;
  const task = () => ({
    taskId: randomUUID(),
    agentId: 'writer',
    contextId: `ctx-${randomUUID()}`,
    sender: 'arn:aws:iam::123456789012:role/writer-caller',
  });

  let tableName: string;

  beforeAll(async () => {
    tableName = `a2a-events-${randomUUID()}`;
    await ensureEventsTable(new DynamoDBClient(dynamoConfig('dynalite')), tableName);
    log = new DynamoEventLog({ tableName, client: createDocumentClient(dynamoConfig('dynalite')) });
  });

  it('answers CancelTask by the end that came first, also when that end is written after the cancel', async () => {
    // The agent's success takes its id first; its item is held back until the cancel has been
    // written and read once — the moment a cancel deciding on that read would wrongly win.
    let releaseSuccess: () => void = () => undefined;
    const successHeld = new Promise<void>((resolve) => {
      releaseSuccess = resolve;
    });
    let successTaken: () => void = () => undefined;
    const successWaiting = new Promise<void>((resolve) => {
      successTaken = resolve;
    });
    const documents = createDocumentClient(dynamoConfig('dynalite'));
    const holding = {
      send: async (command: unknown, options?: unknown) => {
        if (
          command instanceof PutCommand &&
          JSON.stringify(command.input.Item).includes('step.succeeded')
        ) {
          successTaken();
          await successHeld;
        }
        return documents.send(command as never, options as never);
      },
    } as unknown as DynamoDBDocumentClient;
    const slowLog = new DynamoEventLog({ tableName, client: holding });
    let cancelWritten = false;
    const watched = new Proxy(slowLog, {
      get(target, property) {
        if (property === 'append')
          return async (...args: Parameters<CoordinationEventLog['append']>) => {
            const logged = await target.append(...args);
            if (args[1].some((event) => event.type === 'step.failed')) cancelWritten = true;
            return logged;
          };
        if (property === 'read')
          return async (...args: Parameters<CoordinationEventLog['read']>) => {
            const read = await target.read(...args);
            if (cancelWritten) releaseSuccess();
            return read;
          };
        const value = Reflect.get(target, property, target);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const tasks = new TaskLog(watched);
    const racing = task();
    await tasks.begin(racing);
    const finishing = tasks.end(racing, { state: 'completed', output: 'done', durationMs: 3 });
    await successWaiting;

    const endpoint = new A2aEndpoint({
      router: {} as never,
      tasks,
      limits: { waitSeconds: 25, streamSeconds: 880 },
    });
    const answer = await endpoint.answer({
      agentId: racing.agentId,
      sender: racing.sender,
      operator: false,
      requestId: 'r-race',
      version: '1.0',
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: 1,
        method: 'CancelTask',
        params: { id: racing.taskId },
      }),
    });
    await finishing;
    expect(answer).toMatchObject({ kind: 'response', response: { error: { code: -32002 } } });
    expect((await tasks.get(racing.taskId))?.state).toBe('TASK_STATE_COMPLETED');
  });

  it("tells a stream's client CANCELED, as GetTask and CancelTask do, when a cancel was logged before the agent's answer", async () => {
    // The cancel is logged while the agent finishes, and its answer comes before the stream's
    // watcher has read the cancel (it polls the log; here it never reads it in time).
    let cancelLogged: () => void = () => undefined;
    const logged = new Promise<void>((resolve) => {
      cancelLogged = resolve;
    });
    const lagging = new Proxy(log, {
      get(target, property) {
        if (property === 'append')
          return async (...args: Parameters<CoordinationEventLog['append']>) => {
            const appended = await target.append(...args);
            if (args[1].some((event) => event.type === 'step.failed')) cancelLogged();
            return appended;
          };
        if (property === 'follow')
          return async function* (
            _key: string,
            options: { signal?: AbortSignal } = {},
          ): AsyncGenerator<never> {
            const { signal } = options;
            if (signal === undefined || signal.aborted) return;
            await new Promise((resolve) => signal.addEventListener('abort', resolve));
          };
        const value = Reflect.get(target, property, target);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const router = {
      request: async () => {
        throw new Error('not sent in one piece');
      },
      requestStream: async () => ({
        frames: (async function* () {
          await logged;
          yield { response: { payload: 'the answer' } };
        })(),
      }),
    };
    const endpoint = new A2aEndpoint({
      router: router as never,
      tasks: new TaskLog(lagging),
      limits: { waitSeconds: 25, streamSeconds: 880 },
    });
    const caller = {
      agentId: 'writer',
      sender: 'arn:aws:iam::123456789012:role/writer-caller',
      operator: false,
      requestId: 'r-mirror',
      version: '1.0',
    };
    const rpc = (method: string, params: unknown) =>
      JSON.stringify({ jsonrpc: '2.0', id: 1, method, params });
    const answer = await endpoint.answer({
      ...caller,
      body: rpc('SendStreamingMessage', {
        message: { messageId: 'm1', role: 'ROLE_USER', parts: [{ text: 'hi' }] },
      }),
    });
    if (answer.kind !== 'stream') throw new Error('expected a stream');
    type Result = {
      task?: { id: string };
      statusUpdate?: { status: { state: string } };
      artifactUpdate?: { artifact: { artifactId: string } };
    };
    const states: string[] = [];
    const artifacts: string[] = [];
    let taskId = '';
    let canceling: Promise<unknown> | undefined;
    for await (const event of answer.events(new AbortController().signal)) {
      const result = (event as { result?: Result }).result ?? {};
      if (result.task) taskId = result.task.id;
      if (result.artifactUpdate) artifacts.push(result.artifactUpdate.artifact.artifactId);
      if (result.statusUpdate) {
        states.push(result.statusUpdate.status.state);
        if (canceling === undefined)
          canceling = endpoint.answer({ ...caller, body: rpc('CancelTask', { id: taskId }) });
      }
    }
    const canceled = (await canceling) as { response: { result?: Result['statusUpdate'] } };
    const read = (await endpoint.answer({ ...caller, body: rpc('GetTask', { id: taskId }) })) as {
      response: { result?: Result['statusUpdate'] };
    };
    expect(canceled.response.result?.status.state).toBe('TASK_STATE_CANCELED');
    expect(read.response.result?.status.state).toBe('TASK_STATE_CANCELED');
    expect(states).toEqual(['TASK_STATE_WORKING', 'TASK_STATE_CANCELED']);
    // Nor was it given the output the record says was canceled.
    expect(artifacts).toEqual([]);
  });

  it('ends a task with its first end: a cancel before the success wins, and after it loses', async () => {
    const tasks = new TaskLog(log);
    const canceledFirst = task();
    await tasks.begin(canceledFirst);
    expect((await tasks.get(canceledFirst.taskId))?.state).toBe('TASK_STATE_WORKING');
    await tasks.end(canceledFirst, { state: 'canceled', message: 'stop' });
    await tasks.end(canceledFirst, { state: 'completed', output: 'late', durationMs: 5 });
    expect(await tasks.get(canceledFirst.taskId)).toMatchObject({
      ...canceledFirst,
      state: 'TASK_STATE_CANCELED',
      reason: { code: 'CANCELED', message: 'stop' },
    });

    const completedFirst = task();
    await tasks.end(
      completedFirst,
      { state: 'completed', output: { n: 1 }, durationMs: 5 },
      { start: completedFirst },
    );
    await tasks.end(completedFirst, { state: 'canceled', message: 'too late' });
    expect(await tasks.get(completedFirst.taskId)).toMatchObject({
      sender: completedFirst.sender,
      state: 'TASK_STATE_COMPLETED',
      output: { n: 1 },
    });
  });

  it('keeps a failure with its code, and leaves out an output too large for the log', async () => {
    const tasks = new TaskLog(log);
    const failed = task();
    await tasks.end(
      failed,
      { state: 'failed', code: 'TIMEOUT', message: 'too slow' },
      { start: failed },
    );
    expect(await tasks.get(failed.taskId)).toMatchObject({
      state: 'TASK_STATE_FAILED',
      reason: { code: 'TIMEOUT', message: 'too slow' },
    });

    const large = task();
    const output = 'x'.repeat(MAX_EVENT_BYTES);
    await tasks.end(large, { state: 'completed', output, durationMs: 1 }, { start: large });
    expect(await tasks.get(large.taskId)).toMatchObject({
      state: 'TASK_STATE_COMPLETED',
      output: null,
      outputOmitted: true,
    });
  });

  it('keeps nothing and finds nothing without an event log', async () => {
    const tasks = new TaskLog(undefined);
    const lost = task();
    await tasks.end(lost, { state: 'completed', output: 1, durationMs: 1 }, { start: lost });
    expect(tasks.keeps).toBe(false);
    expect(await tasks.get(lost.taskId)).toBeUndefined();
  });
});
