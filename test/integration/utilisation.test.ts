import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AgentDefinition } from '../../functions/core/sdk/define-agent.ts';
import { EmbeddedRuntime } from '../../functions/embedded/runtime.ts';

/**
 * Lifecycle and utilisation as an operator sees them through the embedded runtime's HTTP API:
 * GET /agents/{id}/health and GET /health after real coordinations and real health sweeps (the
 * monitor reads each queue and its dead-letter queue; the agent heartbeats the figures), and an
 * agent that stops: draining in the registry, passed over by discovery and planning.
 */
let runtime: EmbeddedRuntime;
const lifecycle: string[] = [];

const echo = (agentId: string, extra: Partial<AgentDefinition> = {}): AgentDefinition => ({
  agentId,
  agentType: 'echo',
  description: 'echoes its input after a short while',
  capabilities: [{ name: 'echoing', version: '1.0.0' }],
  handler: async (message) => {
    await new Promise((resolve) => setTimeout(resolve, 10));
    return { from: agentId, input: message.input };
  },
  ...extra,
});

async function http(method: string, path: string, body?: unknown) {
  const response = await fetch(`${runtime.apiUrl}${path}`, {
    method,
    headers: { 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  // biome-ignore lint/suspicious/noExplicitAny: JSON answers, read by path in the assertions
  return { status: response.status, body: (await response.json()) as Record<string, any> };
}

async function eventually<T>(read: () => Promise<T>, ok: (value: T) => boolean): Promise<T> {
  let last: T | undefined;
  for (let i = 0; i < 150; i++) {
    last = await read();
    if (ok(last)) return last;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`condition not met; last value: ${JSON.stringify(last)}`);
}

beforeAll(async () => {
  runtime = await EmbeddedRuntime.start({
    agents: [
      echo('echo-a', { maxConcurrency: 4 }),
      echo('echo-b', {
        // Ranked first for the capability while it can take work.
        capabilities: [{ name: 'echoing', version: '1.0.0', priority: 10 }],
        onStart: ({ agentId }) => {
          lifecycle.push(`start ${agentId}`);
        },
        onStop: ({ agentId }) => {
          lifecycle.push(`stop ${agentId}`);
        },
      }),
    ],
    port: 0,
    sweepSeconds: 1,
  });
}, 60_000);

afterAll(async () => {
  await runtime?.stop();
});

describe('utilisation through the API', () => {
  it('GET /agents/{id}/health shows in flight against the maximum, durations, memory and the queue', async () => {
    for (let i = 0; i < 5; i++) {
      const run = await http('POST', '/coordinations', {
        pattern: 'sequential',
        agents: ['echo-a'],
        payload: { i },
      });
      expect(run.status).toBe(200);
    }
    // The next sweep's ping carries the queue figures; the heartbeat stores them with its own.
    const health = await eventually(
      () => http('GET', '/agents/echo-a/health'),
      ({ body }) =>
        body.metrics?.utilisation?.durationSamples >= 5 &&
        body.metrics.utilisation.queueDepth !== null &&
        // Embedded coordinations record their outcomes in the background, every 5 s.
        body.metrics.recentRequests >= 5,
    );
    expect(health.status).toBe(200);
    const { utilisation } = health.body.metrics;
    expect(utilisation).toMatchObject({ inFlight: 0, maxConcurrency: 4, queueDepth: 0 });
    expect(utilisation.durationP50Ms).toBeGreaterThanOrEqual(9);
    expect(utilisation.durationP99Ms).toBeGreaterThanOrEqual(utilisation.durationP50Ms);
    expect(utilisation.memoryUsedMB).toBeGreaterThan(20);
    // The dead-letter queue was found through the queue's redrive policy.
    expect(utilisation.deadLetterDepth).toBe(0);
    expect(Date.parse(utilisation.queueReadAt)).toBeGreaterThan(Date.now() - 60_000);
    expect(health.body.metrics.recentRequests).toBeGreaterThanOrEqual(5);
  });

  it('GET /health sums the fleet and the coordinations in flight', async () => {
    const { status, body } = await eventually(
      () => http('GET', '/health'),
      ({ body }) => body.queues?.agentsReporting === 2,
    );
    expect(status).toBe(200);
    expect(body.agents.total).toBe(2);
    expect(body.agents.byStatus.healthy + body.agents.byStatus.degraded).toBe(2);
    expect(body.openCircuits).toEqual([]);
    expect(body.queues).toMatchObject({ depth: 0, deadLetters: 0, agentsReporting: 2 });
    expect(body.recent.requests).toBeGreaterThanOrEqual(5);
    expect(body.recent.failureRate).toBe(0);
    expect(body.coordinations).toEqual({
      inFlight: 0,
      queued: 0,
      maxInFlight: 16,
      running: { count: 0, since: expect.any(String), truncated: false },
    });
    expect(body.truncated).toBe(false);
  });
});

describe('an agent that stops', () => {
  it('ran onStart once, on its first invocation (the runtime’s start-up ping)', () => {
    expect(lifecycle).toEqual(['start echo-b']);
  });

  it('is draining after stop(), skipped by discovery and planning, and its pings keep it so', async () => {
    const b = runtime.agents.find((agent) => agent.agentId === 'echo-b');
    await b?.handler.stop();
    expect(lifecycle).toEqual(['start echo-b', 'stop echo-b']);

    const health = await http('GET', '/agents/echo-b/health');
    expect(health.body.status).toBe('draining');
    const usable = await http('POST', '/discover', {
      capability: 'echoing',
      statuses: ['healthy', 'degraded', 'initializing'],
    });
    expect(usable.body.matches.map((m: { agentId: string }) => m.agentId)).toEqual(['echo-a']);
    const fleet = await http('GET', '/health');
    expect(fleet.body.agents.byStatus.draining).toBe(1);

    // Planning by capability: echo-b ranks first, but takes no new work while draining.
    await new Promise((resolve) => setTimeout(resolve, 1100)); // the planning cache's 1 s
    const run = await http('POST', '/coordinations', {
      pattern: 'sequential',
      steps: [{ id: 'only', capability: 'echoing' }],
      payload: { q: 1 },
    });
    expect(run.status, JSON.stringify(run.body)).toBe(200);
    expect(run.body.steps.map((s: { agentId: string }) => s.agentId)).toEqual(['echo-a']);

    // Sweeps go on pinging it: its heartbeats say draining, so it does not come back.
    const before = (await http('GET', '/agents/echo-b/health')).body.lastSeen;
    const after = await eventually(
      () => http('GET', '/agents/echo-b/health'),
      ({ body }) => body.lastSeen !== before,
    );
    expect(after.body.status).toBe('draining');
  });
});

describe('stopping the runtime', () => {
  it('stops each agent in turn: draining written, onStop run, before the registry goes away', async () => {
    const stopped: string[] = [];
    const own = await EmbeddedRuntime.start({
      agents: [
        echo('echo-c', {
          onStop: async ({ agentId }) => {
            // The registry is still up while onStop runs: the agent reads itself as draining.
            stopped.push(`${agentId} ${(await own.registry.get(agentId)).status}`);
          },
        }),
      ],
    });
    await own.stop();
    expect(stopped).toEqual(['echo-c draining']);
  });
});
