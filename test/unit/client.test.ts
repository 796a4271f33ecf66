import { afterEach, beforeEach, describe, expect, expectTypeOf, it, vi } from 'vitest';
import { ROUTES } from '../../functions/api/app.ts';
import {
  ApiError,
  createClient,
  type RequestOf,
  type ResponseOf,
  type Schemas,
} from '../../functions/cli/client.ts';

/**
 * The typed client over callApi, against the embedded runtime's loopback address (unsigned; the
 * signing is signed-fetch.test.ts's). fetch is replaced: each test says what the API answers and
 * checks what the client sent.
 */
const BASE = 'http://127.0.0.1:4000';

let sent: { url: string; method: string; body: string | undefined }[];
let answer: { status: number; body: unknown };

beforeEach(() => {
  sent = [];
  answer = { status: 200, body: {} };
  vi.stubGlobal(
    'fetch',
    vi.fn(async (url: URL | string, init: RequestInit) => {
      sent.push({ url: String(url), method: String(init.method), body: init.body as string });
      return new Response(JSON.stringify(answer.body), { status: answer.status });
    }),
  );
});

afterEach(() => {
  vi.unstubAllGlobals();
});

describe('createClient', () => {
  it('has one method per route the API serves', () => {
    const client = createClient(BASE);
    expect(Object.keys(client)).toHaveLength(ROUTES.length);
  });

  it('fills in and encodes path parameters', async () => {
    await createClient(BASE).getAgent({ path: { id: 'writer v2/é' } });
    expect(sent).toEqual([
      { url: `${BASE}/agents/writer%20v2%2F%C3%A9`, method: 'GET', body: undefined },
    ]);
  });

  it('sends query parameters that are set, and leaves out those that are not', async () => {
    answer = { status: 200, body: { agents: [] } };
    const client = createClient(BASE);
    await client.listAgents({ query: { status: 'degraded', limit: 5, capability: undefined } });
    await client.listAgents();
    expect(sent.map((request) => request.url)).toEqual([
      `${BASE}/agents?status=degraded&limit=5`,
      `${BASE}/agents`,
    ]);
  });

  it('sends the body as JSON to the operation’s method and path, and returns status and body', async () => {
    const running = { coordinationId: 'c-1', status: 'running', startedAt: '2026-11-30T00:00:00Z' };
    answer = { status: 202, body: running };
    const request: Schemas['CoordinationRequest'] = {
      pattern: 'sequential',
      agents: ['a', 'b'],
      mode: 'standard',
    };
    const response = await createClient(BASE).runCoordination({ body: request });
    expect(sent).toEqual([
      { url: `${BASE}/coordinations`, method: 'POST', body: JSON.stringify(request) },
    ]);
    expect(response).toEqual({ status: 202, body: running });
  });

  it('sends an optional body only when given', async () => {
    const client = createClient(BASE);
    await client.heartbeat({ path: { id: 'a' } });
    await client.heartbeat({ path: { id: 'a' }, body: { inFlight: 2 } });
    expect(sent.map(({ method, url, body }) => [method, url, body])).toEqual([
      ['POST', `${BASE}/agents/a/heartbeat`, undefined],
      ['POST', `${BASE}/agents/a/heartbeat`, '{"inFlight":2}'],
    ]);
  });

  it('throws an ApiError with the status, the code and the message of an error answer', async () => {
    const body = { error: { code: 'NOT_FOUND', message: 'No agent ghost.', details: {} } };
    answer = { status: 404, body };
    const error = await createClient(BASE)
      .deregisterAgent({ path: { id: 'ghost' } })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect(error).toMatchObject({
      operationId: 'deregisterAgent',
      status: 404,
      code: 'NOT_FOUND',
      body,
      message: 'The API answered 404: No agent ghost.',
    });
    expect(sent[0]?.method).toBe('DELETE');
  });

  it('resolves the default credential chain once per client, not once per request', async () => {
    const chain = vi.fn(async () => ({
      accessKeyId: 'AKIDEXAMPLE',
      secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY',
    }));
    vi.doMock('@aws-sdk/credential-providers', () => ({ fromNodeProviderChain: () => chain }));
    vi.resetModules();
    try {
      const { createClient: withChain } = await import('../../functions/cli/client.ts');
      const mobius = withChain('https://abc123.execute-api.eu-west-2.amazonaws.com/v1/');
      await mobius.listAgents();
      await mobius.getAgent({ path: { id: 'summarizer' } });
      expect(sent).toHaveLength(2);
      expect(chain).toHaveBeenCalledTimes(1);
    } finally {
      vi.doUnmock('@aws-sdk/credential-providers');
      vi.resetModules();
    }
  });

  it('types requests and responses from the OpenAPI document', () => {
    expectTypeOf<RequestOf<'getAgent'>>().toEqualTypeOf<{ path: { id: string } }>();
    expectTypeOf<RequestOf<'registerAgent'>['body']>().toEqualTypeOf<Schemas['AgentCardInput']>();
    expectTypeOf<ResponseOf<'runCoordination'>>().toEqualTypeOf<
      | { readonly status: 200; readonly body: Schemas['CoordinationResult'] }
      | { readonly status: 202; readonly body: Schemas['CoordinationRunning'] }
    >();
    // Defaults may be left out of a request, and are always there in a response.
    expectTypeOf<Schemas['AgentCardInput']['protocols']>().toBeNullable();
    expectTypeOf<Schemas['AgentCard']['protocols']>().not.toBeNullable();
  });
});
