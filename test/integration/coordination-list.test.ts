import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApi } from '../../functions/api/app.ts';
import { buffered } from '../../functions/api/http.ts';
import type { CoordinationResult } from '../../functions/coordination/result.ts';
import { FatalAgentError } from '../../functions/core/messaging/agent-errors.ts';
import type { AgentDefinition } from '../../functions/core/sdk/define-agent.ts';
import type { CoordinationSummary } from '../../functions/core/streaming/events.ts';
import { lambdaContext } from '../../functions/embedded/lambda-context.ts';
import { EmbeddedRuntime } from '../../functions/embedded/runtime.ts';
import { gatewayEvent } from '../support/api-json.ts';

/**
 * GET /coordinations and DELETE /coordinations/{id} as a client meets them: the embedded runtime
 * on a loopback port (dynalite holds the event log and its index), express and standard runs of
 * in-process agents, the routes called over real HTTP.
 */
let runtime: EmbeddedRuntime;
/** Coordinations each agent was called for, by agent. */
const calls = new Map<string, string[]>();
/** The slow agent waits here until a test lets it go (bounded: it gives up after 20 s). */
let releaseSlow: () => void = () => undefined;
let slowGate: Promise<void> = Promise.resolve();
/** Resolves when the slow agent has started a task. */
let slowStarted: Promise<void> = Promise.resolve();
let markSlowStarted: () => void = () => undefined;

const agent = (agentId: string, handler: AgentDefinition['handler']): AgentDefinition => ({
  agentId,
  agentType: 'test',
  description: `listing test agent ${agentId}`,
  capabilities: [{ name: agentId, version: '1.0.0' }],
  handler: async (message, context) => {
    const id = message.task?.coordinationId ?? 'none';
    calls.set(agentId, [...(calls.get(agentId) ?? []), id]);
    return handler(message, context);
  },
});

const AGENTS: AgentDefinition[] = [
  agent('quick', async () => ({ by: 'quick' })),
  agent('broken', async () => {
    throw new FatalAgentError('broken cannot do anything');
  }),
  agent('slow', async () => {
    markSlowStarted();
    await Promise.race([slowGate, sleep(20_000)]);
    return { by: 'slow' };
  }),
];

function holdSlowAgent(): void {
  slowGate = new Promise((resolve) => {
    releaseSlow = resolve;
  });
  slowStarted = new Promise((resolve) => {
    markSlowStarted = resolve;
  });
}

beforeAll(async () => {
  runtime = await EmbeddedRuntime.start({ agents: AGENTS, port: 0 });
}, 60_000);

afterAll(async () => {
  releaseSlow();
  await runtime?.stop();
});

type Json = Record<string, unknown> & {
  error?: { code: string; message: string; details: Record<string, unknown> };
};

async function call(method: string, path: string, body?: unknown) {
  const response = await fetch(`${runtime.apiUrl}${path}`, {
    method,
    headers: { 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    signal: AbortSignal.timeout(20_000),
  });
  return { status: response.status, body: (await response.json()) as Json };
}

/** Runs a coordination; standard runs are awaited to their end unless `wait` is false. */
async function run(request: Record<string, unknown>, wait = true): Promise<string> {
  const { status, body } = await call('POST', '/coordinations', request);
  const id = (body.coordinationId ??
    (body.error?.details.result as CoordinationResult | undefined)?.coordinationId) as string;
  expect(id, JSON.stringify(body)).toEqual(expect.any(String));
  if (status === 202 && wait) await finished(id);
  // Starts a millisecond apart at least, so that newest-first is one order.
  await sleep(3);
  return id;
}

/** Polls GET /coordinations/{id} until the run has ended (bounded). */
async function finished(id: string): Promise<CoordinationResult> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const { body } = await call('GET', `/coordinations/${id}`);
    if (body.status !== 'running') return body as unknown as CoordinationResult;
    await sleep(25);
  }
  throw new Error(`coordination ${id} did not finish`);
}

const searchOf = (query: Record<string, string | number>) =>
  new URLSearchParams(
    Object.entries(query).map(([key, value]): [string, string] => [key, String(value)]),
  );

type Page = { coordinations: CoordinationSummary[]; nextToken?: string };

async function list(query: Record<string, string | number>): Promise<Page> {
  const { status, body } = await call('GET', `/coordinations?${searchOf(query)}`);
  expect(status, JSON.stringify(body)).toBe(200);
  return body as unknown as Page;
}

/** Every page of a listing, following nextToken (bounded). */
async function listAll(query: Record<string, string | number>): Promise<Page[]> {
  const pages: Page[] = [];
  let nextToken: string | undefined;
  do {
    const page = await list(nextToken === undefined ? query : { ...query, nextToken });
    pages.push(page);
    nextToken = page.nextToken;
  } while (nextToken !== undefined && pages.length < 20);
  expect(nextToken).toBeUndefined();
  return pages;
}

const now = () => new Date().toISOString();

describe('GET /coordinations', () => {
  it('lists express and standard runs newest first, each with how it ended', async () => {
    const since = now();
    const succeeded = await run({ pattern: 'sequential', agents: ['quick'] });
    const failed = await run({ pattern: 'pipeline', agents: ['quick', 'broken'] });
    const standard = await run({
      pattern: 'parallel',
      agents: ['quick', 'quick'],
      mode: 'standard',
    });

    const { coordinations, nextToken } = await list({ since });
    expect(nextToken).toBeUndefined();
    expect(coordinations.map((c) => c.coordinationId)).toEqual([standard, failed, succeeded]);
    expect(coordinations).toEqual([
      {
        coordinationId: standard,
        pattern: 'parallel',
        mode: 'standard',
        status: 'succeeded',
        startedAt: expect.any(String),
        finishedAt: expect.any(String),
        totalMs: expect.any(Number),
        steps: 2,
        agents: ['quick'],
      },
      expect.objectContaining({
        coordinationId: failed,
        pattern: 'pipeline',
        mode: 'express',
        status: 'failed',
        steps: 2,
        agents: ['quick', 'broken'],
      }),
      expect.objectContaining({
        coordinationId: succeeded,
        pattern: 'sequential',
        mode: 'express',
        status: 'succeeded',
        steps: 1,
        agents: ['quick'],
      }),
    ]);
    for (const summary of coordinations) {
      expect(summary.startedAt >= since).toBe(true);
      expect(summary.finishedAt !== null && summary.finishedAt >= summary.startedAt).toBe(true);
    }
    // The duration is the result's own.
    const result = await finished(standard);
    expect(coordinations[0]?.totalMs).toBe(result.timings.totalMs);
  });

  it('shows a standard run as running until it ends', async () => {
    holdSlowAgent();
    const since = now();
    const id = await run({ pattern: 'sequential', agents: ['slow'], mode: 'standard' }, false);
    await slowStarted;
    expect((await list({ since })).coordinations).toEqual([
      expect.objectContaining({
        coordinationId: id,
        status: 'running',
        finishedAt: null,
        totalMs: null,
      }),
    ]);
    releaseSlow();
    await finished(id);
    expect((await list({ since })).coordinations).toEqual([
      expect.objectContaining({ coordinationId: id, status: 'succeeded' }),
    ]);
  });

  it('filters by status and pattern, and starts at since', async () => {
    const before = now();
    const old = await run({ pattern: 'parallel', agents: ['quick'] });
    const since = now();
    const parallel = await run({ pattern: 'parallel', agents: ['quick', 'quick'] });
    const failed = await run({ pattern: 'sequential', agents: ['broken'] });
    const ok = await run({ pattern: 'sequential', agents: ['quick'] });

    const ids = (page: Page) => page.coordinations.map((c) => c.coordinationId);
    expect(ids(await list({ since }))).toEqual([ok, failed, parallel]);
    expect(ids(await list({ since: before }))).toEqual([ok, failed, parallel, old]);
    expect(ids(await list({ since, status: 'failed' }))).toEqual([failed]);
    expect(ids(await list({ since, pattern: 'parallel' }))).toEqual([parallel]);
    expect(ids(await list({ since, pattern: 'sequential', status: 'succeeded' }))).toEqual([ok]);
    expect(ids(await list({ since, status: 'cancelled' }))).toEqual([]);
    // An offset is read as the instant it names.
    const inParis = new Date(Date.parse(since) + 3_600_000).toISOString().replace('Z', '+01:00');
    expect(ids(await list({ since: inParis }))).toEqual([ok, failed, parallel]);
  });

  it('pages through with nextToken, newest first, each page at most limit long', async () => {
    const since = now();
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push(await run({ pattern: 'sequential', agents: ['quick'] }));
    const pages = await listAll({ since, limit: 2 });
    expect(pages.map((page) => page.coordinations.length)).toEqual([2, 2, 1]);
    expect(pages.flatMap((page) => page.coordinations.map((c) => c.coordinationId))).toEqual(
      ids.reverse(),
    );

    // Filtered pages: DynamoDB reads `limit` entries, the filter keeps what matches (maybe none).
    const failedPages = await listAll({ since, limit: 2, status: 'failed' });
    expect(failedPages.flatMap((page) => page.coordinations)).toEqual([]);
    for (const page of failedPages) expect(page.coordinations.length).toBeLessThanOrEqual(2);
  });

  it('refuses a token of another listing, or one it never gave, naming nextToken', async () => {
    const since = now();
    await run({ pattern: 'sequential', agents: ['quick'] });
    await run({ pattern: 'sequential', agents: ['quick'] });
    const { nextToken } = await list({ since, limit: 1 });
    expect(nextToken).toEqual(expect.any(String));
    const queries: Record<string, string | number>[] = [
      { since, limit: 1, status: 'succeeded', nextToken: nextToken as string },
      { since, limit: 1, nextToken: 'bm90IGEgdG9rZW4' },
    ];
    for (const query of queries) {
      const { status, body } = await call('GET', `/coordinations?${searchOf(query)}`);
      expect(status).toBe(400);
      expect(body.error?.details.issues).toEqual([expect.objectContaining({ path: 'nextToken' })]);
    }
  });

  it.each([
    ['status=done', 'status'],
    ['pattern=round_robin', 'pattern'],
    ['since=yesterday', 'since'],
    ['since=2026-12-01', 'since'],
    ['limit=0', 'limit'],
    ['limit=101', 'limit'],
    ['limit=ten', 'limit'],
    ['limit=2.5', 'limit'],
    ['nextToken=', 'nextToken'],
  ])('answers %s with a 400 naming %s', async (search, field) => {
    const { status, body } = await call('GET', `/coordinations?${search}`);
    expect(status).toBe(400);
    expect(body.error?.code).toBe('VALIDATION_FAILED');
    expect(body.error?.details.issues).toEqual([expect.objectContaining({ path: field })]);
  });

  it('answers a query field it does not know with a 400', async () => {
    const { status, body } = await call('GET', '/coordinations?state=running');
    expect(status).toBe(400);
    expect(JSON.stringify(body.error?.details.issues)).toContain('state');
  });
});

describe('DELETE /coordinations/{id}', () => {
  it('cancels a running standard run: its result, its events and the listing all say cancelled', async () => {
    holdSlowAgent();
    const since = now();
    const id = await run(
      { pattern: 'sequential', agents: ['slow', 'quick'], mode: 'standard' },
      false,
    );
    await slowStarted;

    const cancelled = await call('DELETE', `/coordinations/${id}`);
    expect(cancelled).toEqual({ status: 200, body: { coordinationId: id, status: 'cancelled' } });

    const { status, body } = await call('GET', `/coordinations/${id}`);
    expect(status).toBe(200);
    expect(body).toMatchObject({
      coordinationId: id,
      mode: 'standard',
      status: 'cancelled',
      output: null,
      errors: [
        {
          agentId: 'slow',
          stepId: 'step1',
          error: 'Mobius.CoordinationCancelled',
          cause: expect.stringContaining('cancelled by'),
        },
      ],
    });
    const events = await runtime.events.read(id);
    expect(events.at(-1)).toMatchObject({
      type: 'coordination.finished',
      status: 'cancelled',
      result: { status: 'cancelled' },
    });
    expect((await list({ since, status: 'cancelled' })).coordinations).toEqual([
      expect.objectContaining({
        coordinationId: id,
        status: 'cancelled',
        finishedAt: expect.any(String),
      }),
    ]);

    // The slow agent finishes unheard: no step starts after the stop, and nothing undoes it.
    releaseSlow();
    await runtime.engine.drain();
    await sleep(50);
    expect(calls.get('quick') ?? []).not.toContain(id);
    expect((await finished(id)).status).toBe('cancelled');
    const after = await runtime.events.read(id);
    expect(after.filter((event) => event.type === 'coordination.finished')).toHaveLength(1);
    expect((await list({ since })).coordinations[0]?.status).toBe('cancelled');

    // Twice: it has ended, cancelled.
    const again = await call('DELETE', `/coordinations/${id}`);
    expect(again.status).toBe(409);
    expect(again.body.error).toMatchObject({
      code: 'CONFLICT',
      message: expect.stringContaining('(cancelled)'),
      details: { coordinationId: id, status: 'cancelled' },
    });
  });

  it('refuses a standard run that has ended, naming how', async () => {
    const id = await run({ pattern: 'sequential', agents: ['quick'], mode: 'standard' });
    const { status, body } = await call('DELETE', `/coordinations/${id}`);
    expect(status).toBe(409);
    expect(body.error?.details).toEqual({ coordinationId: id, status: 'succeeded' });
    expect(body.error?.message).toContain('already ended (succeeded)');
  });

  it('refuses an express run, saying why', async () => {
    const id = await run({ pattern: 'sequential', agents: ['quick'] });
    const { status, body } = await call('DELETE', `/coordinations/${id}`);
    expect(status).toBe(409);
    expect(body.error).toMatchObject({
      code: 'CONFLICT',
      details: { coordinationId: id, mode: 'express' },
    });
    expect(body.error?.message).toMatch(/express.*cannot stop an express execution/);
  });

  it('answers 404 for a coordination nobody started', async () => {
    for (const id of [
      'mobius-sequential-0123456789abcdef--00000000',
      'no-such-run',
      'x'.repeat(300),
    ]) {
      const { status, body } = await call('DELETE', `/coordinations/${id}`);
      expect(status).toBe(404);
      expect(body.error?.code).toBe('NOT_FOUND');
    }
  });

  it('is for operators only: anyone else gets a 403 and the run goes on', async () => {
    holdSlowAgent();
    const id = await run({ pattern: 'sequential', agents: ['slow'], mode: 'standard' }, false);
    await slowStarted;
    const ACCOUNT = '123456789012';
    const api = createApi({
      registry: runtime.registry,
      router: runtime.router,
      coordinations: runtime.coordinations,
      events: runtime.events,
      access: { mode: 'iam', operators: [`arn:aws:iam::${ACCOUNT}:role/MobiusOperator`] },
    });
    const as = (role: string) =>
      api(
        gatewayEvent('DELETE', `/coordinations/${id}`, {
          resource: '/coordinations/{id}',
          caller: `arn:aws:sts::${ACCOUNT}:assumed-role/${role}/session`,
        }),
        lambdaContext('mobius-api'),
      ).then((response) => {
        const { statusCode, body } = buffered(response);
        return { status: statusCode, body: JSON.parse(body) as Json };
      });

    const refused = await as('AppInvoker');
    expect(refused.status).toBe(403);
    expect(refused.body.error).toMatchObject({
      code: 'FORBIDDEN',
      details: { action: 'cancel coordinations' },
    });
    expect((await call('GET', `/coordinations/${id}`)).body.status).toBe('running');

    const byOperator = await as('MobiusOperator');
    expect(byOperator).toEqual({ status: 200, body: { coordinationId: id, status: 'cancelled' } });
    const result = await finished(id);
    expect(result.errors[0]?.cause).toContain(
      `cancelled by arn:aws:iam::${ACCOUNT}:role/MobiusOperator`,
    );
    releaseSlow();
  });
});

describe('GET /health', () => {
  type Coordinations = {
    inFlight: number;
    queued: number;
    maxInFlight: number | null;
    running: { count: number; since: string; truncated: boolean } | null;
  };
  const coordinationsNow = async (): Promise<Coordinations> => {
    const { status, body } = await call('GET', '/health');
    expect(status).toBe(200);
    return body.coordinations as Coordinations;
  };

  it('counts the runs running in the whole deployment beside this instance’s admission', async () => {
    const before = await coordinationsNow();
    expect(before).toEqual({
      inFlight: 0,
      queued: 0,
      maxInFlight: 16,
      running: { count: expect.any(Number), since: expect.any(String), truncated: false },
    });
    // A day back from now.
    const since = Date.parse(before.running?.since ?? '');
    expect(Date.now() - since).toBeGreaterThanOrEqual(24 * 3600 * 1000);
    expect(Date.now() - since).toBeLessThan(24 * 3600 * 1000 + 60_000);

    holdSlowAgent();
    const id = await run({ pattern: 'sequential', agents: ['slow'], mode: 'standard' }, false);
    await slowStarted;
    // A standard run holds no admission slot once started, but it is running.
    const during = await coordinationsNow();
    expect(during.inFlight).toBe(0);
    expect(during.running?.count).toBe((before.running?.count ?? 0) + 1);

    expect((await call('DELETE', `/coordinations/${id}`)).status).toBe(200);
    expect((await coordinationsNow()).running?.count).toBe(before.running?.count);
    releaseSlow();
  });
});
