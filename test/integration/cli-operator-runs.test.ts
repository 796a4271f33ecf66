import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cancelCommand, coordinationsCommand } from '../../functions/cli/operator-commands.ts';
import { UsageError } from '../../functions/cli/usage-error.ts';
import { FatalAgentError } from '../../functions/core/messaging/agent-errors.ts';
import type { AgentDefinition } from '../../functions/core/sdk/define-agent.ts';
import { EmbeddedRuntime } from '../../functions/embedded/runtime.ts';
import { jsonOf, printed } from '../support/cli-io.ts';
import { eventually } from '../support/poll.ts';

/**
 * The operator's commands on runs against a running `mobius dev` (an embedded runtime with its
 * API on a loopback port): `mobius coordinations` lists what ran, `mobius cancel` stops a
 * standard run held by a slow agent and refuses an express one.
 */
let runtime: EmbeddedRuntime;
let api: string;

/**
 * The slow agent waits for this before answering; tests close it, see the agent reach it
 * (`reached`), and open it again.
 */
let release: () => void = () => {};
let gate: Promise<void> = Promise.resolve();
let reachedGate: () => void = () => {};
let reached: Promise<void> = Promise.resolve();
function closeGate(): void {
  gate = new Promise<void>((resolve) => {
    release = resolve;
    // Never held for longer than a test may take.
    setTimeout(resolve, 20_000).unref();
  });
  reached = new Promise<void>((resolve) => {
    reachedGate = resolve;
  });
}

const agents: AgentDefinition[] = [
  {
    agentId: 'echo',
    agentType: 'echo',
    description: 'echoes its input',
    capabilities: [{ name: 'echoing', version: '1.0.0' }],
    handler: async (message) => ({ input: message.input }),
  },
  {
    agentId: 'slow',
    agentType: 'slow',
    description: 'answers once the test lets it',
    capabilities: [{ name: 'waiting', version: '1.0.0' }],
    handler: async () => {
      reachedGate();
      await gate;
      return { waited: true };
    },
  },
  {
    agentId: 'failing',
    agentType: 'failing',
    description: 'refuses everything',
    capabilities: [{ name: 'refusing', version: '1.0.0' }],
    handler: async () => {
      throw new FatalAgentError('nothing here is acceptable');
    },
  },
];

async function post(path: string, body: unknown): Promise<{ status: number; body: unknown }> {
  const response = await fetch(`${api}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: await response.json() };
}

type Summary = { coordinationId: string; status: string; pattern: string; mode: string };
const listed = (options: Parameters<typeof coordinationsCommand>[0] = {}) =>
  jsonOf<{ coordinations: Summary[]; nextToken?: string }>((io) =>
    coordinationsCommand({ api, json: true, ...options }, io),
  );

beforeAll(async () => {
  runtime = await EmbeddedRuntime.start({ agents, port: 0 });
  api = runtime.apiUrl ?? '';
}, 60_000);

afterAll(async () => {
  release();
  await runtime?.stop();
});

describe('mobius coordinations', () => {
  const ids: Record<string, string> = {};

  beforeAll(async () => {
    const ok = await post('/coordinations', {
      pattern: 'sequential',
      agents: ['echo'],
      payload: { n: 1 },
    });
    expect(ok.status).toBe(200);
    ids.succeeded = (ok.body as { coordinationId: string }).coordinationId;
    // A standard run, answered 202 at once (an express one that fails is answered 502).
    const failed = await post('/coordinations', {
      pattern: 'parallel',
      agents: ['failing'],
      payload: { n: 2 },
      mode: 'standard',
    });
    expect(failed.status).toBe(202);
    ids.failed = (failed.body as { coordinationId: string }).coordinationId;
    await eventually(
      () => listed({ status: 'failed' }),
      (page) => page.coordinations.some((c) => c.coordinationId === ids.failed),
    );
  });

  it('lists the runs as a table, in the order the API gives, with their status', async () => {
    const { coordinations } = await listed();
    const { io, stdout } = printed();
    expect(await coordinationsCommand({ api }, io)).toBe(0);
    const [header, ...rows] = stdout().split('\n');
    expect(header).toMatch(/^coordination +pattern +mode +status +started +duration +steps$/);
    expect(rows.map((row) => row.split(/ +/)[0])).toEqual(
      coordinations.map((c) => c.coordinationId),
    );
    expect(rows).toContainEqual(
      expect.stringMatching(
        new RegExp(`^${ids.succeeded} +sequential +express +succeeded +(just now|\\d+ s ago) +\\d`),
      ),
    );
    expect(rows).toContainEqual(
      expect.stringMatching(new RegExp(`^${ids.failed} +parallel +standard +failed `)),
    );
  });

  it('filters by status, pattern and start, as the API does', async () => {
    expect((await listed({ status: 'failed' })).coordinations.map((c) => c.coordinationId)).toEqual(
      [ids.failed],
    );
    expect(
      (await listed({ pattern: 'sequential' })).coordinations.map((c) => c.coordinationId),
    ).toContain(ids.succeeded);
    expect(
      (await listed({ pattern: 'sequential' })).coordinations.map((c) => c.coordinationId),
    ).not.toContain(ids.failed);
    expect((await listed({ since: '1h' })).coordinations.length).toBeGreaterThanOrEqual(2);

    const { io, stdout } = printed();
    const tomorrow = new Date(Date.now() + 86_400_000).toISOString();
    expect(await coordinationsCommand({ api, since: tomorrow }, io)).toBe(0);
    expect(stdout()).toBe(
      `No coordinations started since ${tomorrow} at ${api} (runs are kept 7 days).`,
    );
  });

  it('prints the API’s body with --json, and --all reads every page', async () => {
    const direct = (await (await fetch(`${api}/coordinations`)).json()) as {
      coordinations: Summary[];
    };
    const body = await listed();
    expect(body).toEqual(direct);

    const paged = await listed({ all: true, limit: 1 });
    expect(paged.nextToken).toBeUndefined();
    expect(paged.coordinations.map((c) => c.coordinationId)).toEqual(
      direct.coordinations.map((c) => c.coordinationId),
    );
  });
});

describe('mobius cancel', () => {
  it('cancels a running standard run; the list shows it cancelled; a second cancel exits 1', async () => {
    closeGate();
    const started = await post('/coordinations', {
      pattern: 'sequential',
      agents: ['slow'],
      mode: 'standard',
    });
    expect(started.status).toBe(202);
    const { coordinationId } = started.body as { coordinationId: string };

    const { io, stdout } = printed();
    expect(await cancelCommand(coordinationId, { api }, io)).toBe(0);
    expect(stdout()).toBe(`✔ coordination ${coordinationId}: cancelled`);
    const cancelled = await eventually(
      () => listed({ status: 'cancelled' }),
      (page) => page.coordinations.length > 0,
    );
    expect(cancelled.coordinations.map((c) => c.coordinationId)).toEqual([coordinationId]);

    const again = printed();
    expect(await cancelCommand(coordinationId, { api }, again.io)).toBe(1);
    expect(again.stderr()).toMatch(/^✘ .*cancelled/);
    expect(again.stdout()).toBe('');
    release();
  });

  it('refuses an express run in flight (409, exit 1), and names the fix for an unknown id', async () => {
    closeGate();
    const running = post('/coordinations', { pattern: 'sequential', agents: ['slow'] });
    // Its step has started: the run is logged (coordination.started) and in flight.
    await reached;
    const inFlight = await eventually(
      () => listed({ status: 'running' }),
      (page) => page.coordinations.some((c) => c.mode === 'express'),
    );
    const express = inFlight.coordinations.find((c) => c.mode === 'express') as Summary;
    const { io, stderr } = printed();
    expect(await cancelCommand(express.coordinationId, { api, json: true }, io)).toBe(1);
    expect(stderr()).toMatch(/^✘ .*express/i);
    release();
    expect((await running).status).toBe(200);

    const unknown = await cancelCommand('no-such-run', { api }, printed().io).catch(
      (e: unknown) => e,
    );
    expect(unknown).toBeInstanceOf(UsageError);
    expect((unknown as Error).message).toBe(
      `No coordination no-such-run at ${api}. \`mobius coordinations --api ${api}\` lists the recent ones (kept 7 days); check that --api is the API that ran it.`,
    );
  });
});
