import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  afterAll,
  afterEach,
  beforeAll,
  beforeEach,
  describe,
  expect,
  expectTypeOf,
  it,
  vi,
} from 'vitest';
import { ROUTES } from '../../functions/api/app.ts';
import { operationRoutes } from '../../functions/cli/api-types.ts';
import {
  ApiError,
  type CoordinationEvent,
  createClient,
  EventStreamError,
  type MessageStreamEvent,
  type RequestOf,
  type ResponseOf,
  type Schemas,
} from '../../functions/cli/client.ts';
import type { CoordinationEventInput } from '../../functions/core/streaming/events.ts';
import { formatSse, SSE_HEADERS, SSE_KEEPALIVE } from '../../functions/core/streaming/sse.ts';

/**
 * The typed client over callApi, against the embedded runtime's loopback address (unsigned; the
 * signing is signed-fetch.test.ts's). For plain operations fetch is replaced: each test says what
 * the API answers and checks what the client sent. The streamed operations read server-sent events
 * from a real HTTP server on 127.0.0.1, which each test scripts (dropped connections included).
 */
const BASE = 'http://127.0.0.1:4000';

let sent: { url: string; method: string; body: string | undefined }[];
let answer: { status: number; body: unknown };

describe('createClient', () => {
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

  it('has one method per route the API serves, and the streamed ones', () => {
    const client = createClient(BASE);
    const streamed = ['watchCoordination', 'streamMessage', 'runCoordinationStream'];
    expect(Object.keys(client).sort()).toEqual(
      [...new Set([...Object.keys(operationRoutes), ...streamed])].sort(),
    );
    // Each route has its operation; the streamed helpers add other ways to call two of them.
    expect(Object.keys(operationRoutes)).toHaveLength(ROUTES.length);
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

/** One scripted answer: what the test server does with a request. */
type Script = (request: IncomingMessage, response: ServerResponse, body: string) => void;

let server: Server;
let api: string;
let script: Script;
let seen: { method: string; url: string; headers: IncomingMessage['headers']; body: string }[];

beforeAll(async () => {
  server = createServer((request, response) => {
    let body = '';
    request.on('data', (piece: Buffer) => {
      body += piece.toString();
    });
    request.on('end', () => {
      seen.push({
        method: request.method ?? '',
        url: request.url ?? '',
        headers: request.headers,
        body,
      });
      script(request, response, body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  api = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

beforeEach(() => {
  seen = [];
});

const ID = 'c-0123456789';
const at = '2026-12-01T00:00:00.000Z';
const inputs: CoordinationEventInput[] = [
  {
    type: 'coordination.started',
    pattern: 'pipeline',
    mode: 'express',
    steps: [{ stepId: 'narrate', agentId: 'narrator' }],
  },
  { type: 'step.started', stepId: 'narrate', agentId: 'narrator', candidate: 0, attempt: 1 },
  { type: 'step.chunk', stepId: 'narrate', agentId: 'narrator', chunk: { seq: 0, text: 'Once ' } },
  { type: 'step.chunk', stepId: 'narrate', agentId: 'narrator', chunk: { seq: 1, text: 'upon' } },
  {
    type: 'step.chunk',
    stepId: 'narrate',
    agentId: 'narrator',
    chunk: { seq: 2, data: { progress: 1 } },
  },
  {
    type: 'step.succeeded',
    stepId: 'narrate',
    agentId: 'narrator',
    output: { narration: 'Once upon' },
    durationMs: 12.5,
  },
  { type: 'coordination.finished', status: 'succeeded', result: { coordinationId: ID } },
];
/** Events as the log numbers them (the type lets the final one go without an id). */
const EVENTS: (CoordinationEvent & { id: number })[] = inputs.map((input, i) => ({
  ...input,
  id: i + 1,
  coordinationId: ID,
  time: at,
}));
const sse = (event: CoordinationEvent) =>
  formatSse({ event: event.type, id: event.id, data: event });

/** Answers with SSE: these events (a keep-alive first), then the end or a dropped connection. */
function stream(events: readonly CoordinationEvent[], end: 'close' | 'drop' = 'close') {
  return (_: IncomingMessage, response: ServerResponse) => {
    response.writeHead(200, SSE_HEADERS);
    response.write(SSE_KEEPALIVE);
    for (const event of events) response.write(sse(event));
    if (end === 'close') response.end();
    // A cut network: the socket goes away after what was written has gone out.
    else response.socket?.end();
  };
}

function json(status: number, body: unknown) {
  return (_: IncomingMessage, response: ServerResponse) => {
    response.writeHead(status, { 'content-type': 'application/json' });
    response.end(JSON.stringify(body));
  };
}

const NOT_FOUND = { error: { code: 'NOT_FOUND', message: `No coordination ${ID}.`, details: {} } };
/** GET /coordinations/{id} of a run still going, and of one that is over. */
const RUNNING = { coordinationId: ID, status: 'running', startedAt: at };
const RESULT = {
  coordinationId: ID,
  pattern: 'pipeline',
  mode: 'standard',
  status: 'failed',
  degraded: false,
  steps: [],
  errors: [{ stepId: 'narrate', agentId: 'narrator', error: 'AgentFailed', cause: 'no words' }],
  timings: { totalMs: 1200, overheadMs: 40 },
};

async function all<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const items: T[] = [];
  for await (const item of iterable) items.push(item);
  return items;
}

describe('watchCoordination', () => {
  it('replays the events in order, each as the API sent it, and ends with coordination.finished', async () => {
    script = stream(EVENTS);
    const events = await all(createClient(api).watchCoordination(ID));
    expect(events).toEqual(EVENTS);
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatchObject({ method: 'GET', url: `/coordinations/${ID}/events` });
    expect(seen[0]?.headers.accept).toBe('text/event-stream');
  });

  it('starts after `after`, and resumes a dropped connection with Last-Event-ID, delivering each event once', async () => {
    let connections = 0;
    script = (request, response) => {
      connections++;
      if (connections === 1) return stream(EVENTS.slice(1, 4), 'drop')(request, response);
      // The server replays from Last-Event-ID; one it sent already comes again and is skipped.
      const after = Number(request.headers['last-event-id']);
      return stream(EVENTS.filter((e) => e.id >= after))(request, response);
    };
    const events = await all(createClient(api).watchCoordination(ID, { after: 1, backoffMs: 1 }));
    expect(events.map((e) => e.id)).toEqual([2, 3, 4, 5, 6, 7]);
    expect(seen.map((request) => [request.url, request.headers['last-event-id']])).toEqual([
      [`/coordinations/${ID}/events?after=1`, undefined],
      [`/coordinations/${ID}/events`, '4'],
    ]);
  });

  it('gives up after the configured reconnections when the stream keeps dropping', async () => {
    script = stream(EVENTS.slice(0, 1), 'drop');
    const watched: number[] = [];
    const watching = (async () => {
      for await (const event of createClient(api).watchCoordination(ID, {
        reconnects: 2,
        backoffMs: 1,
      }))
        watched.push(event.id ?? 0);
    })();
    await expect(watching).rejects.toThrow(EventStreamError);
    await expect(watching).rejects.toThrow(/2 new connections did not bring it back/);
    expect(watched).toEqual([1]);
    expect(seen).toHaveLength(3);
    expect(seen.slice(1).map((request) => request.headers['last-event-id'])).toEqual(['1', '1']);
  });

  it('throws the ApiError of an unknown coordination at once, without reconnecting', async () => {
    script = json(404, NOT_FOUND);
    const error = await all(createClient(api).watchCoordination(ID)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect(error).toMatchObject({
      status: 404,
      code: 'NOT_FOUND',
      operationId: 'watchCoordination',
    });
    expect(seen).toHaveLength(1);
  });

  it('tries again while the API answers 503, and follows once it streams', async () => {
    let connections = 0;
    script = (request, response) => {
      connections++;
      if (connections === 1)
        return json(503, { error: { code: 'CAPACITY_EXCEEDED', message: 'busy', details: {} } })(
          request,
          response,
        );
      return stream(EVENTS)(request, response);
    };
    const events = await all(createClient(api).watchCoordination(ID, { backoffMs: 1 }));
    expect(events).toHaveLength(EVENTS.length);
    expect(seen).toHaveLength(2);
  });

  it('says why when the API cannot be reached, at once', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    await expect(
      all(createClient(`http://127.0.0.1:${port}`).watchCoordination(ID, { backoffMs: 1 })),
    ).rejects.toThrow(/fetch failed/);
  });

  it('says so, without reconnecting, when the API answers with something other than events', async () => {
    script = json(200, { coordinationId: ID, status: 'running' });
    await expect(all(createClient(api).watchCoordination(ID))).rejects.toThrow(
      /answered 200 with application\/json instead of an event stream/,
    );
    expect(seen).toHaveLength(1);
  });

  it('refuses an event that is not a coordination event, naming it', async () => {
    script = (_, response) => {
      response.writeHead(200, SSE_HEADERS);
      response.end(formatSse({ event: 'step.started', id: 1, data: { type: 'step.started' } }));
    };
    await expect(all(createClient(api).watchCoordination(ID))).rejects.toThrow(
      /"step.started" event that is not a coordination event/,
    );
  });

  it('ends quietly when its signal aborts, and closes the connection', async () => {
    let closed = false;
    script = (request, response) => {
      response.writeHead(200, SSE_HEADERS);
      response.write(sse(EVENTS[0] as CoordinationEvent));
      request.socket.on('close', () => {
        closed = true;
      });
    };
    const controller = new AbortController();
    const events: CoordinationEvent[] = [];
    for await (const event of createClient(api).watchCoordination(ID, {
      signal: controller.signal,
    })) {
      events.push(event);
      controller.abort();
    }
    expect(events.map((e) => e.type)).toEqual(['coordination.started']);
    for (let i = 0; i < 100 && !closed; i++) await new Promise((r) => setTimeout(r, 10));
    expect(closed).toBe(true);
  });

  it('signs its requests, Last-Event-ID included, when the API is API Gateway', async () => {
    let connections = 0;
    script = (request, response) => {
      connections++;
      stream(connections === 1 ? EVENTS.slice(0, 2) : EVENTS, connections === 1 ? 'drop' : 'close')(
        request,
        response,
      );
    };
    // LocalStack's API Gateway path on the loopback address: signed, as a deployed stack is.
    const gateway = createClient(`${api}/_aws/execute-api/abc123/v1`, {
      credentials: async () => ({
        accessKeyId: 'AKIDEXAMPLE',
        secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY',
      }),
    });
    await all(gateway.watchCoordination(ID, { backoffMs: 1 }));
    expect(seen.map((request) => request.url)).toEqual([
      `/_aws/execute-api/abc123/v1/coordinations/${ID}/events`,
      `/_aws/execute-api/abc123/v1/coordinations/${ID}/events`,
    ]);
    for (const request of seen)
      expect(request.headers.authorization).toMatch(/^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE\//);
    expect(seen[1]?.headers.authorization).toMatch(/SignedHeaders=[^,]*last-event-id/);
  });
});

/** What the API's error body looks like for this code. */
const errorBody = (code: string, message: string) => ({ error: { code, message, details: {} } });
const errorEvent = (code: string, message: string) =>
  formatSse({ event: 'error', data: errorBody(code, message) });
/** The final event as the API sends a result its log does not hold: no id. */
const { id: _id, ...finishedWithoutId } = EVENTS.at(-1) as CoordinationEvent & { id: number };
const finalWithoutId = formatSse({ event: 'coordination.finished', data: finishedWithoutId });

describe('watchCoordination: how a stream ends', () => {
  it('ends with a coordination.finished that has no id (a result the log does not hold)', async () => {
    script = (_, response) => {
      response.writeHead(200, SSE_HEADERS);
      for (const event of EVENTS.slice(0, -1)) response.write(sse(event));
      response.end(finalWithoutId);
    };
    const events = await all(createClient(api).watchCoordination(ID));
    expect(events).toEqual([...EVENTS.slice(0, -1), finishedWithoutId]);
    expect(events.at(-1)).not.toHaveProperty('id');
    expect(seen).toHaveLength(1);
  });

  it('takes a lone coordination.finished without id as the whole story (the log is empty)', async () => {
    script = (_, response) => {
      response.writeHead(200, SSE_HEADERS);
      response.end(finalWithoutId);
    };
    expect(await all(createClient(api).watchCoordination(ID))).toEqual([finishedWithoutId]);
  });

  it('still refuses an event other than the final one without an id', async () => {
    const { id: _started, ...startedWithoutId } = EVENTS[0] as CoordinationEvent;
    script = (_, response) => {
      response.writeHead(200, SSE_HEADERS);
      response.end(formatSse({ event: 'coordination.started', data: startedWithoutId }));
    };
    await expect(all(createClient(api).watchCoordination(ID))).rejects.toThrow(
      /"coordination.started" event that is not a coordination event/,
    );
  });

  it('resumes after a 5xx error event, as after a dropped connection', async () => {
    script = (request, response) => {
      response.writeHead(200, SSE_HEADERS);
      if (request.headers['last-event-id'] === undefined) {
        for (const event of EVENTS.slice(0, 3)) response.write(sse(event));
        response.end(
          errorEvent('INTERNAL', 'Internal error; quote request r-1 when reporting it.'),
        );
      } else {
        const after = Number(request.headers['last-event-id']);
        for (const event of EVENTS.filter((e) => e.id > after)) response.write(sse(event));
        response.end();
      }
    };
    const events = await all(createClient(api).watchCoordination(ID, { backoffMs: 1 }));
    expect(events).toEqual(EVENTS);
    expect(seen.map((request) => request.headers['last-event-id'])).toEqual([undefined, '3']);
  });

  it('throws a 4xx error event as its ApiError, with the status of its code, without reconnecting', async () => {
    script = (_, response) => {
      response.writeHead(200, SSE_HEADERS);
      response.write(sse(EVENTS[0] as CoordinationEvent));
      response.end(errorEvent('FORBIDDEN', 'Not yours to watch.'));
    };
    const watched: string[] = [];
    const error = await (async () => {
      for await (const event of createClient(api).watchCoordination(ID, { backoffMs: 1 }))
        watched.push(event.type);
    })().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect(error).toMatchObject({
      operationId: 'watchCoordination',
      status: 403,
      code: 'FORBIDDEN',
      midStream: true,
      body: errorBody('FORBIDDEN', 'Not yours to watch.'),
      message: "The API's event stream ended with FORBIDDEN (403): Not yours to watch.",
    });
    expect(watched).toEqual(['coordination.started']);
    expect(seen).toHaveLength(1);
  });

  it('gives up on error events that keep coming, naming the last one', async () => {
    script = (_, response) => {
      response.writeHead(200, SSE_HEADERS);
      response.end(errorEvent('INTERNAL', 'the log is down'));
    };
    const error = await all(
      createClient(api).watchCoordination(ID, { reconnects: 2, backoffMs: 1 }),
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(EventStreamError);
    expect((error as Error).message).toMatch(/2 new connections did not bring it back/);
    expect((error as Error).cause).toMatchObject({ status: 500, code: 'INTERNAL' });
    expect(seen).toHaveLength(3);
  });

  it('does not count connections the API closes cleanly, however many a long quiet run needs', async () => {
    // An API function ends its stream before its 15-minute limit: a quiet step longer than
    // reconnects × 15 minutes closes more connections without an event than `reconnects`.
    // Every third quiet close in a row, the client asks whether the run is over: it is not.
    let connections = 0;
    script = (request, response) => {
      if (request.url === `/coordinations/${ID}`) return json(200, RUNNING)(request, response);
      connections++;
      response.writeHead(200, SSE_HEADERS);
      if (connections === 1) response.write(sse(EVENTS[0] as CoordinationEvent));
      if (connections < 8) {
        response.end(SSE_KEEPALIVE);
        return;
      }
      expect(request.headers['last-event-id']).toBe('1');
      for (const event of EVENTS.slice(1)) response.write(sse(event));
      response.end();
    };
    const events = await all(
      createClient(api).watchCoordination(ID, { reconnects: 1, backoffMs: 1 }),
    );
    expect(events).toEqual(EVENTS);
    // The first connection brought an event; 2–4 and 5–7 closed without one.
    expect(seen.map((request) => request.url)).toEqual([
      ...Array.from({ length: 4 }, () => `/coordinations/${ID}/events`),
      `/coordinations/${ID}`,
      ...Array.from({ length: 3 }, () => `/coordinations/${ID}/events`),
      `/coordinations/${ID}`,
      `/coordinations/${ID}/events`,
    ]);
  });

  it('ends a run whose end was never logged with the coordination.finished its result makes, once three connections in a row closed without an event', async () => {
    // The append of coordination.finished failed: the API follows the log until its time is up
    // and closes cleanly, again and again, while GET /coordinations/{id} has the result.
    let connections = 0;
    script = (request, response) => {
      if (request.url === `/coordinations/${ID}`) return json(200, RESULT)(request, response);
      connections++;
      response.writeHead(200, SSE_HEADERS);
      if (connections === 1) for (const event of EVENTS.slice(0, -1)) response.write(sse(event));
      response.end(SSE_KEEPALIVE);
    };
    const events = await all(
      createClient(api).watchCoordination(ID, {
        backoffMs: 1,
        // Bounds the test should the client reopen the stream for ever: it would end quietly.
        signal: AbortSignal.timeout(10_000),
      }),
    );
    expect(events.slice(0, -1)).toEqual(EVENTS.slice(0, -1));
    const end = events.at(-1);
    expect(end).toEqual({
      type: 'coordination.finished',
      status: 'failed',
      result: RESULT,
      coordinationId: ID,
      time: expect.any(String),
    });
    expect(end).not.toHaveProperty('id');
    expect(seen.map((request) => [request.url, request.headers['last-event-id']])).toEqual([
      [`/coordinations/${ID}/events`, undefined],
      [`/coordinations/${ID}/events`, '6'],
      [`/coordinations/${ID}/events`, '6'],
      [`/coordinations/${ID}/events`, '6'],
      [`/coordinations/${ID}`, undefined],
    ]);
  });

  it('says the end was never logged when the streams keep closing at once and the API does not know the coordination, instead of asking for ever', async () => {
    // An express run (not kept) whose end was never logged, or an API or proxy that answers every
    // stream with 200 and closes it at once.
    script = (request, response) => {
      if (request.url === `/coordinations/${ID}`) return json(404, NOT_FOUND)(request, response);
      response.writeHead(200, SSE_HEADERS);
      response.end();
    };
    const error = await all(
      createClient(api).watchCoordination(ID, {
        backoffMs: 1,
        // Bounds the test should the client keep asking: it would end quietly, with no error.
        signal: AbortSignal.timeout(10_000),
      }),
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(EventStreamError);
    expect((error as Error).message).toMatch(/its end was never logged/);
    expect((error as Error).cause).toMatchObject({
      operationId: 'getCoordination',
      status: 404,
      code: 'NOT_FOUND',
    });
    expect(seen.map((request) => request.url)).toEqual([
      `/coordinations/${ID}/events`,
      `/coordinations/${ID}/events`,
      `/coordinations/${ID}/events`,
      `/coordinations/${ID}`,
    ]);
  });

  it('counts failed attempts in a row only: events flowing start the count again', async () => {
    // Every connection brings one new event, then drops: never two failures in a row.
    script = (request, response) => {
      const after = Number(request.headers['last-event-id'] ?? 0);
      const next = EVENTS.find((e) => e.id > after) as CoordinationEvent;
      response.writeHead(200, SSE_HEADERS);
      response.write(sse(next));
      if (isFinalEvent(next)) response.end();
      else response.socket?.end();
    };
    const events = await all(
      createClient(api).watchCoordination(ID, { reconnects: 1, backoffMs: 1 }),
    );
    expect(events).toEqual(EVENTS);
    expect(seen).toHaveLength(EVENTS.length);
  });

  it('ends at once, with nothing, when asked from past the end (204)', async () => {
    script = (_, response) => {
      response.writeHead(204);
      response.end();
    };
    expect(await all(createClient(api).watchCoordination(ID, { after: 7 }))).toEqual([]);
    expect(seen.map((request) => request.url)).toEqual([`/coordinations/${ID}/events?after=7`]);
  });

  it('takes 503 EVENTS_NOT_CONFIGURED as final: an API without an event log does not grow one', async () => {
    script = json(503, errorBody('EVENTS_NOT_CONFIGURED', 'no coordination event log'));
    const error = await all(createClient(api).watchCoordination(ID, { backoffMs: 1 })).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ApiError);
    expect(error).toMatchObject({ status: 503, code: 'EVENTS_NOT_CONFIGURED', midStream: false });
    expect(seen).toHaveLength(1);
  });
});

const isFinalEvent = (event: CoordinationEvent) => event.type === 'coordination.finished';

describe('streamMessage', () => {
  const message = { to: 'narrator', payload: { summary: 'Queues decouple producers.' } };
  const response = { messageId: 'm-2', type: 'response', payload: { narration: 'Once upon' } };

  it('yields the chunks in order as they arrive, then the response, and sends the message asking for SSE', async () => {
    script = (_, res) => {
      res.writeHead(200, SSE_HEADERS);
      res.write(formatSse({ event: 'chunk', id: 0, data: { seq: 0, text: 'Once ' } }));
      res.write(formatSse({ event: 'chunk', id: 1, data: { seq: 1, data: { words: 2 } } }));
      res.end(formatSse({ event: 'response', data: response }));
    };
    const events = await all(createClient(api).streamMessage(message));
    expect(events).toEqual<MessageStreamEvent[]>([
      { event: 'chunk', data: { seq: 0, text: 'Once ' } },
      { event: 'chunk', data: { seq: 1, data: { words: 2 } } },
      { event: 'response', data: response },
    ]);
    expect(seen[0]).toMatchObject({ method: 'POST', url: '/messages' });
    expect(seen[0]?.headers.accept).toBe('text/event-stream');
    expect(JSON.parse(seen[0]?.body ?? '')).toEqual({ ...message, stream: true });
  });

  it('ends with the error event when the agent fails mid-stream', async () => {
    const failure = { error: { code: 'AGENT_FAILED', message: 'narrator failed', details: {} } };
    script = (_, res) => {
      res.writeHead(200, SSE_HEADERS);
      res.write(formatSse({ event: 'chunk', id: 0, data: { seq: 0, text: 'Once ' } }));
      res.end(formatSse({ event: 'error', data: failure }));
    };
    const events = await all(createClient(api).streamMessage(message));
    expect(events.map((e) => e.event)).toEqual(['chunk', 'error']);
    expect(events[1]).toEqual({ event: 'error', data: failure });
  });

  it('throws an ApiError for a message refused before it reaches the agent', async () => {
    script = json(404, { error: { code: 'NOT_FOUND', message: 'No agent ghost.', details: {} } });
    await expect(all(createClient(api).streamMessage({ ...message, to: 'ghost' }))).rejects.toThrow(
      ApiError,
    );
  });

  it('says so when the stream ends before the response: a message cannot be resumed', async () => {
    script = (_, res) => {
      res.writeHead(200, SSE_HEADERS);
      res.write(formatSse({ event: 'chunk', id: 0, data: { seq: 0, text: 'Once ' } }));
      res.socket?.end();
    };
    await expect(all(createClient(api).streamMessage(message))).rejects.toThrow(
      /ended before its response or error/,
    );
  });

  it('refuses a chunk of the wrong shape', async () => {
    script = (_, res) => {
      res.writeHead(200, SSE_HEADERS);
      res.end(formatSse({ event: 'chunk', data: { seq: -1, text: 'x' } }));
    };
    await expect(all(createClient(api).streamMessage(message))).rejects.toThrow(EventStreamError);
  });
});

describe('runCoordinationStream', () => {
  const request: Schemas['CoordinationRequest'] = {
    pattern: 'sequential',
    agents: ['narrator'],
    payload: { text: 'Queues decouple producers.' },
  };

  it('starts the run asking for SSE and yields its events until coordination.finished', async () => {
    script = stream(EVENTS);
    expect(await all(createClient(api).runCoordinationStream(request))).toEqual(EVENTS);
    expect(seen[0]).toMatchObject({ method: 'POST', url: '/coordinations' });
    expect(seen[0]?.headers.accept).toBe('text/event-stream');
    expect(JSON.parse(seen[0]?.body ?? '')).toEqual(request);
  });

  it('follows the rest from the event log when its stream drops', async () => {
    script = (req, res) =>
      req.method === 'POST'
        ? stream(EVENTS.slice(0, 3), 'drop')(req, res)
        : stream(EVENTS.slice(3))(req, res);
    const events = await all(createClient(api).runCoordinationStream(request, { backoffMs: 1 }));
    expect(events).toEqual(EVENTS);
    expect(seen.map((r) => `${r.method} ${r.url}`)).toEqual([
      'POST /coordinations',
      `GET /coordinations/${ID}/events?after=3`,
    ]);
  });

  it('ends with a coordination.finished without id, and reads nothing more', async () => {
    script = (_, response) => {
      response.writeHead(200, SSE_HEADERS);
      for (const event of EVENTS.slice(0, -1)) response.write(sse(event));
      response.end(finalWithoutId);
    };
    const events = await all(createClient(api).runCoordinationStream(request, { backoffMs: 1 }));
    expect(events).toEqual([...EVENTS.slice(0, -1), finishedWithoutId]);
    expect(seen.map((r) => `${r.method} ${r.url}`)).toEqual(['POST /coordinations']);
  });

  it('follows the rest from the event log after a 5xx error event: the log failed under the stream, the run goes on', async () => {
    script = (req, res) => {
      if (req.method === 'GET') return stream(EVENTS.slice(3))(req, res);
      res.writeHead(200, SSE_HEADERS);
      for (const event of EVENTS.slice(0, 3)) res.write(sse(event));
      res.end(errorEvent('INTERNAL', 'Internal error; quote request r-1 when reporting it.'));
    };
    const events = await all(createClient(api).runCoordinationStream(request, { backoffMs: 1 }));
    expect(events).toEqual(EVENTS);
    expect(seen.map((r) => `${r.method} ${r.url}`)).toEqual([
      'POST /coordinations',
      `GET /coordinations/${ID}/events?after=3`,
    ]);
  });

  it('throws a 4xx error event as its ApiError, and reads nothing more', async () => {
    script = (_, response) => {
      response.writeHead(200, SSE_HEADERS);
      response.write(sse(EVENTS[0] as CoordinationEvent));
      response.end(errorEvent('FORBIDDEN', 'Not yours to watch.'));
    };
    const error = await all(createClient(api).runCoordinationStream(request)).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ApiError);
    expect(error).toMatchObject({
      operationId: 'runCoordination',
      status: 403,
      code: 'FORBIDDEN',
      midStream: true,
    });
    expect(seen).toHaveLength(1);
  });

  it('throws the ApiError of a request refused before it starts', async () => {
    script = json(400, { error: { code: 'VALIDATION_FAILED', message: 'bad', details: {} } });
    await expect(all(createClient(api).runCoordinationStream(request))).rejects.toMatchObject({
      status: 400,
      operationId: 'runCoordination',
    });
  });

  it('types what the streamed operations yield', () => {
    const client = createClient(api);
    expectTypeOf(client.watchCoordination(ID)).toEqualTypeOf<AsyncIterable<CoordinationEvent>>();
    expectTypeOf(client.streamMessage({ to: 'a', payload: {} })).toEqualTypeOf<
      AsyncIterable<MessageStreamEvent>
    >();
  });
});
