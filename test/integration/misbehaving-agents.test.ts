import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CoordinationResult } from '../../functions/coordination/result.ts';
import type { AgentDefinition, AgentHandler } from '../../functions/core/sdk/define-agent.ts';
import { type LambdaServer, startLambdaServer } from '../../functions/embedded/lambda-server.ts';
import { EmbeddedRuntime } from '../../functions/embedded/runtime.ts';

/**
 * Agents that return what JSON cannot carry or throw what is not an Error, run by the embedded
 * runtime as a user meets it: compiled ASL in aws-local-stepfunctions behind the HTTP API, and
 * request-response through the embedded Lambda endpoint. Whatever an agent does, the process stays
 * up, the declared fallback is tried with a well-formed task, and the error names the agent and
 * the step in words of the agent's own making.
 */
const circular = () => {
  const value: Record<string, unknown> = { name: 'loop' };
  value.self = value;
  return value;
};

const GARBAGE: Record<string, { handler: AgentHandler; error: string; cause: RegExp }> = {
  bigint: {
    handler: () => ({ count: 10n }),
    error: 'FatalAgentError',
    cause: /^Agent bigint returned a value that is not JSON: a BigInt at output\.count/,
  },
  circular: {
    handler: circular,
    error: 'FatalAgentError',
    cause:
      /^Agent circular returned a value that is not JSON: a circular reference at output\.self$/,
  },
  'throws-null': {
    handler: () => {
      throw null;
    },
    error: 'Error',
    cause: /^the handler threw null instead of an Error$/,
  },
  'throws-string': {
    handler: () => {
      throw 'disk on fire';
    },
    error: 'Error',
    cause: /^disk on fire$/,
  },
  'throws-object': {
    handler: () => {
      throw { code: 42 };
    },
    error: 'Error',
    cause: /^the handler threw an object instead of an Error: \{"code":42\}$/,
  },
};

/** Text that only an internal failure (the interpreter's or the API's) would produce. */
const INTERNAL =
  /Maximum call stack|Cannot read properties|Path expression|States\.Runtime|Internal error/;

const rescued: unknown[] = [];
const agent = (agentId: string, handler: AgentHandler): AgentDefinition => ({
  agentId,
  agentType: 'test',
  description: `misbehaving-agents test agent ${agentId}`,
  capabilities: [{ name: 'misbehave', version: '1.0.0' }],
  handler,
});

let runtime: EmbeddedRuntime;

/** The fields these tests read: a coordination result, an error, or a message response. */
type Answer = CoordinationResult & {
  error: { code: string; message: string; details: { result: CoordinationResult } };
  response: { payload: unknown };
};

async function post(path: string, body: unknown) {
  const response = await fetch(`${runtime.apiUrl}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as Answer };
}

beforeAll(async () => {
  runtime = await EmbeddedRuntime.start({
    port: 0,
    agents: [
      ...Object.entries(GARBAGE).map(([id, { handler }]) => agent(id, handler)),
      agent('rescuer', (message) => {
        rescued.push(message.task);
        return { rescued: true };
      }),
      agent('sloppy', () => ({ kept: 1, dropped: undefined, nested: { gone: undefined } })),
    ],
  });
}, 60_000);

afterAll(async () => {
  await runtime.stop();
});

describe('agents that misbehave (embedded runtime, express tasks)', () => {
  it.each(Object.keys(GARBAGE))(
    '%s: the declared fallback runs with a well-formed task, and the error names the agent and the step',
    async (agentId) => {
      const expected = GARBAGE[agentId];
      rescued.length = 0;
      const { status, body } = await post('/coordinations', {
        pattern: 'sequential',
        steps: [{ id: 'work', agent: agentId, fallbacks: ['rescuer'] }],
        payload: { job: 7 },
      });
      const result = body;
      expect(status).toBe(200);
      expect(result).toMatchObject({
        status: 'succeeded',
        degraded: true,
        output: { work: { rescued: true } },
        steps: [{ stepId: 'work', agentId: 'rescuer', status: 'succeeded', attempt: 1 }],
        errors: [{ agentId, stepId: 'work', error: expected?.error }],
      });
      expect(result.errors[0]?.cause).toMatch(expected?.cause as RegExp);
      expect(rescued).toEqual([
        expect.objectContaining({ stepId: 'work', agentId: 'rescuer', input: { job: 7 } }),
      ]);
    },
  );

  it.each(Object.keys(GARBAGE))(
    '%s without a fallback: 502 naming the agent and the step, no internal text',
    async (agentId) => {
      const expected = GARBAGE[agentId];
      const { status, body } = await post('/coordinations', {
        pattern: 'sequential',
        steps: [{ id: 'work', agent: agentId }],
        payload: {},
      });
      expect(status).toBe(502);
      expect(body.error.message).not.toMatch(INTERNAL);
      const result = body.error.details.result;
      expect(result.errors).toEqual([
        { agentId, stepId: 'work', error: expected?.error, cause: expect.any(String) },
      ]);
      expect(result.errors[0]?.cause).toMatch(expected?.cause as RegExp);
    },
  );

  it('drops undefined fields from an output, as JSON.stringify does', async () => {
    const { status, body } = await post('/coordinations', {
      pattern: 'sequential',
      agents: ['sloppy'],
      payload: {},
    });
    expect(status).toBe(200);
    expect(body.output).toEqual({ step1: { kept: 1, nested: {} } });
  });
});

describe('agents that misbehave (request-response through the embedded Lambda endpoint)', () => {
  it('a circular reply is a 502 naming the agent, and the runtime keeps serving', async () => {
    const { status, body } = await post('/messages', { to: 'circular', payload: {}, wait: true });
    expect(status).toBe(502);
    expect(body.error).toMatchObject({
      code: 'AGENT_FAILED',
      details: { agentId: 'circular', errorType: 'FatalAgentError' },
    });
    expect(body.error.message).toMatch(/a circular reference at output\.self/);
    const next = await post('/messages', { to: 'rescuer', payload: {}, wait: true });
    expect(next.status).toBe(200);
  });

  it('a BigInt reply is a 502 saying where the BigInt is', async () => {
    const { status, body } = await post('/messages', { to: 'bigint', payload: {}, wait: true });
    expect(status).toBe(502);
    expect(body.error.message).toMatch(/a BigInt at output\.count/);
  });

  it('a reply with undefined fields is answered without them', async () => {
    const { status, body } = await post('/messages', { to: 'sloppy', payload: {}, wait: true });
    expect(status).toBe(200);
    expect(body.response.payload).toEqual({ kept: 1, nested: {} });
  });
});

describe('the embedded Lambda endpoint, for handlers not written with the SDK', () => {
  let server: LambdaServer;
  let lambda: LambdaClient;
  beforeAll(async () => {
    server = await startLambdaServer();
    lambda = new LambdaClient({
      endpoint: server.endpoint,
      region: 'us-east-1',
      credentials: { accessKeyId: 'x', secretAccessKey: 'x' },
    });
    server.register('raw-circular', async () => circular());
    server.register('raw-null', async () => {
      throw null;
    });
    server.register('raw-echo', async (event) => event);
  });
  afterAll(async () => {
    lambda.destroy();
    await server.stop();
  });

  const invoke = async (name: string) => {
    const response = await lambda.send(
      new InvokeCommand({ FunctionName: name, Payload: JSON.stringify({ hello: name }) }),
    );
    return {
      functionError: response.FunctionError,
      payload: JSON.parse(new TextDecoder().decode(response.Payload)) as unknown,
    };
  };

  it('answers a result that cannot be serialised with a function error, as Lambda does, and stays up', async () => {
    expect(await invoke('raw-circular')).toEqual({
      functionError: 'Unhandled',
      payload: {
        errorType: 'Error',
        errorMessage: expect.stringMatching(/^Unable to stringify response body: /),
      },
    });
    expect(await invoke('raw-null')).toEqual({
      functionError: 'Unhandled',
      payload: { errorType: 'Error', errorMessage: 'the handler threw null instead of an Error' },
    });
    expect(await invoke('raw-echo')).toEqual({
      functionError: undefined,
      payload: { hello: 'raw-echo' },
    });
  });
});
