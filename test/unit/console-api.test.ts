import { afterEach, describe, expect, it, vi } from 'vitest';
import { ApiFailure, failureOf, startCoordination } from '../../console/src/api.ts';

/**
 * How the web console reads the API's answers: an error shows the API's own message, a route the
 * API does not have (an older API) is told apart so the page can say so, and starting a run
 * resolves with its id as soon as the API names it. fetch is replaced; nothing leaves the process.
 */
afterEach(() => {
  vi.unstubAllGlobals();
});

describe('failureOf', () => {
  it('shows the API’s own message and code', () => {
    const failure = failureOf('POST', '/agents/a/drain', 403, {
      error: { code: 'FORBIDDEN', message: 'Only operators may drain agents.', details: {} },
    });
    expect(failure).toMatchObject({
      message: 'Only operators may drain agents.',
      status: 403,
      code: 'FORBIDDEN',
      routeMissing: false,
    });
  });

  it('tells a route the API does not have from a missing thing, embedded and on API Gateway', () => {
    const embedded = failureOf('GET', '/coordinations?limit=25', 404, {
      error: { code: 'NOT_FOUND', message: 'No route GET /coordinations. See the API table.' },
    });
    expect(embedded.routeMissing).toBe(true);
    expect(embedded.message).toBe(
      'This API has no route GET /coordinations (it answered 404): it is older than this console.',
    );
    const gateway = failureOf('POST', '/agents/a/drain', 403, {
      message: 'Missing Authentication Token',
    });
    expect(gateway.routeMissing).toBe(true);
    const unknownAgent = failureOf('GET', '/agents/nobody', 404, {
      error: { code: 'NOT_FOUND', message: 'No agent nobody' },
    });
    expect(unknownAgent).toMatchObject({ routeMissing: false, message: 'No agent nobody' });
  });

  it('says something useful when the body is not the API’s', () => {
    expect(failureOf('GET', '/health', 502, 'Bad Gateway').message).toBe('Bad Gateway');
    expect(failureOf('GET', '/health', 500, undefined).message).toBe('GET /health answered 500');
  });
});

const sse = (text: string) =>
  new Response(
    new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new TextEncoder().encode(text));
        // The stream stays open, as a running coordination's does.
      },
    }),
    { status: 200, headers: { 'content-type': 'text/event-stream; charset=utf-8' } },
  );

describe('startCoordination', () => {
  it('asks for events and resolves with the id of the first, leaving the run to go on', async () => {
    const calls: RequestInit[] = [];
    vi.stubGlobal(
      'fetch',
      vi.fn(async (_url: string, init: RequestInit) => {
        calls.push(init);
        return sse(
          ': keep-alive\n\nid: 1\nevent: coordination.started\ndata: {"type":"coordination.started","coordinationId":"run-1"}\n\n',
        );
      }),
    );
    await expect(startCoordination({ pattern: 'parallel', agents: ['a'] })).resolves.toBe('run-1');
    const [init] = calls as [RequestInit];
    expect((init.headers as Record<string, string>).accept).toBe('text/event-stream');
    expect(JSON.parse(String(init.body))).toEqual({ pattern: 'parallel', agents: ['a'] });
    // The page lets the stream go once it has the id: the request is aborted.
    expect(init.signal?.aborted).toBe(true);
  });

  it('takes the id from a JSON answer (an API that does not stream, a standard run’s 202)', async () => {
    vi.stubGlobal(
      'fetch',
      vi.fn(
        async () =>
          new Response(JSON.stringify({ coordinationId: 'run-2', status: 'running' }), {
            status: 202,
            headers: { 'content-type': 'application/json' },
          }),
      ),
    );
    await expect(startCoordination({})).resolves.toBe('run-2');
  });

  it('rejects with the API’s message when the request is refused', async () => {
    vi.stubGlobal(
      'fetch',
      vi.fn(
        async () =>
          new Response(
            JSON.stringify({
              error: { code: 'VALIDATION_FAILED', message: 'pattern: pattern must be one of …' },
            }),
            { status: 400, headers: { 'content-type': 'application/json' } },
          ),
      ),
    );
    const refused = await startCoordination({}).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(ApiFailure);
    expect(refused).toMatchObject({ status: 400, message: 'pattern: pattern must be one of …' });
  });

  it('rejects with the error event of a run that fails before it is named', async () => {
    vi.stubGlobal(
      'fetch',
      vi.fn(async () =>
        sse('event: error\ndata: {"error":{"code":"INTERNAL","message":"the log failed"}}\n\n'),
      ),
    );
    await expect(startCoordination({})).rejects.toThrow('the log failed');
  });
});
