import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { TASK_KIND } from '../../functions/core/model/task.ts';
import type { AgentDefinition } from '../../functions/core/sdk/define-agent.ts';
import { lambdaContext } from '../../functions/embedded/lambda-context.ts';
import { EmbeddedRuntime } from '../../functions/embedded/runtime.ts';

/**
 * An agent's `maxConcurrency` in the embedded runtime (issue 16): however its work arrives —
 * express tasks, synchronous requests through the Lambda endpoint, messages from its queue — no
 * more than that many tasks are inside its handler at once, and the excess waits, never dropped
 * and never failed. Measured inside the handler, where the agent would feel it.
 */
const LIMIT = 3;
const TASK_MS = 40;

const seen = { inFlight: 0, peak: 0, handled: 0 };
const narrow: AgentDefinition = {
  agentId: 'narrow',
  agentType: 'test',
  description: 'calls a downstream API that allows three calls at a time',
  capabilities: [{ name: 'narrowing', version: '1.0.0' }],
  maxConcurrency: LIMIT,
  handler: async () => {
    seen.inFlight++;
    seen.peak = Math.max(seen.peak, seen.inFlight);
    try {
      await sleep(TASK_MS);
      return { ok: true };
    } finally {
      seen.inFlight--;
      seen.handled++;
    }
  },
};

async function until(check: () => boolean, what: string, ms = 60_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

describe('maxConcurrency in the embedded runtime', () => {
  let runtime: EmbeddedRuntime;

  beforeAll(async () => {
    runtime = await EmbeddedRuntime.start({
      agents: [narrow],
      port: 0,
      // The coordinator's own bound is not what is under test: every coordination is admitted.
      admission: { maxInFlight: Number.POSITIVE_INFINITY },
    });
  }, 60_000);

  afterAll(async () => {
    await runtime?.stop();
  });

  beforeEach(() => {
    seen.peak = 0;
    seen.handled = 0;
  });

  const coordinate = () =>
    runtime.coordinations.run({
      pattern: 'sequential',
      agents: ['narrow'],
      payload: {},
      failure_mode: 'fail_fast',
    });

  it('holds 50 concurrent express coordinations to 3 in flight, and finishes all 50', async () => {
    const results = await Promise.all(Array.from({ length: 50 }, coordinate));
    const statuses = results.map((r) => (r.state === 'completed' ? r.result.status : r.state));
    expect(statuses).toEqual(Array(50).fill('succeeded'));
    expect(seen.handled).toBe(50);
    expect(seen.peak).toBe(LIMIT);
    expect(runtime.slots.figures('narrow')).toMatchObject({ max: LIMIT, inFlight: 0, waiting: 0 });
  }, 60_000);

  it('holds queued messages to 3 in flight, and handles every one', async () => {
    const sent = await Promise.all(
      Array.from({ length: 30 }, (_, seq) =>
        fetch(`${runtime.apiUrl}/messages`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ to: 'narrow', payload: { seq } }),
        }).then((r) => r.status),
      ),
    );
    expect(sent).toEqual(Array(30).fill(202));
    await until(() => seen.handled >= 30, '30 queued messages');
    expect(seen.handled).toBe(30);
    expect(seen.peak).toBeLessThanOrEqual(LIMIT);
    expect(seen.peak).toBeGreaterThan(1);
  }, 60_000);

  it('shares the 3 slots between every path at once: tasks, requests and queued messages', async () => {
    const messages = Array.from({ length: 20 }, (_, seq) =>
      fetch(`${runtime.apiUrl}/messages`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ to: 'narrow', payload: { seq } }),
      }).then((r) => r.status),
    );
    const requests = Array.from({ length: 10 }, (_, seq) =>
      fetch(`${runtime.apiUrl}/messages`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ to: 'narrow', type: 'request', wait: true, payload: { seq } }),
      }).then((r) => r.status),
    );
    const coordinations = Array.from({ length: 20 }, coordinate);
    const [sent, answered, results] = await Promise.all([
      Promise.all(messages),
      Promise.all(requests),
      Promise.all(coordinations),
    ]);
    expect(sent).toEqual(Array(20).fill(202));
    expect(answered).toEqual(Array(10).fill(200));
    expect(results.every((r) => r.state === 'completed' && r.result.status === 'succeeded')).toBe(
      true,
    );
    await until(() => seen.handled >= 50, 'all 50 tasks');
    expect(seen.handled).toBe(50);
    expect(seen.peak).toBe(LIMIT);
  }, 60_000);
});

describe('a task waiting for a slot of a hung agent', () => {
  let runtime: EmbeddedRuntime | undefined;
  const entered: string[] = [];
  let release: () => void = () => undefined;
  const released = new Promise<void>((resolve) => {
    release = resolve;
  });
  const hung: AgentDefinition = {
    agentId: 'hung',
    agentType: 'test',
    description: 'hangs on its first task',
    capabilities: [{ name: 'hanging', version: '1.0.0' }],
    maxConcurrency: 1,
    handler: async (message) => {
      const stepId = (message as { task?: { stepId?: string } }).task?.stepId;
      if (stepId === undefined) return {};
      entered.push(stepId);
      if (stepId === 'first') await released;
      return { ok: true };
    },
  };

  afterAll(async () => {
    release();
    await runtime?.stop();
  });

  it('is given up at its deadline with Sandbox.Timedout, and never runs', async () => {
    runtime = await EmbeddedRuntime.start({ agents: [hung] });
    const agent = runtime.agents[0];
    if (agent === undefined) throw new Error('no agent');
    const task = (stepId: string, timeoutSeconds: number) => ({
      kind: TASK_KIND,
      coordinationId: 'c1',
      stepId,
      agentId: 'hung',
      pattern: 'sequential',
      input: {},
      timeoutSeconds,
    });
    const first = agent.handler(task('first', 10), lambdaContext('hung'));
    await until(() => entered.includes('first'), 'the first task', 10_000);
    const started = performance.now();
    // Its function timeout: 1 s and the margin (FUNCTION_TIMEOUT_MARGIN_MS), from the call.
    await expect(agent.handler(task('second', 1), lambdaContext('hung'))).rejects.toMatchObject({
      name: 'Sandbox.Timedout',
    });
    expect(performance.now() - started).toBeLessThan(3000);
    expect(runtime.slots.figures('hung')).toMatchObject({ inFlight: 1, waiting: 0 });
    release();
    await first;
    await sleep(100);
    expect(entered).toEqual(['first']);
  }, 60_000);
});
