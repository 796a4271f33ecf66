import { randomUUID } from 'node:crypto';
import {
  type Message,
  type Part,
  SendMessageRequest,
  type StreamResponse,
  type Task,
  TaskState,
} from '@a2a-js/sdk';
import { type Client, ClientFactory } from '@a2a-js/sdk/client';
import { TaskNotCancelableError, TaskNotFoundError } from '@a2a-js/sdk/errors';
import type { APIGatewayProxyEvent } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXAMPLE_AGENTS } from '../../examples/agents/index.ts';
import { keywordExtractor } from '../../examples/agents/keyword-extractor.ts';
import { createNarrator } from '../../examples/agents/narrator.ts';
import { summarizer } from '../../examples/agents/summarizer.ts';
import { createApi } from '../../functions/api/app.ts';
import type { ApiDependencies } from '../../functions/api/dependencies.ts';
import { buffered, isStreaming } from '../../functions/api/http.ts';
import { FatalAgentError } from '../../functions/core/messaging/agent-errors.ts';
import type { AgentDefinition } from '../../functions/core/sdk/define-agent.ts';
import { lambdaContext } from '../../functions/embedded/lambda-context.ts';
import { EmbeddedRuntime } from '../../functions/embedded/runtime.ts';
import { gatewayEvent as proxyEvent } from '../support/api-json.ts';

/**
 * Every Mobius agent is an A2A 1.0 agent (issue 19, export), checked with an independent
 * implementation: the A2A JS SDK's own client (`@a2a-js/sdk` 1.3.0, ClientFactory.createFromUrl)
 * against the embedded runtime's API over real HTTP. What a user relies on: the card leads the
 * SDK to the agent's JSON-RPC endpoint; a message is answered as a completed task whose artifact is
 * the agent's output; a stream carries the agent's chunks as they come; tasks can be read back and
 * canceled while they run (which stops the agent); failures are FAILED tasks, not broken calls;
 * bad requests get A2A's error codes with the field that is wrong.
 */

const TEXT =
  'Serverless agents coordinate through queues. Queues absorb bursts of agents. ' +
  'Coordinators route work to agents by capability, and queues keep the work durable.';

/** The stream the cancel test holds open; released when the test ends. */
let releaseWaiting: () => void = () => undefined;
const waitingGate = () =>
  new Promise<void>((resolve) => {
    releaseWaiting = resolve;
  });
/**
 * What the waiting agent did: a stopped invocation ends its generator at its next `yield` (the
 * agent SDK's streaming entry), so once released it ends without reaching its `return`.
 */
const waitingAgent = { ended: 0, returned: 0 };

const failing: AgentDefinition = {
  agentId: 'failing',
  agentType: 'test',
  description: 'Fails every request',
  capabilities: [{ name: 'failure', version: '1.0.0' }],
  handler: () => {
    throw new FatalAgentError('the failing agent refuses: nothing works today');
  },
};

const waiting: AgentDefinition = {
  agentId: 'waiting',
  agentType: 'test',
  description: 'Streams a first chunk, then waits until released',
  capabilities: [
    {
      name: 'waiting',
      version: '2.1.0',
      metadata: { description: 'Holds its answer open', tags: ['slow'], examples: ['wait'] },
    },
  ],
  async *handler() {
    try {
      yield 'first ';
      await waitingGate();
      yield 'second';
      waitingAgent.returned++;
      return { done: true };
    } finally {
      waitingAgent.ended++;
    }
  },
};

const brokenStream: AgentDefinition = {
  agentId: 'broken-stream',
  agentType: 'test',
  description: 'Streams one chunk, then fails',
  capabilities: [{ name: 'breaking', version: '1.0.0' }],
  async *handler() {
    yield 'a start ';
    throw new FatalAgentError('broke after one chunk');
  },
};

let runtime: EmbeddedRuntime;
let api: string;

beforeAll(async () => {
  runtime = await EmbeddedRuntime.start({
    agents: [
      keywordExtractor,
      summarizer,
      createNarrator({ delayMs: 0 }),
      failing,
      waiting,
      brokenStream,
    ],
    port: 0,
  });
  api = runtime.apiUrl ?? '';
}, 60_000);

afterAll(async () => {
  releaseWaiting();
  await runtime?.stop();
});

/** The SDK's client for one agent, from its card (the base URL ends in `/`: see docs/a2a.md). */
function clientFor(agentId: string): Promise<Client> {
  return new ClientFactory().createFromUrl(`${api}/a2a/${agentId}/`);
}

function textMessage(text: string, extra: Record<string, unknown> = {}): SendMessageRequest {
  return SendMessageRequest.fromJSON({
    message: { messageId: randomUUID(), role: 'ROLE_USER', parts: [{ text }], ...extra },
  });
}

function asTask(result: Message | Task): Task {
  if (!('status' in result)) throw new Error(`expected a task, got ${JSON.stringify(result)}`);
  return result;
}

function dataOf(part: Part | undefined): unknown {
  return part?.content?.$case === 'data' ? part.content.value : undefined;
}

function textOf(part: Part | undefined): string | undefined {
  return part?.content?.$case === 'text' ? part.content.value : undefined;
}

/** A raw JSON-RPC call: what a hand-written client (curl) gets. */
async function rpc(
  agentId: string,
  body: unknown,
  headers: Record<string, string> = { 'A2A-Version': '1.0' },
): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${api}/a2a/${agentId}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

describe('agent cards', () => {
  it('serves a v1.0 card per agent that leads the SDK client to its JSON-RPC endpoint', async () => {
    const response = await fetch(`${api}/a2a/waiting/.well-known/agent-card.json`);
    expect(response.status).toBe(200);
    const card = (await response.json()) as Record<string, unknown>;
    expect(card).toMatchObject({
      name: 'waiting',
      description: 'Streams a first chunk, then waits until released',
      version: '2.1.0',
      supportedInterfaces: [
        { url: `${api}/a2a/waiting`, protocolBinding: 'JSONRPC', protocolVersion: '1.0' },
      ],
      capabilities: { streaming: true, pushNotifications: false },
      defaultInputModes: ['application/json', 'text/plain'],
      skills: [
        {
          id: 'waiting',
          name: 'waiting',
          description: 'Holds its answer open (waiting 2.1.0)',
          tags: ['test', 'slow'],
          examples: ['wait'],
          inputModes: ['application/json', 'text/plain'],
          outputModes: ['application/json', 'text/plain'],
        },
      ],
    });
    // The embedded runtime checks no signatures: the card asks for none.
    expect(card.securitySchemes).toBeUndefined();

    const client = await clientFor('waiting');
    expect(client.protocolVersion).toBe('1.0');
    const read = await client.getAgentCard();
    expect(read.name).toBe('waiting');
  });

  it('every example agent has a card the SDK client accepts', async () => {
    const running = new Set((await runtime.registry.list()).agents.map((a) => a.card.agentId));
    const examples = EXAMPLE_AGENTS.map((e) => e.definition).filter((d) => running.has(d.agentId));
    expect(examples.map((d) => d.agentId).sort()).toEqual(
      ['keyword-extractor', 'narrator', 'summarizer'].sort(),
    );
    for (const definition of examples) {
      const card = await (await clientFor(definition.agentId)).getAgentCard();
      expect(card.skills.map((s) => s.id)).toEqual(definition.capabilities.map((c) => c.name));
    }
  });

  it('answers 404 for an agent nobody registered, for the card and the endpoint', async () => {
    const card = await fetch(`${api}/a2a/nobody/.well-known/agent-card.json`);
    expect(card.status).toBe(404);
    await expect(clientFor('nobody')).rejects.toThrow(/404/);
    const call = await rpc('nobody', {
      jsonrpc: '2.0',
      id: 1,
      method: 'GetTask',
      params: { id: 'x' },
    });
    expect(call.status).toBe(404);
    expect(call.body).toMatchObject({ error: { code: 'NOT_FOUND' } });
  });
});

describe('SendMessage', () => {
  it('answers text as a completed task whose artifact is the agent output, and GetTask reads it back', async () => {
    const client = await clientFor('keyword-extractor');
    const task = asTask(await client.sendMessage(textMessage(TEXT)));
    expect(task.status?.state).toBe(TaskState.TASK_STATE_COMPLETED);
    const [artifact] = task.artifacts;
    expect(artifact?.artifactId).toBe('output');
    const output = dataOf(artifact?.parts[0]) as { keywords: string[] };
    expect(output.keywords).toContain('queues');
    expect(output.keywords).toContain('agents');
    expect(task.history[0]?.taskId).toBe(task.id);

    const read = await client.getTask({ tenant: '', id: task.id, historyLength: undefined });
    expect(read.status?.state).toBe(TaskState.TASK_STATE_COMPLETED);
    expect(read.contextId).toBe(task.contextId);
    expect(dataOf(read.artifacts[0]?.parts[0])).toEqual(output);
  });

  it('gives one data part to the agent as its input, and keeps the client context', async () => {
    const client = await clientFor('summarizer');
    const contextId = `ctx-${randomUUID()}`;
    const task = asTask(
      await client.sendMessage(
        SendMessageRequest.fromJSON({
          message: {
            messageId: randomUUID(),
            contextId,
            role: 'ROLE_USER',
            parts: [{ data: { text: TEXT, sentences: 1 } }],
          },
        }),
      ),
    );
    expect(task.status?.state).toBe(TaskState.TASK_STATE_COMPLETED);
    expect(task.contextId).toBe(contextId);
    expect(dataOf(task.artifacts[0]?.parts[0])).toMatchObject({ sentences: 1, of: 3 });
  });

  it('answers an agent failure as a FAILED task saying why, and GetTask says the same', async () => {
    const client = await clientFor('failing');
    const task = asTask(await client.sendMessage(textMessage('anything')));
    expect(task.status?.state).toBe(TaskState.TASK_STATE_FAILED);
    expect(textOf(task.status?.message?.parts[0])).toMatch(/nothing works today/);
    expect(task.artifacts).toEqual([]);
    const read = await client.getTask({ tenant: '', id: task.id, historyLength: undefined });
    expect(read.status?.state).toBe(TaskState.TASK_STATE_FAILED);
    expect(textOf(read.status?.message?.parts[0])).toMatch(/nothing works today/);
  });
});

describe('SendStreamingMessage', () => {
  it('streams the narrator chunks as artifact updates, then its output, then COMPLETED', async () => {
    const client = await clientFor('narrator');
    const events: StreamResponse[] = [];
    for await (const event of client.sendMessageStream(textMessage(TEXT))) events.push(event);
    const kinds = events.map((e) => e.payload?.$case);
    expect(kinds[0]).toBe('task');
    expect(kinds[1]).toBe('statusUpdate');
    expect(kinds.at(-1)).toBe('statusUpdate');
    const updates = events.flatMap((e) =>
      e.payload?.$case === 'artifactUpdate' ? [e.payload.value] : [],
    );
    const streamed = updates.filter((u) => u.artifact?.artifactId === 'stream');
    expect(streamed.length).toBeGreaterThan(5);
    expect(streamed[0]?.append).toBe(false);
    expect(streamed.slice(1).every((u) => u.append)).toBe(true);
    const output = updates.find((u) => u.artifact?.artifactId === 'output');
    expect(output?.lastChunk).toBe(true);
    const narration = dataOf(output?.artifact?.parts[0]) as { narration: string };
    expect(streamed.map((u) => textOf(u.artifact?.parts[0])).join('')).toBe(narration.narration);

    const states = events.flatMap((e) =>
      e.payload?.$case === 'statusUpdate' || e.payload?.$case === 'task'
        ? [e.payload.value.status?.state]
        : [],
    );
    expect(states).toEqual([
      TaskState.TASK_STATE_SUBMITTED,
      TaskState.TASK_STATE_WORKING,
      TaskState.TASK_STATE_COMPLETED,
    ]);
    const first = events[0]?.payload;
    const taskId = first?.$case === 'task' ? first.value.id : '';
    const read = await client.getTask({ tenant: '', id: taskId, historyLength: undefined });
    expect(read.status?.state).toBe(TaskState.TASK_STATE_COMPLETED);
    expect(dataOf(read.artifacts[0]?.parts[0])).toEqual(narration);
  });

  it('ends a stream whose agent fails with a FAILED status, after the chunks before it', async () => {
    const client = await clientFor('broken-stream');
    const events: StreamResponse[] = [];
    for await (const event of client.sendMessageStream(textMessage('go'))) events.push(event);
    const kinds = events.map((e) => e.payload?.$case);
    expect(kinds).toEqual(['task', 'statusUpdate', 'artifactUpdate', 'statusUpdate']);
    const last = events.at(-1)?.payload;
    if (last?.$case !== 'statusUpdate') throw new Error('expected a status update last');
    expect(last.value.status?.state).toBe(TaskState.TASK_STATE_FAILED);
    expect(textOf(last.value.status?.message?.parts[0])).toMatch(/broke after one chunk/);
  });

  it('CancelTask stops a running stream: the agent is stopped and the task ends CANCELED', async () => {
    const client = await clientFor('waiting');
    const { ended, returned } = waitingAgent;
    const events: StreamResponse[] = [];
    let canceled: Task | undefined;
    for await (const event of client.sendMessageStream(textMessage('hold on'))) {
      events.push(event);
      const payload = event.payload;
      if (payload?.$case === 'artifactUpdate' && canceled === undefined) {
        const working = await client.getTask({
          tenant: '',
          id: payload.value.taskId,
          historyLength: undefined,
        });
        expect(working.status?.state).toBe(TaskState.TASK_STATE_WORKING);
        canceled = await client.cancelTask({
          tenant: '',
          id: payload.value.taskId,
          metadata: undefined,
        });
      }
      expect(events.length).toBeLessThan(10);
    }
    expect(canceled?.status?.state).toBe(TaskState.TASK_STATE_CANCELED);
    const last = events.at(-1)?.payload;
    if (last?.$case !== 'statusUpdate') throw new Error('expected a status update last');
    expect(last.value.status?.state).toBe(TaskState.TASK_STATE_CANCELED);
    // Nothing after the first chunk; released, the agent is stopped at its next chunk.
    expect(
      events.filter((e) => e.payload?.$case === 'artifactUpdate').map((e) => e.payload?.$case),
    ).toHaveLength(1);
    releaseWaiting();
    await expect.poll(() => waitingAgent.ended, { timeout: 5_000 }).toBe(ended + 1);
    expect(waitingAgent.returned).toBe(returned);
    // Canceling again answers the canceled task.
    const again = await client.cancelTask({
      tenant: '',
      id: last.value.taskId,
      metadata: undefined,
    });
    expect(again.status?.state).toBe(TaskState.TASK_STATE_CANCELED);
  });
});

describe('tasks', () => {
  it('refuses to cancel a task that has ended, and knows no task of another agent', async () => {
    const client = await clientFor('keyword-extractor');
    const task = asTask(await client.sendMessage(textMessage(TEXT)));
    const cancel = client.cancelTask({ tenant: '', id: task.id, metadata: undefined });
    await expect(cancel).rejects.toBeInstanceOf(TaskNotCancelableError);
    await expect(cancel).rejects.toMatchObject({ envelopeCode: -32002 });

    const other = await clientFor('summarizer');
    await expect(
      other.getTask({ tenant: '', id: task.id, historyLength: undefined }),
    ).rejects.toBeInstanceOf(TaskNotFoundError);
    await expect(
      client.getTask({ tenant: '', id: randomUUID(), historyLength: undefined }),
    ).rejects.toBeInstanceOf(TaskNotFoundError);
  });

  it('refuses a message that continues a task that has ended (-32004)', async () => {
    const client = await clientFor('keyword-extractor');
    const task = asTask(await client.sendMessage(textMessage(TEXT)));
    const call = await rpc('keyword-extractor', {
      jsonrpc: '2.0',
      id: 7,
      method: 'SendMessage',
      params: { message: { messageId: 'm', taskId: task.id, parts: [{ text: 'more' }] } },
    });
    expect(call.body).toMatchObject({ jsonrpc: '2.0', id: 7, error: { code: -32004 } });
  });
});

describe('the JSON-RPC wire', () => {
  const send = (params: unknown, id: number | string = 1) => ({
    jsonrpc: '2.0',
    id,
    method: 'SendMessage',
    params,
  });

  it('takes a request without an A2A-Version header as 1.0, and refuses other versions', async () => {
    const lenient = await rpc(
      'keyword-extractor',
      send({ message: { messageId: 'm1', parts: [{ text: TEXT }] } }),
      {},
    );
    expect(lenient.status).toBe(200);
    expect(lenient.body).toMatchObject({
      jsonrpc: '2.0',
      id: 1,
      result: { task: { status: { state: 'TASK_STATE_COMPLETED' } } },
    });
    const old = await rpc(
      'keyword-extractor',
      send({ message: { messageId: 'm2', parts: [{ text: TEXT }] } }),
      {
        'A2A-Version': '0.3',
      },
    );
    expect(old.body).toMatchObject({ id: 1, error: { code: -32009 } });
  });

  it('answers bad params with -32602 naming the field', async () => {
    const call = await rpc(
      'keyword-extractor',
      send({ message: { parts: [{ text: 'x' }] } }, 'abc'),
    );
    expect(call.status).toBe(200);
    expect(call.body).toMatchObject({
      jsonrpc: '2.0',
      id: 'abc',
      error: {
        code: -32602,
        data: [
          { reason: 'INVALID_PARAMS', domain: 'a2a-protocol.org' },
          { fieldViolations: [{ field: 'message.messageId' }] },
        ],
      },
    });
    const empty = await rpc('keyword-extractor', send({ message: { messageId: 'm', parts: [] } }));
    expect(empty.body).toMatchObject({ error: { code: -32602 } });
    expect(JSON.stringify(empty.body)).toContain('message.parts');
    const mixed = await rpc(
      'keyword-extractor',
      send({ message: { messageId: 'm', parts: [{ text: 'a' }, { data: { b: 1 } }] } }),
    );
    expect(mixed.body).toMatchObject({ error: { code: -32602 } });
    const notObject = await rpc('keyword-extractor', send([1, 2]));
    expect(notObject.body).toMatchObject({ error: { code: -32602 } });
    const noId = await rpc('keyword-extractor', {
      jsonrpc: '2.0',
      id: 2,
      method: 'GetTask',
      params: {},
    });
    expect(noId.body).toMatchObject({ id: 2, error: { code: -32602 } });
    const longId = await rpc('keyword-extractor', {
      jsonrpc: '2.0',
      id: 3,
      method: 'CancelTask',
      params: { id: 'x'.repeat(3000) },
    });
    expect(longId.body).toMatchObject({ id: 3, error: { code: -32602 } });
    const tooLong = await rpc(
      'keyword-extractor',
      send({ message: { messageId: 'm', parts: [{ text: 'a' }] }, metadata: { timeout: 600 } }),
    );
    expect(tooLong.body).toMatchObject({ error: { code: -32602 } });
    expect(JSON.stringify(tooLong.body)).toContain('metadata.timeout');
  });

  it('refuses file parts (-32005), unknown methods (-32601), non-JSON (-32700) and non-requests (-32600)', async () => {
    const file = await rpc(
      'keyword-extractor',
      send({ message: { messageId: 'm', parts: [{ url: 'https://example.com/f.pdf' }] } }),
    );
    expect(file.body).toMatchObject({ error: { code: -32005 } });
    const unknown = await rpc('keyword-extractor', {
      jsonrpc: '2.0',
      id: 3,
      method: 'message/send',
    });
    expect(unknown.body).toMatchObject({ id: 3, error: { code: -32601 } });
    const notJson = await rpc('keyword-extractor', '{not json');
    expect(notJson.status).toBe(200);
    expect(notJson.body).toMatchObject({ id: null, error: { code: -32700 } });
    const batch = await rpc('keyword-extractor', [send({})]);
    expect(batch.body).toMatchObject({ error: { code: -32600 } });
    const wrongVersion = await rpc('keyword-extractor', {
      jsonrpc: '1.0',
      id: 4,
      method: 'GetTask',
    });
    expect(wrongVersion.body).toMatchObject({ id: 4, error: { code: -32600 } });
  });

  it('streams SSE events that are JSON-RPC responses carrying the request id', async () => {
    const response = await fetch(`${api}/a2a/keyword-extractor`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'text/event-stream' },
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: 'stream-1',
        method: 'SendStreamingMessage',
        params: { message: { messageId: 'm', parts: [{ text: TEXT }] } },
      }),
    });
    expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const text = await response.text();
    const data = text
      .split('\n')
      .filter((line) => line.startsWith('data: '))
      .map((line) => JSON.parse(line.slice(6)) as { id: unknown; result: Record<string, unknown> });
    expect(data.every((d) => d.id === 'stream-1')).toBe(true);
    expect(data.map((d) => Object.keys(d.result)[0])).toEqual([
      'task',
      'statusUpdate',
      'artifactUpdate',
      'statusUpdate',
    ]);
    expect(data[2]?.result).toMatchObject({
      artifactUpdate: {
        artifact: { artifactId: 'output', parts: [{ mediaType: 'application/json' }] },
        lastChunk: true,
      },
    });
  });
});

/**
 * The same route handlers as API Gateway runs them (proxy events, IAM identities), built afresh
 * over the runtime's registry, router and event log: another instance of the API, as another
 * Lambda environment would be, sharing nothing with the embedded server but what is stored.
 */
describe('behind API Gateway, and from another API instance', () => {
  const DOMAIN = 'abc123.execute-api.eu-west-1.amazonaws.com';
  const CALLER = 'arn:aws:iam::123456789012:role/a2a-caller';
  const STRANGER = 'arn:aws:iam::123456789012:role/a2a-stranger';
  const OPERATOR = 'arn:aws:iam::123456789012:role/a2a-operator';

  function otherApi() {
    const deps: ApiDependencies = {
      registry: runtime.registry,
      router: runtime.router,
      coordinations: runtime.coordinations,
      events: runtime.events,
      access: { mode: 'iam', operators: [OPERATOR] },
    };
    return createApi(deps);
  }

  function gatewayEvent(
    method: string,
    path: string,
    body?: unknown,
    caller = CALLER,
  ): APIGatewayProxyEvent {
    return proxyEvent(method, path, {
      body,
      headers: { Host: DOMAIN, 'X-Forwarded-Proto': 'https', 'content-type': 'application/json' },
      caller,
      context: { stage: 'v1', domainName: DOMAIN, path: `/v1${path}` },
    });
  }

  async function call(method: string, path: string, body?: unknown, caller = CALLER) {
    const result = await otherApi()(
      gatewayEvent(method, path, body, caller),
      lambdaContext('mobius-api'),
    );
    if (isStreaming(result)) throw new Error('expected a JSON answer');
    return { status: result.statusCode, body: JSON.parse(buffered(result).body) };
  }

  it('names the stage URL and asks for SigV4 in the card', async () => {
    const { status, body } = await call('GET', '/a2a/summarizer/.well-known/agent-card.json');
    expect(status).toBe(200);
    expect(body).toMatchObject({
      supportedInterfaces: [{ url: `https://${DOMAIN}/v1/a2a/summarizer` }],
      securitySchemes: { sigv4: { httpAuthSecurityScheme: { scheme: 'AWS4-HMAC-SHA256' } } },
      securityRequirements: [{ schemes: { sigv4: { list: [] } } }],
    });
  });

  it("keeps a task its sender's: another caller can neither read nor cancel it, an operator can", async () => {
    const rpcCall = (method: string, params: unknown, caller: string) =>
      call('POST', '/a2a/summarizer', { jsonrpc: '2.0', id: 7, method, params }, caller);
    const sent = await rpcCall(
      'SendMessage',
      { message: { messageId: 'm1', parts: [{ text: TEXT }] } },
      CALLER,
    );
    const taskId = (sent.body as { result: { task: { id: string } } }).result.task.id;
    expect(taskId).toMatch(/^[0-9a-f-]{36}$/);

    // Whether the task exists at all is none of the stranger's business.
    for (const method of ['GetTask', 'CancelTask'])
      expect((await rpcCall(method, { id: taskId }, STRANGER)).body).toMatchObject({
        id: 7,
        error: { code: -32001, message: `Task not found: ${taskId} (tasks are kept for 7 days)` },
      });
    expect((await rpcCall('GetTask', { id: taskId }, CALLER)).body).toMatchObject({
      result: { id: taskId, status: { state: 'TASK_STATE_COMPLETED' } },
    });
    expect((await rpcCall('GetTask', { id: taskId }, OPERATOR)).body).toMatchObject({
      result: { id: taskId, status: { state: 'TASK_STATE_COMPLETED' } },
    });
    // Found, and ended: not cancelable, for its sender and an operator alike.
    for (const caller of [CALLER, OPERATOR])
      expect((await rpcCall('CancelTask', { id: taskId }, caller)).body).toMatchObject({
        error: { code: -32002 },
      });
  });

  it('serves no task as a coordination: GET /coordinations/{id} and its events are 404 for a task', async () => {
    const sent = await call('POST', '/a2a/summarizer', {
      jsonrpc: '2.0',
      id: 1,
      method: 'SendMessage',
      params: { message: { messageId: 'm2', parts: [{ text: TEXT }] } },
    });
    const taskId = (sent.body as { result: { task: { id: string } } }).result.task.id;
    for (const path of [
      `/coordinations/a2a-task:${taskId}`,
      `/coordinations/a2a-task:${taskId}/events`,
    ]) {
      const response = await fetch(`${api}${path}`, { headers: { accept: 'text/event-stream' } });
      expect(response.status, path).toBe(404);
      expect(await response.json(), path).toMatchObject({ error: { code: 'NOT_FOUND' } });
    }
  });

  it('reads and cancels a task another instance streams, which stops it there (as an operator)', async () => {
    const client = await clientFor('waiting');
    const { ended, returned } = waitingAgent;
    const events: StreamResponse[] = [];
    let answers: { status: number; body: Record<string, unknown> }[] = [];
    for await (const event of client.sendMessageStream(textMessage('hold on'))) {
      events.push(event);
      const payload = event.payload;
      if (payload?.$case === 'artifactUpdate' && answers.length === 0) {
        const rpcCall = (method: string, id: number) =>
          call(
            'POST',
            '/a2a/waiting',
            {
              jsonrpc: '2.0',
              id,
              method,
              params: { id: payload.value.taskId },
            },
            OPERATOR,
          );
        answers = [await rpcCall('GetTask', 1), await rpcCall('CancelTask', 2)];
      }
      expect(events.length).toBeLessThan(10);
    }
    expect(answers.map((a) => a.body)).toMatchObject([
      { id: 1, result: { status: { state: 'TASK_STATE_WORKING' } } },
      {
        id: 2,
        result: {
          status: {
            state: 'TASK_STATE_CANCELED',
            message: { role: 'ROLE_AGENT', parts: [{ text: 'Canceled by CancelTask.' }] },
          },
        },
      },
    ]);
    const last = events.at(-1)?.payload;
    expect(last?.$case === 'statusUpdate' && last.value.status?.state).toBe(
      TaskState.TASK_STATE_CANCELED,
    );
    releaseWaiting();
    await expect.poll(() => waitingAgent.ended, { timeout: 5_000 }).toBe(ended + 1);
    expect(waitingAgent.returned).toBe(returned);
  });
});

describe('a streaming client that leaves', () => {
  it('stops the agent, and the task ends CANCELED', async () => {
    const { ended, returned } = waitingAgent;
    const leaving = new AbortController();
    const response = await fetch(`${api}/a2a/waiting`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'text/event-stream' },
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: 1,
        method: 'SendStreamingMessage',
        params: { message: { messageId: 'm', parts: [{ text: 'hold on' }] } },
      }),
      signal: leaving.signal,
    });
    // Read until the first chunk has come, then leave.
    const reader = response.body?.getReader();
    let text = '';
    for (let reads = 0; reads < 20 && !text.includes('artifactUpdate'); reads++) {
      const { value, done } = (await reader?.read()) ?? { done: true, value: undefined };
      if (done) break;
      text += new TextDecoder().decode(value);
    }
    const taskId = /"task":\{"id":"([^"]+)"/.exec(text)?.[1] ?? '';
    expect(taskId).not.toBe('');
    leaving.abort();
    const client = await clientFor('waiting');
    await expect
      .poll(
        async () =>
          (await client.getTask({ tenant: '', id: taskId, historyLength: undefined })).status
            ?.state,
        { timeout: 5_000 },
      )
      .toBe(TaskState.TASK_STATE_CANCELED);
    releaseWaiting();
    await expect.poll(() => waitingAgent.ended, { timeout: 5_000 }).toBe(ended + 1);
    expect(waitingAgent.returned).toBe(returned);
  });
});
