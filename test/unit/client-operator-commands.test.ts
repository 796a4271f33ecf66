import { describe, expect, it, vi } from 'vitest';
import { agentDrainCommand } from '../../functions/cli/agent-commands.ts';
import {
  listAllCoordinations,
  type MobiusClient,
  type Schemas,
} from '../../functions/cli/client.ts';
import { agentsCommand, discoverCommand } from '../../functions/cli/commands.ts';
import type { Io } from '../../functions/cli/io.ts';
import {
  cancelCommand,
  coordinationsCommand,
  coordinationsQuery,
  healthCommand,
  healthReport,
} from '../../functions/cli/operator-commands.ts';
import { sendCommand } from '../../functions/cli/stream-commands.ts';
import { UsageError } from '../../functions/cli/usage-error.ts';
import { capture, plain } from '../support/cli-io.ts';
import { scriptedApi } from '../support/scripted-api.ts';

/**
 * `mobius health`, `mobius coordinations` and `mobius cancel` without a running API: what they
 * make of their options (checked before any request), how they print the API's answers, and what
 * they do with its refusals; and the client's listAllCoordinations. fetch is replaced: each test
 * says what the API answers and checks what was api.asked. The same commands run against the
 * embedded runtime's real routes in test/integration/cli-operator*.test.ts.
 */
const BASE = 'http://127.0.0.1:4000';
const NOW = new Date('2026-12-01T12:00:00.000Z');

const api = scriptedApi();

const summary = (
  id: string,
  overrides: Partial<Schemas['CoordinationSummary']> = {},
): Schemas['CoordinationSummary'] => ({
  coordinationId: id,
  pattern: 'pipeline',
  mode: 'express',
  status: 'succeeded',
  startedAt: '2026-12-01T11:57:00.000Z',
  finishedAt: '2026-12-01T11:57:01.250Z',
  totalMs: 1250,
  steps: 3,
  agents: ['fact-finder', 'summarizer', 'narrator'],
  ...overrides,
});

describe('mobius coordinations: options', () => {
  it('turns the options into the query the API takes', () => {
    expect(
      coordinationsQuery(
        { status: 'failed', pattern: 'scatter-gather', since: '2h', limit: '50' },
        NOW,
      ),
    ).toEqual({
      status: 'failed',
      pattern: 'scatter_gather',
      since: '2026-12-01T10:00:00.000Z',
      limit: 50,
    });
    expect(coordinationsQuery({}, NOW)).toEqual({});
  });

  it('refuses a bad option with the values it takes, before any request', async () => {
    const cases: [Parameters<typeof coordinationsCommand>[0], string][] = [
      [
        { status: 'done' },
        '--status takes one of running, succeeded, partial, failed, cancelled; got "done".',
      ],
      [
        { pattern: 'fanout' },
        '--pattern takes one of sequential, pipeline, parallel, scatter_gather, hierarchical; got "fanout".',
      ],
      [{ limit: '0' }, '--limit takes a whole number from 1 to 100'],
      [{ limit: '101' }, '--limit takes a whole number from 1 to 100'],
      [{ limit: '2.5' }, '--limit takes a whole number from 1 to 100'],
      [{ since: 'last week' }, '--since takes an ISO date-time'],
    ];
    for (const [options, message] of cases) {
      const error = await coordinationsCommand({ api: BASE, ...options }, capture().io, NOW).catch(
        (e: unknown) => e,
      );
      expect(error, message).toBeInstanceOf(UsageError);
      expect((error as Error).message).toContain(message);
    }
    expect(api.asked).toEqual([]);
  });
});

describe('mobius coordinations: output', () => {
  it('prints a table, newest first as listed, with how long ago each started and how long it took', async () => {
    api.answers = [
      {
        status: 200,
        body: {
          coordinations: [
            summary('c-running', {
              mode: 'standard',
              status: 'running',
              startedAt: '2026-12-01T11:59:48.000Z',
              finishedAt: null,
              totalMs: null,
              pattern: 'hierarchical',
              steps: 1,
            }),
            summary('c-ok'),
            summary('c-failed', { status: 'failed', totalMs: 184_000, pattern: 'parallel' }),
          ],
        },
      },
    ];
    const { io, out, err } = capture();
    expect(await coordinationsCommand({ api: BASE, status: undefined }, io, NOW)).toBe(0);
    expect(api.asked).toEqual([{ method: 'GET', url: `${BASE}/coordinations?limit=25` }]);
    expect(out).toEqual([
      'coordination  pattern       mode      status     started    duration   steps',
      'c-running     hierarchical  standard  running    12 s ago   12.0 s…    1',
      'c-ok          pipeline      express   succeeded  3 min ago  1.3 s      3',
      'c-failed      parallel      express   failed     3 min ago  3 min 4 s  3',
    ]);
    expect(err).toEqual([]);
  });

  it('says when more follow (one page), and what was asked when nothing matched', async () => {
    api.answers = [
      { status: 200, body: { coordinations: [summary('c-1')], nextToken: 'tok' } },
      { status: 200, body: { coordinations: [] } },
    ];
    const more = capture();
    expect(await coordinationsCommand({ api: BASE, limit: 1 }, more.io, NOW)).toBe(0);
    expect(more.err).toEqual(['More coordinations follow: --all lists every page (up to 1000).']);
    const none = capture();
    expect(
      await coordinationsCommand({ api: BASE, status: 'cancelled', since: '1d' }, none.io, NOW),
    ).toBe(0);
    expect(none.out).toEqual([
      `No coordinations with status cancelled started since 2026-11-30T12:00:00.000Z at ${BASE} (runs are kept 7 days).`,
    ]);
    expect(api.asked.map((a) => a.url)).toEqual([
      `${BASE}/coordinations?limit=1`,
      `${BASE}/coordinations?status=cancelled&since=2026-11-30T12%3A00%3A00.000Z&limit=25`,
    ]);
  });

  it('--all follows nextToken; --json prints the pages as one body of the API’s shape', async () => {
    api.answers = [
      { status: 200, body: { coordinations: [summary('c-3'), summary('c-2')], nextToken: 'p2' } },
      { status: 200, body: { coordinations: [summary('c-1')] } },
    ];
    const { io, out } = capture();
    expect(await coordinationsCommand({ api: BASE, all: true, json: true }, io, NOW)).toBe(0);
    expect(api.asked.map((a) => a.url)).toEqual([
      `${BASE}/coordinations?limit=100`,
      `${BASE}/coordinations?limit=100&nextToken=p2`,
    ]);
    expect(JSON.parse(out.join('\n'))).toEqual({
      coordinations: [summary('c-3'), summary('c-2'), summary('c-1')],
    });
  });
});

describe('listAllCoordinations', () => {
  /** A client whose pages hold `perPage` coordinations each, `pages` of them. */
  function pagedClient(pages: number, perPage: number) {
    const queries: unknown[] = [];
    const client = {
      listCoordinations: async (request?: { query?: { nextToken?: string; limit?: number } }) => {
        queries.push(request?.query);
        const page = Number(request?.query?.nextToken ?? 0);
        const size = Math.min(perPage, request?.query?.limit ?? perPage);
        const coordinations = Array.from({ length: size }, (_, i) => summary(`c-${page}-${i}`));
        return {
          status: 200 as const,
          body:
            page + 1 < pages ? { coordinations, nextToken: String(page + 1) } : { coordinations },
        };
      },
    } as unknown as Pick<MobiusClient, 'listCoordinations'>;
    return { client, queries };
  }

  it('reads every page, passing the filters on each', async () => {
    const { client, queries } = pagedClient(3, 2);
    const all = await listAllCoordinations(client, { status: 'failed', limit: 2 });
    expect(all.coordinations.map((c) => c.coordinationId)).toEqual([
      'c-0-0',
      'c-0-1',
      'c-1-0',
      'c-1-1',
      'c-2-0',
      'c-2-1',
    ]);
    expect(all.nextToken).toBeUndefined();
    expect(queries).toEqual([
      { status: 'failed', limit: 2 },
      { status: 'failed', limit: 2, nextToken: '1' },
      { status: 'failed', limit: 2, nextToken: '2' },
    ]);
  });

  it('stops at max coordinations (asking no more than it needs) and keeps the token that continues', async () => {
    const { client, queries } = pagedClient(100, 100);
    const some = await listAllCoordinations(client, {}, { max: 250 });
    expect(some.coordinations).toHaveLength(250);
    expect(some.nextToken).toBe('3');
    expect(queries.map((q) => (q as { limit: number }).limit)).toEqual([100, 100, 50]);
  });

  it('stops after maxPages requests when a filter leaves the pages empty', async () => {
    const { client, queries } = pagedClient(10_000, 0);
    const none = await listAllCoordinations(client, {}, { maxPages: 5 });
    expect(none).toEqual({ coordinations: [], nextToken: '5' });
    expect(queries).toHaveLength(5);
  });

  it('stops at 1000 by default, and mobius coordinations --all says so', async () => {
    api.answers = Array.from({ length: 11 }, (_, page) => ({
      status: 200,
      body: {
        coordinations: Array.from({ length: 100 }, (_, i) => summary(`c-${page}-${i}`)),
        nextToken: `p${page + 1}`,
      },
    }));
    const { io, out, err } = capture();
    expect(await coordinationsCommand({ api: BASE, all: true }, io, NOW)).toBe(0);
    expect(api.asked).toHaveLength(10);
    expect(out).toHaveLength(1001);
    expect(err).toEqual([
      'Stopped after 1000 coordinations (at most 1000 are listed at once): narrow the list with --since, --status or --pattern.',
    ]);
  });
});

describe('mobius health', () => {
  const health: Schemas['FleetHealth'] = {
    agents: {
      total: 8,
      byStatus: {
        initializing: 0,
        healthy: 5,
        degraded: 1,
        unhealthy: 0,
        draining: 0,
        drained: 1,
        offline: 1,
      },
    },
    openCircuits: [
      { agentId: 'flaky', state: 'open', openedAt: '2026-12-01T11:58:00.000Z' },
      { agentId: 'probing', state: 'half_open', openedAt: null },
    ],
    inFlight: 3,
    queues: { depth: 4, deadLetters: 2, agentsReporting: 7 },
    recent: { requests: 120, errors: 3, failureRate: 0.025 },
    truncated: false,
    coordinations: { inFlight: 2, queued: 0, maxInFlight: 16 },
    generatedAt: '2026-12-01T11:59:59.000Z',
  } as Schemas['FleetHealth'];

  it('reports the fleet: agents by status, circuits, work, queues, failures', () => {
    expect(healthReport(health, NOW).map(plain)).toEqual([
      'agents       8 agents: 5 healthy, 1 degraded, 1 drained, 1 offline',
      'circuits     flaky open (opened 2 min ago), probing half-open',
      'in flight    3 at the agents · coordinations on this API instance: 2 running (of 16), 0 waiting for a slot',
      'queues       4 waiting, 2 dead letters (7 queues read)',
      'failures     2.5 % (3 of 120 requests in the last minutes)',
      'read 1 s ago (2026-12-01T11:59:59.000Z)',
    ]);
  });

  it('says what it has not read, and when the figures cover only the first agents', () => {
    const quiet = healthReport(
      {
        ...health,
        agents: { ...health.agents, total: 0, byStatus: { ...health.agents.byStatus, healthy: 0 } },
        openCircuits: [],
        queues: { depth: null, deadLetters: null, agentsReporting: 0 },
        recent: { requests: 0, errors: 0, failureRate: 0 },
        coordinations: { inFlight: 0, queued: 1, maxInFlight: null },
        truncated: true,
      } as Schemas['FleetHealth'],
      NOW,
    ).map(plain);
    expect(quiet).toContain('circuits     all closed');
    expect(quiet).toContain(
      'in flight    3 at the agents · coordinations on this API instance: 0 running (no bound), 1 waiting for a slot',
    );
    expect(quiet).toContain(
      'queues       not read yet: the health monitor has read no agent queue',
    );
    expect(quiet).toContain('failures     0.0 % (0 of 0 requests in the last minutes)');
    expect(quiet).toContain(
      '(more agents than one summary reads: these figures cover the first ones)',
    );
  });

  it('prints the API’s body as it is with --json, and exits 0 however the fleet is', async () => {
    api.answers = [{ status: 200, body: health }];
    const { io, out } = capture();
    expect(await healthCommand({ api: BASE, json: true }, io)).toBe(0);
    expect(JSON.parse(out.join('\n'))).toEqual(health);
    expect(api.asked).toEqual([{ method: 'GET', url: `${BASE}/health` }]);
  });
});

describe('text from the API, printed', () => {
  /** Every line a command wrote, as the terminal gets it (colour is off: stdout is no TTY). */
  function raw(): { io: Io; text: () => string } {
    const lines: string[] = [];
    return {
      io: { out: (t) => lines.push(t), err: (t) => lines.push(t) },
      text: () => lines.join('\n'),
    };
  }
  // biome-ignore lint/suspicious/noControlCharactersInRegex: what it looks for
  const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/;
  const ESC = '\u001b';

  it('is shown, not obeyed: coordinations, the fleet, and the API’s messages', async () => {
    api.answers = [
      {
        status: 200,
        body: {
          coordinations: [
            summary(`c-1${ESC}]0;pwned\u0007`, {
              pattern: `pipeline${ESC}[8m` as 'pipeline',
              startedAt: '\r',
            }),
          ],
        },
      },
    ];
    const listed = raw();
    expect(await coordinationsCommand({ api: BASE }, listed.io, NOW)).toBe(0);
    expect(listed.text()).not.toMatch(CONTROL);
    expect(listed.text()).toContain('c-1\\x1b]0;pwned\\x07');

    api.answers = [
      {
        status: 200,
        body: {
          agents: { total: 1, byStatus: { [`healthy${ESC}[2K`]: 1 } },
          openCircuits: [{ agentId: `flaky${ESC}[1A`, state: 'open', openedAt: `x${ESC}` }],
          inFlight: 0,
          queues: { depth: 0, deadLetters: 0, agentsReporting: 1 },
          recent: { requests: 0, errors: 0, failureRate: 0 },
          truncated: false,
          coordinations: { inFlight: 0, queued: 0, maxInFlight: null },
          generatedAt: `now\u009b2J`,
        },
      },
    ];
    const fleet = raw();
    expect(await healthCommand({ api: BASE }, fleet.io)).toBe(0);
    expect(fleet.text()).not.toMatch(CONTROL);

    api.answers = [
      { status: 409, body: { error: { code: 'CONFLICT', message: `done${ESC}]52;c;aGk=\u0007` } } },
      { status: 400, body: { error: { code: 'VALIDATION_FAILED', message: `bad\r${ESC}[2K` } } },
    ];
    const refused = raw();
    expect(await cancelCommand('c-1', { api: BASE }, refused.io)).toBe(1);
    expect(refused.text()).toBe('✘ done\\x1b]52;c;aGk=\\x07');
    const error = await cancelCommand('c-1', { api: BASE }, refused.io).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UsageError);
    expect((error as Error).message).not.toMatch(CONTROL);
  });

  it('is shown, not obeyed: a streamed answer’s text, data, sender and error (mobius send --stream)', async () => {
    const frames = (events: { event: string; data: unknown }[]) =>
      events.map((e) => `event: ${e.event}\ndata: ${JSON.stringify(e.data)}\n\n`).join('');
    const streams = [
      frames([
        { event: 'chunk', data: { seq: 0, text: `line one${ESC}]0;pwned\u0007\nline two` } },
        { event: 'chunk', data: { seq: 1, data: { note: 'c1\u009b2J' } } },
        { event: 'response', data: { from: `narrator${ESC}[2K`, payload: null } },
      ]),
      frames([
        {
          event: 'error',
          data: { error: { code: 'AGENT_FAILED', message: `failed${ESC}]52;c;aGk=\u0007` } },
        },
      ]),
    ];
    vi.stubGlobal(
      'fetch',
      vi.fn(
        async () =>
          new Response(streams.shift() ?? '', {
            status: 200,
            headers: { 'content-type': 'text/event-stream' },
          }),
      ),
    );
    const answered = raw();
    expect(await sendCommand('narrator', '{}', { api: BASE, stream: true }, answered.io)).toBe(0);
    expect(answered.text()).not.toMatch(CONTROL);
    // The text's own line breaks stay; the data still reads as the JSON it was.
    expect(answered.text()).toContain('line one\\x1b]0;pwned\\x07\nline two');
    expect(answered.text()).toContain('{"note":"c1\\u009b2J"}');
    expect(answered.text()).toContain('narrator\\x1b[2K answered');
    const failed = raw();
    expect(await sendCommand('narrator', '{}', { api: BASE, stream: true }, failed.io)).toBe(1);
    expect(failed.text()).toBe('✘ AGENT_FAILED: failed\\x1b]52;c;aGk=\\x07');
    // --json too: the same events, still JSON that parses to what the API sent.
    const data = { seq: 0, data: { note: `c1\u009b2J bidi\u202e ${ESC}` } };
    const answer = { from: 'narrator', payload: null };
    streams.push(
      frames([
        { event: 'chunk', data },
        { event: 'response', data: answer },
      ]),
    );
    const json = raw();
    expect(
      await sendCommand('narrator', '{}', { api: BASE, stream: true, json: true }, json.io),
    ).toBe(0);
    expect(json.text()).not.toMatch(CONTROL);
    expect(json.text()).not.toContain('\u202e');
    expect(
      json
        .text()
        .split('\n')
        .map((line) => JSON.parse(line)),
    ).toEqual([
      { event: 'chunk', data },
      { event: 'response', data: answer },
    ]);
  });

  it('is shown, not obeyed: the agents and the discovery matches an API lists', async () => {
    const card = {
      agentId: `evil${ESC}]0;pwned\u0007`,
      agentType: `worker\r`,
      capabilities: [{ name: `summarize${ESC}[2K`, version: '1.0.0' }],
    };
    api.answers = [
      {
        status: 200,
        body: {
          agents: [
            {
              card,
              status: `healthy${ESC}[8m`,
              circuit: { state: `closed\u009b2J` },
              metrics: { requestsProcessed: 3, errorRate: 0 },
            },
          ],
        },
      },
    ];
    const agents = raw();
    expect(await agentsCommand({ api: BASE }, agents.io)).toBe(0);
    expect(agents.text()).not.toMatch(CONTROL);
    expect(agents.text()).toContain('evil\\x1b]0;pwned\\x07');

    api.answers = [
      {
        status: 200,
        body: {
          matches: [
            {
              agentId: card.agentId,
              matched: [{ capability: card.capabilities[0] }],
              score: 1,
              priority: 0,
              status: `healthy${ESC}[1A`,
              load: 0,
            },
          ],
        },
      },
      { status: 200, body: { matches: [] } },
    ];
    const found = raw();
    expect(await discoverCommand('summarize', { api: BASE }, found.io)).toBe(0);
    expect(found.text()).not.toMatch(CONTROL);
    expect(found.text()).toContain('summarize\\x1b[2K@1.0.0');
    const none = raw();
    expect(await discoverCommand(`x${ESC}[2J`, { api: BASE }, none.io)).toBe(1);
    expect(none.text()).toBe('No healthy agent offers x\\x1b[2J. Try --fuzzy.');
  });
});

describe('mobius cancel', () => {
  it('prints the API’s message for a run that cannot be cancelled (409), exit 1', async () => {
    api.answers = [
      {
        status: 409,
        body: {
          error: {
            code: 'CONFLICT',
            message: 'Coordination c-1 already finished (succeeded).',
            details: {},
          },
        },
      },
    ];
    const { io, out, err } = capture();
    expect(await cancelCommand('c-1', { api: BASE }, io)).toBe(1);
    expect(api.asked).toEqual([{ method: 'DELETE', url: `${BASE}/coordinations/c-1` }]);
    expect(err).toEqual(['✘ Coordination c-1 already finished (succeeded).']);
    expect(out).toEqual([]);
  });

  it('names the fix for an unknown run (404) and for a caller who is no operator (403)', async () => {
    api.answers = [
      { status: 404, body: { error: { code: 'NOT_FOUND', message: 'No such', details: {} } } },
      {
        status: 403,
        body: { error: { code: 'FORBIDDEN', message: 'role/dev may not cancel', details: {} } },
      },
    ];
    const unknown = (await cancelCommand('c-9', { api: BASE }, capture().io).catch(
      (e: unknown) => e,
    )) as Error;
    expect(unknown).toBeInstanceOf(UsageError);
    expect(unknown.message).toBe(
      `No coordination c-9 at ${BASE}. \`mobius coordinations --api ${BASE}\` lists the recent ones (kept 7 days); check that --api is the API that ran it.`,
    );
    const forbidden = (await cancelCommand('c-9', { api: BASE }, capture().io).catch(
      (e: unknown) => e,
    )) as Error;
    expect(forbidden).toBeInstanceOf(UsageError);
    expect(forbidden.message).toContain('The API answered 403: role/dev may not cancel');
    expect(forbidden.message).toContain(
      "Operator actions need a principal the stack names as an operator (the construct's `operators` prop, or `grantOperator`",
    );
  });

  it('refuses an empty id before any request', async () => {
    for (const attempt of [
      cancelCommand(' ', { api: BASE }, capture().io),
      agentDrainCommand('', { api: BASE }, capture().io),
    ]) {
      const error = await attempt.catch((e: unknown) => e);
      expect(error).toBeInstanceOf(UsageError);
      expect((error as Error).message).toMatch(/^Give the (coordination|agent) id \(`mobius /);
    }
    expect(api.asked).toEqual([]);
  });
});
