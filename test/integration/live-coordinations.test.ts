import { setTimeout as sleep } from 'node:timers/promises';
import type { Metrics } from '@aws-lambda-powertools/metrics';
import type { APIGatewayProxyEvent } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApi } from '../../functions/api/app.ts';
import { streamingApi } from '../../functions/api/stream-entry.ts';
import type { CoordinationResult } from '../../functions/coordination/result.ts';
import {
  FatalAgentError,
  RetryableAgentError,
} from '../../functions/core/messaging/agent-errors.ts';
import type { AgentDefinition } from '../../functions/core/sdk/define-agent.ts';
import type { CoordinationEventLog } from '../../functions/core/streaming/event-log.ts';
import { type CoordinationEvent, isFinal } from '../../functions/core/streaming/events.ts';
import { type ReceivedSse, readSse } from '../../functions/core/streaming/sse.ts';
import { type ApiServer, startApiServer } from '../../functions/embedded/api-server.ts';
import { lambdaContext } from '../../functions/embedded/lambda-context.ts';
import { EmbeddedRuntime } from '../../functions/embedded/runtime.ts';
import { CollectingStream, integrationResponse } from '../support/response-stream.ts';

/**
 * Live coordinations as a client meets them: the embedded runtime on a loopback port, agents that
 * stream (async generators) written with the agent SDK, and the SSE routes read over real HTTP —
 * POST /coordinations with `Accept: text/event-stream`, and GET /coordinations/{id}/events.
 */
let runtime: EmbeddedRuntime;
/** Calls per coordination of the agent that fails its first try of every run. */
const flakyCalls = new Map<string, number>();
/** Holds the slow agent between its first and its second chunk, until a test lets it go. */
let releaseSlow: () => void = () => undefined;
let slowGate: Promise<void> = Promise.resolve();
const WORDS = ['Hello', ', ', 'world'];
const CHATTY_CHUNKS = 620;

const agent = (
  agentId: string,
  capability: string,
  handler: AgentDefinition['handler'],
): AgentDefinition => ({
  agentId,
  agentType: 'test',
  description: `streaming test agent ${agentId}`,
  capabilities: [{ name: capability, version: '1.0.0' }],
  handler,
});

const AGENTS: AgentDefinition[] = [
  // Text deltas, then the answer.
  agent('writer', 'write', async function* () {
    for (const word of WORDS) yield word;
    return { by: 'writer', text: WORDS.join('') };
  }),
  // JSON chunks, then the answer.
  agent('counter', 'count', async function* () {
    yield { n: 1 };
    yield { n: 2 };
    return { by: 'counter', count: 2 };
  }),
  // A supervisor that thinks aloud: one round of work for the writer, then done.
  agent('boss', 'plan', async function* (message) {
    const { round } = (message.task?.context ?? {}) as { round?: number };
    yield `round ${round}`;
    if (round === 1) return { subtasks: [{ agentId: 'writer', input: { part: 1 } }] };
    return { done: true, output: { summary: `done after ${(round ?? 1) - 1} round` } };
  }),
  agent('flaky', 'flake', async function* (message) {
    const id = message.task?.coordinationId ?? 'none';
    const calls = (flakyCalls.get(id) ?? 0) + 1;
    flakyCalls.set(id, calls);
    if (calls === 1) throw new RetryableAgentError('flaky is busy on its first try');
    yield 'second time lucky';
    return { by: 'flaky', calls };
  }),
  agent('broken', 'break', async () => {
    throw new FatalAgentError('broken cannot do anything');
  }),
  // A heavily streaming step: more events than one read of the log takes.
  agent('chatty', 'chatter', async function* () {
    for (let i = 0; i < CHATTY_CHUNKS; i++) yield `w${i} `;
    return { by: 'chatty' };
  }),
  agent('slow', 'wait', async function* () {
    yield 'first';
    await slowGate;
    yield 'second';
    return { by: 'slow' };
  }),
];

function holdSlowAgent(): void {
  slowGate = new Promise((resolve) => {
    releaseSlow = resolve;
  });
}

beforeAll(async () => {
  runtime = await EmbeddedRuntime.start({ agents: AGENTS, port: 0 });
}, 60_000);

afterAll(async () => {
  releaseSlow();
  await runtime?.stop();
});

const SSE = { accept: 'text/event-stream', 'content-type': 'application/json' };

/** Reads a whole SSE answer: the stream must end by itself (bounded by a timeout). */
async function readAll(
  path: string,
  init: RequestInit = {},
  base = runtime.apiUrl,
): Promise<{ status: number; contentType: string; events: ReceivedSse[] }> {
  const response = await fetch(`${base}${path}`, {
    ...init,
    signal: AbortSignal.timeout(20_000),
  });
  const contentType = response.headers.get('content-type') ?? '';
  if (!contentType.startsWith('text/event-stream'))
    return { status: response.status, contentType, events: [] };
  const events: ReceivedSse[] = [];
  for await (const event of readSse(response.body as AsyncIterable<Uint8Array>)) events.push(event);
  return { status: response.status, contentType, events };
}

const postEvents = (request: unknown, base?: string) =>
  readAll('/coordinations', { method: 'POST', headers: SSE, body: JSON.stringify(request) }, base);

async function postJson(request: unknown): Promise<{ status: number; body: unknown }> {
  const response = await fetch(`${runtime.apiUrl}/coordinations`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(request),
    signal: AbortSignal.timeout(20_000),
  });
  return { status: response.status, body: await response.json() };
}

const dataOf = (events: readonly ReceivedSse[]) => events.map((e) => e.data as CoordinationEvent);

/** What two runs of the same request share: everything but the id and the clock. */
function comparable(result: CoordinationResult) {
  return {
    ...result,
    coordinationId: undefined,
    timings: undefined,
    steps: result.steps.map(({ durationMs: _ms, ...step }) => step),
  };
}

/**
 * The events of each step (per round) in order: how it started, its chunks by seq, how it ended.
 * Steps may interleave with each other (fan-outs), never within themselves.
 */
function byStep(events: readonly CoordinationEvent[]): Map<string, CoordinationEvent[]> {
  const steps = new Map<string, CoordinationEvent[]>();
  for (const event of events) {
    if (!('stepId' in event)) continue;
    const key = `${event.stepId}${event.round === undefined ? '' : `@${event.round}`}`;
    steps.set(key, [...(steps.get(key) ?? []), event]);
  }
  return steps;
}

const agentOf = (event: CoordinationEvent | undefined) =>
  event !== undefined && 'agentId' in event ? event.agentId : undefined;

function expectWellFormedStream(events: readonly ReceivedSse[]): CoordinationEvent[] {
  const data = dataOf(events);
  // SSE name = the event's type, SSE id = its id; ids count 1, 2, 3… in order.
  expect(events.map((e) => e.event)).toEqual(data.map((e) => e.type));
  expect(events.map((e) => Number(e.id))).toEqual(data.map((_, i) => i + 1));
  expect(data.map((e) => e.id)).toEqual(data.map((_, i) => i + 1));
  expect(data[0]?.type).toBe('coordination.started');
  expect(data.at(-1)?.type).toBe('coordination.finished');
  expect(data.filter((e) => e.type === 'coordination.finished')).toHaveLength(1);
  expect(new Set(data.map((e) => e.coordinationId)).size).toBe(1);
  return data;
}

const REQUESTS = {
  sequential: { pattern: 'sequential', agents: ['writer', 'counter'], payload: { topic: 'sse' } },
  pipeline: { pattern: 'pipeline', agents: ['writer', 'counter'], payload: { topic: 'sse' } },
  parallel: { pattern: 'parallel', agents: ['writer', 'counter'], payload: { topic: 'sse' } },
  scatter_gather: {
    pattern: 'scatter_gather',
    agents: ['writer', 'counter'],
    payload: { topic: 'sse' },
  },
  hierarchical: {
    pattern: 'hierarchical',
    supervisor: 'boss',
    workers: ['writer'],
    payload: { topic: 'sse' },
  },
} as const;

describe('POST /coordinations with Accept: text/event-stream', () => {
  it.each(Object.keys(REQUESTS) as (keyof typeof REQUESTS)[])(
    '%s: started, each step started → chunks in order → succeeded, then finished with the result a plain POST gives',
    async (pattern) => {
      const request = REQUESTS[pattern];
      const { status, contentType, events } = await postEvents(request);
      expect(status).toBe(200);
      expect(contentType).toMatch(/^text\/event-stream/);
      const data = expectWellFormedStream(events);

      const started = data[0] as Extract<CoordinationEvent, { type: 'coordination.started' }>;
      expect(started).toMatchObject({ pattern, mode: 'express' });
      const steps = byStep(data);
      const expectedSteps =
        pattern === 'hierarchical' ? ['supervisor@1', 'r1-t1', 'supervisor@2'] : ['step1', 'step2'];
      expect([...steps.keys()].sort()).toEqual(expectedSteps.sort());
      for (const [key, stepEvents] of steps) {
        const types = stepEvents.map((e) => e.type);
        const chunks = stepEvents.filter((e) => e.type === 'step.chunk');
        expect(types[0], key).toBe('step.started');
        expect(types.at(-1), key).toBe('step.succeeded');
        expect(types.slice(1, -1).every((t) => t === 'step.chunk')).toBe(true);
        expect(chunks.length, key).toBeGreaterThan(0);
        expect(chunks.map((e) => e.chunk.seq)).toEqual(chunks.map((_, i) => i));
      }
      // The writer's text deltas arrive whole and in order, wherever it ran.
      const writerSteps = [...steps.values()].filter((s) => agentOf(s[0]) === 'writer');
      expect(writerSteps.length).toBeGreaterThan(0);
      for (const step of writerSteps)
        expect(
          step.flatMap((e) => (e.type === 'step.chunk' && 'text' in e.chunk ? [e.chunk.text] : [])),
        ).toEqual(WORDS);

      const finished = data.at(-1) as Extract<CoordinationEvent, { type: 'coordination.finished' }>;
      const result = finished.result as unknown as CoordinationResult;
      expect(finished.status).toBe('succeeded');
      expect(result.coordinationId).toBe(started.coordinationId);
      const plain = await postJson(request);
      expect(plain.status).toBe(200);
      expect(comparable(result)).toEqual(comparable(plain.body as CoordinationResult));
    },
  );

  it('reports a retry: the failed first try, then step.retried with attempt 2', async () => {
    const { events } = await postEvents({
      pattern: 'sequential',
      agents: ['flaky'],
      failure_mode: 'retry',
      retry: { attempts: 2, intervalSeconds: 1, jitter: 'full' },
    });
    const data = expectWellFormedStream(events);
    const step = byStep(data).get('step1') ?? [];
    expect(step.map((e) => [e.type, 'attempt' in e ? e.attempt : undefined])).toEqual([
      ['step.started', 1],
      ['step.failed', 1],
      ['step.retried', 2],
      ['step.chunk', 2],
      ['step.succeeded', 2],
    ]);
    expect(step[1]).toMatchObject({ error: 'RetryableAgentError' });
    expect(data.at(-1)).toMatchObject({ status: 'succeeded' });
  });

  it('reports a fallback: the agent fails, step.fallback names the candidate that took over', async () => {
    const { events } = await postEvents({
      pattern: 'sequential',
      steps: [{ agent: 'broken', fallbacks: ['writer'] }],
    });
    const data = expectWellFormedStream(events);
    const step = byStep(data).get('step1') ?? [];
    expect(step.map((e) => [e.type, agentOf(e)])).toEqual([
      ['step.started', 'broken'],
      ['step.failed', 'broken'],
      ['step.fallback', 'writer'],
      ...WORDS.map(() => ['step.chunk', 'writer']),
      ['step.succeeded', 'writer'],
    ]);
    expect(step[2]).toMatchObject({ candidate: 1, attempt: 1 });
    expect(data.at(-1)).toMatchObject({
      status: 'succeeded',
      result: { degraded: true, steps: [{ agentId: 'writer', attempt: 1 }] },
    });
  });

  it('streams a standard run until the engine logs its end', async () => {
    const { status, events } = await postEvents({ ...REQUESTS.pipeline, mode: 'standard' });
    expect(status).toBe(200);
    const data = expectWellFormedStream(events);
    expect(data[0]).toMatchObject({ mode: 'standard' });
    const finished = data.at(-1) as Extract<CoordinationEvent, { type: 'coordination.finished' }>;
    // The very result GET /coordinations/{id} answers.
    const get = await fetch(`${runtime.apiUrl}/coordinations/${finished.coordinationId}`);
    expect(finished.result).toEqual(await get.json());
  });

  it('answers a request refused before it starts in JSON, as without SSE', async () => {
    const invalid = await postEvents({ pattern: 'sequential' });
    expect(invalid.status).toBe(400);
    expect(invalid.contentType).toMatch(/^application\/json/);
    const unknown = await postEvents({ pattern: 'sequential', agents: ['nobody'] });
    expect(unknown.contentType).toMatch(/^application\/json/);
    expect(unknown.status).toBeGreaterThanOrEqual(400);
  });

  it('a client that leaves stops only its own stream: the run finishes and others see it end', async () => {
    holdSlowAgent();
    const leaving = new AbortController();
    const response = await fetch(`${runtime.apiUrl}/coordinations`, {
      method: 'POST',
      headers: SSE,
      body: JSON.stringify({ pattern: 'sequential', agents: ['slow'] }),
      signal: leaving.signal,
    });
    let coordinationId: string | undefined;
    const seen: string[] = [];
    try {
      for await (const event of readSse(response.body as AsyncIterable<Uint8Array>)) {
        seen.push(event.event);
        coordinationId ??= (event.data as CoordinationEvent).coordinationId;
        if (event.event === 'step.chunk') break; // the slow agent is now waiting
      }
    } finally {
      leaving.abort();
    }
    expect(seen).toEqual(['coordination.started', 'step.started', 'step.chunk']);
    releaseSlow();
    const other = await readAll(`/coordinations/${coordinationId}/events`);
    const data = expectWellFormedStream(other.events);
    expect(data.at(-1)).toMatchObject({ type: 'coordination.finished', status: 'succeeded' });
    expect(
      data.flatMap((e) => (e.type === 'step.chunk' && 'text' in e.chunk ? [e.chunk.text] : [])),
    ).toEqual(['first', 'second']);
  });
});

describe('GET /coordinations/{id}/events', () => {
  it('follows a standard run started with a plain POST (202) through to its end', async () => {
    holdSlowAgent();
    const started = await postJson({ pattern: 'sequential', agents: ['slow'], mode: 'standard' });
    expect(started.status).toBe(202);
    const { coordinationId } = started.body as { coordinationId: string };
    const reading = readAll(`/coordinations/${encodeURIComponent(coordinationId)}/events`);
    releaseSlow();
    const { status, events } = await reading;
    expect(status).toBe(200);
    const data = expectWellFormedStream(events);
    expect(data.map((e) => e.type)).toEqual([
      'coordination.started',
      'step.started',
      'step.chunk',
      'step.chunk',
      'step.succeeded',
      'coordination.finished',
    ]);
    expect(data.every((e) => e.coordinationId === coordinationId)).toBe(true);
  });

  it('replays everything to a late subscriber, and resumes exactly after Last-Event-ID or ?after', async () => {
    const live = await postEvents(REQUESTS.parallel);
    const liveData = expectWellFormedStream(live.events);
    const { coordinationId } = liveData[0] as CoordinationEvent;
    const path = `/coordinations/${coordinationId}/events`;

    const late = await readAll(path);
    expect(late.status).toBe(200);
    expect(dataOf(late.events)).toEqual(liveData);

    const k = 3;
    const resumed = await readAll(path, { headers: { 'last-event-id': String(k) } });
    expect(dataOf(resumed.events)).toEqual(liveData.slice(k));
    const after = await readAll(`${path}?after=${k}`);
    expect(dataOf(after.events)).toEqual(liveData.slice(k));
    // The header is what a reconnecting EventSource sends along with its original URL: it wins.
    const both = await readAll(`${path}?after=1`, {
      headers: { 'Last-Event-ID': String(liveData.length - 1) },
    });
    expect(dataOf(both.events)).toEqual(liveData.slice(-1));
    // After the end there is nothing more: 204, which stops a browser's EventSource reconnecting.
    const ended = await fetch(`${runtime.apiUrl}${path}`, {
      headers: { 'Last-Event-ID': String(liveData.length) },
    });
    expect(ended.status).toBe(204);
    expect(await ended.text()).toBe('');
  });

  it('refuses a position that is not an event id, naming the field', async () => {
    const response = await fetch(`${runtime.apiUrl}/coordinations/whatever/events?after=ten`);
    expect(response.status).toBe(400);
    const body = (await response.json()) as { error: { details: { issues: { path: string }[] } } };
    expect(body.error.details.issues[0]?.path).toBe('after');
    const header = await fetch(`${runtime.apiUrl}/coordinations/whatever/events`, {
      headers: { 'last-event-id': '-1' },
    });
    expect(header.status).toBe(400);
    expect(await header.text()).toContain('Last-Event-ID');
  });

  it('answers 404 for a coordination nobody started', async () => {
    const response = await fetch(
      `${runtime.apiUrl}/coordinations/mobius-sequential-0123456789abcdef--0123/events`,
    );
    expect(response.status).toBe(404);
    expect(response.headers.get('content-type')).toMatch(/^application\/json/);
    expect(await response.json()).toMatchObject({ error: { code: 'NOT_FOUND' } });
  });
});

describe('an API of its own over the same runtime', () => {
  let api: ApiServer | undefined;
  afterAll(async () => {
    releaseSlow();
    await api?.stop();
  });

  it('holds a JSON answer to the response deadline, but streams an express run to its end', async () => {
    api = await startApiServer(
      createApi({
        registry: runtime.registry,
        router: runtime.router,
        coordinations: runtime.coordinations,
        events: runtime.events,
        syncWaitMs: 300,
      }),
      { port: 0 },
    );
    // JSON: nothing can be sent until the result, so the API gives up at its deadline (504).
    holdSlowAgent();
    const json = await fetch(`${api.url}/coordinations`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ pattern: 'sequential', agents: ['slow'] }),
    });
    expect(json.status).toBe(504);
    expect(await json.json()).toMatchObject({
      error: { code: 'TIMEOUT', message: expect.stringContaining('text/event-stream') },
    });
    releaseSlow();
    // SSE: events flow as it runs, so the same run is watched past the deadline to its end.
    holdSlowAgent();
    const release = setTimeout(releaseSlow, 1_000);
    const { status, events } = await postEvents(
      { pattern: 'sequential', agents: ['slow'] },
      api.url,
    );
    clearTimeout(release);
    expect(status).toBe(200);
    expect(events.map((e) => e.event)).toEqual([
      'coordination.started',
      'step.started',
      'step.chunk',
      'step.chunk',
      'step.succeeded',
      'coordination.finished',
    ]);
    expect(events.at(-1)?.data).toMatchObject({ status: 'succeeded' });
  });

  it('GET …/events of a finished coordination with nothing logged answers its end from its result, and closes', async () => {
    // Its events expired (7 days), or were never appended: this log holds nothing at all.
    const nothingLogged: CoordinationEventLog = {
      append: async () => {
        throw new Error('this log keeps nothing');
      },
      countStart: async () => 1,
      finishedId: async () => undefined,
      read: async () => [],
      follow: silentFollow,
      list: async () => ({ coordinations: [] }),
    };
    const started = await postJson({ pattern: 'sequential', agents: ['writer'], mode: 'standard' });
    expect(started.status).toBe(202);
    const { coordinationId } = started.body as { coordinationId: string };
    const result = await finishedResult(coordinationId);
    await withApi(nothingLogged, async (url) => {
      const { status, events } = await readAll(
        `/coordinations/${encodeURIComponent(coordinationId)}/events`,
        {},
        url,
      );
      expect(status).toBe(200);
      expect(events).toHaveLength(1);
      const [finished] = events;
      expect(finished?.event).toBe('coordination.finished');
      // Not in the log: no position to resume from.
      expect(finished?.id).toBeUndefined();
      expect(finished?.data).toMatchObject({
        type: 'coordination.finished',
        coordinationId,
        status: 'succeeded',
        result,
      });
    });
  });

  it('GET …/events of a finished coordination whose end was never logged sends what was, then its end from its result, and closes', async () => {
    const log = runtime.events;
    const reads: { after?: number; limit?: number }[] = [];
    // The run logged its events, but the append of its coordination.finished failed: a follower
    // of this log would wait for it until the API's time is up, and be reopened for ever.
    const noEnds: CoordinationEventLog = {
      append: (coordinationId, events) => log.append(coordinationId, events),
      countStart: (coordinationId, key) => log.countStart(coordinationId, key),
      finishedId: async () => undefined,
      read: async (coordinationId, options) => {
        reads.push({ ...options });
        return (await log.read(coordinationId, options)).filter((e) => !isFinal(e));
      },
      follow: async function* (coordinationId, options = {}) {
        for await (const event of log.follow(coordinationId, options)) {
          if (isFinal(event)) break;
          yield event;
        }
        yield* silentFollow(coordinationId, options);
      },
      list: (query) => log.list(query),
    };
    const started = await postJson({ pattern: 'sequential', agents: ['writer'], mode: 'standard' });
    expect(started.status).toBe(202);
    const { coordinationId } = started.body as { coordinationId: string };
    const result = await finishedResult(coordinationId);
    const logged = (await log.read(coordinationId)).filter((e) => !isFinal(e));
    expect(logged.map((e) => e.type)).toEqual([
      'coordination.started',
      'step.started',
      ...WORDS.map(() => 'step.chunk'),
      'step.succeeded',
    ]);
    const path = `/coordinations/${encodeURIComponent(coordinationId)}/events`;
    await withApi(noEnds, async (url) => {
      const whole = await readAll(path, {}, url);
      expect(whole.status).toBe(200);
      expect(dataOf(whole.events.slice(0, -1))).toEqual(logged);
      expect(whole.events.slice(0, -1).map((e) => Number(e.id))).toEqual(logged.map((e) => e.id));
      const end = whole.events.at(-1);
      expect(end?.event).toBe('coordination.finished');
      // Not in the log: no id of its own (SSE carries the last one over, which stays the reader's
      // position in the log).
      expect(end?.data).not.toHaveProperty('id');
      expect(end?.data).toMatchObject({ coordinationId, status: 'succeeded', result });
      // A reader resuming (the API closed its stream) gets the rest and the same end.
      const resumed = await readAll(path, { headers: { 'last-event-id': '2' } }, url);
      expect(dataOf(resumed.events.slice(0, -1))).toEqual(logged.slice(2));
      expect(resumed.events.at(-1)?.data).toMatchObject({ type: 'coordination.finished', result });
    });
    for (const read of reads) expect(read.limit).toBeLessThanOrEqual(500);
  });

  it('reads what a run logged in pages when it ends before its follower caught up', async () => {
    const reads: { after?: number; limit?: number }[] = [];
    const log = runtime.events;
    // The run's whole log is still to send when it ends (a slow reader): only read() serves it.
    const behind: CoordinationEventLog = {
      append: (coordinationId, events) => log.append(coordinationId, events),
      countStart: (coordinationId, key) => log.countStart(coordinationId, key),
      finishedId: (coordinationId, options) => log.finishedId(coordinationId, options),
      read: (coordinationId, options) => {
        reads.push({ ...options });
        return log.read(coordinationId, options);
      },
      follow: silentFollow,
      list: (query) => log.list(query),
    };
    await withApi(behind, async (url) => {
      const { status, events } = await postEvents(
        { pattern: 'sequential', agents: ['chatty'] },
        url,
      );
      expect(status).toBe(200);
      const data = expectWellFormedStream(events);
      const chunks = data.flatMap((e) =>
        e.type === 'step.chunk' && 'text' in e.chunk ? [e.chunk.text] : [],
      );
      expect(chunks).toEqual(Array.from({ length: CHATTY_CHUNKS }, (_, i) => `w${i} `));
      expect(data.at(-1)).toMatchObject({ status: 'succeeded' });
    });
    // More than one page, none of them unbounded.
    expect(reads.length).toBeGreaterThan(1);
    for (const read of reads) expect(read.limit).toBeLessThanOrEqual(500);
  });

  it('without an event log, the SSE routes answer 503 naming MOBIUS_EVENTS_TABLE, and start nothing', async () => {
    const bare = await startApiServer(
      createApi({
        registry: runtime.registry,
        router: runtime.router,
        coordinations: runtime.coordinations,
      }),
      { port: 0 },
    );
    try {
      const get = await fetch(`${bare.url}/coordinations/anything/events`);
      expect(get.status).toBe(503);
      expect(await get.text()).toContain('MOBIUS_EVENTS_TABLE');
      const before = flakyCalls.size;
      const post = await postEvents({ pattern: 'sequential', agents: ['flaky'] }, bare.url);
      expect(post.status).toBe(503);
      expect(flakyCalls.size).toBe(before);
    } finally {
      await bare.stop();
    }
  });
});

describe('the API’s Lambda entry over the same runtime', () => {
  afterAll(() => releaseSlow());

  it('a reader who leaves POST /coordinations with SSE mid-run holds the invocation until the run has ended and logged its end', async () => {
    holdSlowAgent();
    const metricNames: string[] = [];
    let coordinationId = '';
    let atEnd: { logged: string[]; metrics: string[] } | undefined;
    const entry = streamingApi(
      createApi({
        registry: runtime.registry,
        router: runtime.router,
        coordinations: runtime.coordinations,
        events: runtime.events,
        metrics: recordingMetrics(metricNames),
      }),
      {
        // Where index.ts publishes the metrics; Lambda freezes the environment once it returns.
        afterResponse: async () => {
          const logged = await runtime.events.read(coordinationId);
          atEnd = { logged: logged.map((e) => e.type), metrics: [...metricNames] };
        },
      },
    );
    const stream = new CollectingStream();
    const done = entry(
      proxyEvent('POST', '/coordinations', { pattern: 'sequential', agents: ['slow'] }),
      stream,
      lambdaContext('mobius-api'),
    );
    // The slow agent has said its first word and waits.
    for (let i = 0; i < 2_000 && !stream.bytes.includes('event: step.chunk'); i++) await sleep(5);
    const body = integrationResponse(stream.bytes).body.toString('utf8');
    expect(body).toContain('event: step.chunk');
    coordinationId = /"coordinationId":"([^"]+)"/.exec(body)?.[1] ?? '';
    expect(coordinationId).not.toBe('');

    stream.destroy();
    // The run goes on; so does the invocation that started it.
    expect(await settlesWithin(done, 200)).toBe(false);
    expect(atEnd).toBeUndefined();
    releaseSlow();
    expect(await settlesWithin(done, 15_000)).toBe(true);
    await expect(done).resolves.toBeUndefined();
    expect(atEnd?.logged.at(-1)).toBe('coordination.finished');
    expect(atEnd?.metrics).toEqual(
      expect.arrayContaining(['CoordinationsStarted', 'CoordinationsSucceeded']),
    );
  });
});

/** Serves the runtime's coordinations over an API reading `events`, for the length of `use`. */
async function withApi(
  events: CoordinationEventLog,
  use: (url: string) => Promise<void>,
): Promise<void> {
  const server = await startApiServer(
    createApi({
      registry: runtime.registry,
      router: runtime.router,
      coordinations: runtime.coordinations,
      events,
    }),
    { port: 0 },
  );
  try {
    await use(server.url);
  } finally {
    await server.stop();
  }
}

/** The result of a standard coordination once it has finished (polled, bounded). */
async function finishedResult(coordinationId: string): Promise<CoordinationResult> {
  for (let i = 0; i < 200; i++) {
    const response = await fetch(
      `${runtime.apiUrl}/coordinations/${encodeURIComponent(coordinationId)}`,
    );
    const body = (await response.json()) as CoordinationResult | { status: 'running' };
    if (body.status !== 'running') return body as CoordinationResult;
    await sleep(50);
  }
  throw new Error(`coordination ${coordinationId} did not finish in 10 s`);
}

/** A follower with nothing to say: it ends when its reader stops it (`signal`), never before. */
async function* silentFollow(
  _coordinationId: string,
  options: { readonly signal?: AbortSignal } = {},
): AsyncGenerator<CoordinationEvent> {
  const { signal } = options;
  await new Promise<void>((resolve) => {
    if (signal?.aborted === true) resolve();
    else signal?.addEventListener('abort', () => resolve(), { once: true });
  });
  yield* [];
}

/** Whether `promise` settles within `ms`. */
async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([
      promise.then(
        () => true as const,
        () => true as const,
      ),
      late,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Powertools metrics as far as the API uses them: the names added, in order. */
function recordingMetrics(names: string[]): Metrics {
  const add = (name: string) => void names.push(name);
  return {
    addMetric: add,
    singleMetric: () => ({ addDimension: () => undefined, addMetric: add }),
  } as unknown as Metrics;
}

/** A proxy event as API Gateway passes it to the API function: an SSE request with a JSON body. */
function proxyEvent(method: string, path: string, body: unknown): APIGatewayProxyEvent {
  return {
    httpMethod: method,
    path,
    resource: path,
    body: JSON.stringify(body),
    headers: SSE,
    multiValueHeaders: {},
    queryStringParameters: null,
    multiValueQueryStringParameters: null,
    pathParameters: null,
    stageVariables: null,
    isBase64Encoded: false,
    requestContext: { requestId: 'entry-test' } as APIGatewayProxyEvent['requestContext'],
  };
}
