import { createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  agentDrainCommand,
  agentResetCommand,
  agentResumeCommand,
} from '../../functions/cli/agent-commands.ts';
import { agentsCommand } from '../../functions/cli/commands.ts';
import { healthCommand } from '../../functions/cli/operator-commands.ts';
import { UsageError } from '../../functions/cli/usage-error.ts';
import type { AgentDefinition } from '../../functions/core/sdk/define-agent.ts';
import { EmbeddedRuntime } from '../../functions/embedded/runtime.ts';
import { printed } from '../support/cli-io.ts';

/**
 * The operator's commands against a running `mobius dev`: an embedded runtime with its API on a
 * loopback port, its real routes, registry and queues. Commands run in this process with a
 * captured Io; what they print is read back as a person sees it (without colours).
 */
let runtime: EmbeddedRuntime;
let api: string;

const echo = (agentId: string): AgentDefinition => ({
  agentId,
  agentType: 'echo',
  description: 'echoes its input',
  capabilities: [{ name: 'echoing', version: '1.0.0' }],
  handler: async (message) => ({ from: agentId, input: message.input }),
});

async function get(path: string): Promise<unknown> {
  const response = await fetch(`${api}${path}`);
  expect(response.status, path).toBe(200);
  return response.json();
}

beforeAll(async () => {
  runtime = await EmbeddedRuntime.start({
    agents: [echo('echo-a'), echo('echo-b'), echo('echo-c')],
    port: 0,
  });
  api = runtime.apiUrl ?? '';
}, 60_000);

afterAll(async () => {
  await runtime?.stop();
});

describe('mobius health', () => {
  it('reports the fleet the API summarises, and prints its body as it is with --json', async () => {
    const { io, stdout } = printed();
    expect(await healthCommand({ api }, io)).toBe(0);
    expect(stdout()).toMatch(/^agents {7}3 agents: 3 healthy$/m);
    expect(stdout()).toMatch(/^circuits {5}all closed$/m);
    expect(stdout()).toMatch(/^failures {5}0\.0 % \(0 of 0 requests in the last minutes\)$/m);

    const json = printed();
    expect(await healthCommand({ api, json: true }, json.io)).toBe(0);
    const body = JSON.parse(json.stdout()) as { agents: unknown; generatedAt: string };
    const direct = (await get('/health')) as { agents: unknown };
    expect(body.agents).toEqual(direct.agents);
    expect(Date.parse(body.generatedAt)).not.toBeNaN();
  });

  it('names the fix when no API answers', async () => {
    const nowhere = `http://127.0.0.1:${await freePort()}`;
    const error = await healthCommand({ api: nowhere }, printed().io).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UsageError);
    expect((error as Error).message).toMatch(
      /^Cannot reach the Mobius API at http:\/\/127\.0\.0\.1:\d+ .*Start it with `mobius dev`, or pass --api <url>\.$/s,
    );
  });
});

describe('mobius agent reset, drain and resume', () => {
  it('resets an open breaker: health shows it open before and closed after', async () => {
    // Five failures in a row (the default threshold) open the breaker.
    for (let i = 0; i < 5; i++)
      await runtime.registry.recordOutcome('echo-c', { ok: false, latencyMs: 3 });
    const before = printed();
    await healthCommand({ api }, before.io);
    expect(before.stdout()).toMatch(/^circuits {5}echo-c open \(opened (just now|\d+ s ago)\)$/m);

    const { io, stdout } = printed();
    expect(await agentResetCommand('echo-c', { api }, io)).toBe(0);
    expect(stdout()).toBe(
      '✔ circuit of echo-c closed: 0 consecutive failures; it takes work again',
    );
    expect(((await get('/agents/echo-c/health')) as { circuit: unknown }).circuit).toEqual({
      state: 'closed',
      consecutiveFailures: 0,
      openedAt: null,
    });
  });

  it('drains an agent (mobius agents shows it drained), again without change, then resumes it', async () => {
    const first = printed();
    expect(await agentDrainCommand('echo-b', { api, json: true }, first.io)).toBe(0);
    const drained = JSON.parse(first.stdout()) as { drainedAt: string };
    expect(drained).toEqual({
      agentId: 'echo-b',
      status: 'drained',
      drainedAt: expect.any(String),
      drainedBy: 'local',
    });

    const again = printed();
    expect(await agentDrainCommand('echo-b', { api }, again.io)).toBe(0);
    expect(again.stdout()).toMatch(
      /^✔ echo-b drained \(since (just now|\d+ s ago), by local\): it gets no new work; what it has in flight finishes\nmobius agent resume echo-b gives it work again$/,
    );

    const listed = printed();
    expect(await agentsCommand({ api, status: 'drained' }, listed.io)).toBe(0);
    expect(listed.stdout().split('\n').slice(1)).toEqual([
      expect.stringMatching(/^echo-b +echo +drained +closed/),
    ]);
    const health = printed();
    await healthCommand({ api }, health.io);
    expect(health.stdout()).toMatch(/^agents {7}3 agents: 2 healthy, 1 drained$/m);

    const resumed = printed();
    expect(await agentResumeCommand('echo-b', { api }, resumed.io)).toBe(0);
    expect(resumed.stdout()).toMatch(/^✔ echo-b resumed: (healthy|initializing|degraded)$/);
    expect(((await get('/agents/echo-b/health')) as { status: string }).status).not.toBe('drained');
  });

  it('names the fix for an unknown agent, before printing anything', async () => {
    for (const command of [agentResetCommand, agentDrainCommand, agentResumeCommand]) {
      const { io, stdout, stderr } = printed();
      const error = await command('ghost', { api }, io).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(UsageError);
      expect((error as Error).message).toBe(
        `No agent ghost at ${api}. \`mobius agents --api ${api}\` lists the agents it knows.`,
      );
      expect(stdout() + stderr()).toBe('');
    }
  });
});

/** A loopback port nothing listens on. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}
