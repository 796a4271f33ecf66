import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDocumentClient } from '../../functions/core/aws/dynamodb.ts';
import { systemClock } from '../../functions/core/clock.ts';
import { PING_KIND } from '../../functions/core/model/task.ts';
import { DEFAULT_BREAKER_SETTINGS } from '../../functions/core/registry/breaker.ts';
import { markCrashed } from '../../functions/core/registry/crashes.ts';
import { DEFAULT_HEALTH_THRESHOLDS } from '../../functions/core/registry/health.ts';
import type { AgentDefinition } from '../../functions/core/sdk/define-agent.ts';
import { lambdaContext } from '../../functions/embedded/lambda-context.ts';
import { EmbeddedRuntime } from '../../functions/embedded/runtime.ts';

/**
 * An agent that dies mid-task in the embedded runtime (issue 16): its invocation fails as Lambda's
 * would when the execution environment crashes (`Runtime.ExitError`), the step goes to its
 * fallback within the step's timeout, the result names the agent and the step, the process and
 * the other agents carry on, and the registry shows the agent unhealthy until it heartbeats again.
 */
const crashes: { count: number } = { count: 0 };
const crasher: AgentDefinition = {
  agentId: 'crasher',
  agentType: 'test',
  description: 'throws from a timer mid-task: in Lambda, that ends the execution environment',
  capabilities: [{ name: 'summarizing', version: '1.0.0' }],
  handler: async () => {
    crashes.count++;
    await new Promise(() => {
      setTimeout(() => {
        throw new Error('native module fault');
      }, 5);
    });
    return { never: true };
  },
};

const hanger: AgentDefinition = {
  agentId: 'hanger',
  agentType: 'test',
  description: 'never answers',
  capabilities: [{ name: 'summarizing', version: '1.0.0' }],
  maxConcurrency: 1,
  handler: () => new Promise(() => undefined),
};

const backup: AgentDefinition = {
  agentId: 'backup',
  agentType: 'test',
  description: 'answers when the others cannot',
  capabilities: [{ name: 'summarizing', version: '1.0.0' }],
  handler: async () => ({ summary: 'from the backup' }),
};

describe('crash recovery in the embedded runtime', () => {
  let runtime: EmbeddedRuntime;

  beforeAll(async () => {
    runtime = await EmbeddedRuntime.start({
      agents: [crasher, hanger, backup],
      port: 0,
      // Heartbeats come from the test, not from a sweep that could clear the mark first.
      sweepSeconds: 3600,
    });
  }, 60_000);

  afterAll(async () => {
    await runtime?.stop({ graceMs: 0 });
  });

  const health = async (agentId: string) => {
    const response = await fetch(`${runtime.apiUrl}/agents/${agentId}/health`);
    expect(response.status).toBe(200);
    return (await response.json()) as { status: string };
  };

  it('hands a crashed task to the fallback, names the agent and step, and marks the agent unhealthy until its next heartbeat', async () => {
    expect((await health('crasher')).status).toBe('healthy');
    const started = performance.now();
    const response = await runtime.coordinations.run({
      pattern: 'sequential',
      steps: [{ id: 'summary', agent: 'crasher', fallbacks: ['backup'], timeout: 10 }],
      payload: { text: 'long text' },
    });
    const elapsed = performance.now() - started;
    expect(response.state).toBe('completed');
    if (response.state !== 'completed') return;
    const { result } = response;
    expect(result.status).toBe('succeeded');
    expect(result.degraded).toBe(true);
    expect(result.steps).toMatchObject([
      { stepId: 'summary', agentId: 'backup', attempt: 1, output: { summary: 'from the backup' } },
    ]);
    expect(result.errors).toEqual([
      {
        agentId: 'crasher',
        stepId: 'summary',
        error: 'Runtime.ExitError',
        cause: expect.stringContaining('native module fault'),
      },
    ]);
    expect(crashes.count).toBe(1);
    // Well within the step's 10 s: the crash is seen at once, not waited out.
    expect(elapsed).toBeLessThan(10_000);

    await runtime.coordinations.settle();
    expect((await health('crasher')).status).toBe('unhealthy');
    expect((await health('backup')).status).toBe('healthy');

    // Its next heartbeat (the health monitor's ping) says it is alive again.
    const agent = runtime.agents.find((a) => a.agentId === 'crasher');
    await agent?.handler({ kind: PING_KIND }, lambdaContext('crasher'));
    expect((await health('crasher')).status).toBe('healthy');
  }, 60_000);

  it('cuts a task that never answers at the step timeout, hands it to the fallback and frees its slot', async () => {
    const started = performance.now();
    const response = await runtime.coordinations.run({
      pattern: 'sequential',
      steps: [{ id: 'summary', agent: 'hanger', fallbacks: ['backup'], timeout: 1 }],
      payload: {},
    });
    const elapsed = performance.now() - started;
    expect(response.state === 'completed' && response.result.status).toBe('succeeded');
    if (response.state !== 'completed') return;
    expect(response.result.errors).toMatchObject([
      { agentId: 'hanger', stepId: 'summary', error: 'States.Timeout' },
    ]);
    expect(elapsed).toBeGreaterThanOrEqual(1000);
    expect(elapsed).toBeLessThan(5000);
    // Its one slot is free again soon after (the invocation is stopped like a Lambda past its
    // function timeout, a second after the step's), so later tasks are not stuck behind it.
    const freed = performance.now() + 3000;
    while (runtime.slots.figures('hanger').inFlight > 0 && performance.now() < freed)
      await sleep(50);
    expect(runtime.slots.figures('hanger')).toMatchObject({ inFlight: 0, waiting: 0 });
    // A slow agent is not a dead one: no crash mark.
    await runtime.coordinations.settle();
    expect((await health('hanger')).status).not.toBe('unhealthy');
  }, 60_000);

  it('marks a crash only if the agent has not heartbeated since, and a heartbeat withdraws the mark', async () => {
    // The runtime's registry table, through a client of the test's own.
    const store = {
      client: createDocumentClient(),
      tableName: runtime.registry.tableName,
      clock: systemClock,
      breaker: DEFAULT_BREAKER_SETTINGS,
      health: DEFAULT_HEALTH_THRESHOLDS,
    };
    const ping = () =>
      runtime.agents
        .find((a) => a.agentId === 'backup')
        ?.handler({ kind: PING_KIND }, lambdaContext('backup'));
    await ping();
    const beatAt = Date.now();
    // A crash from before the last heartbeat, written late (a flush): the agent has recovered.
    expect(await markCrashed(store, 'backup', beatAt - 1000)).toBe(false);
    expect((await health('backup')).status).toBe('healthy');
    // A crash after it: unhealthy until the next heartbeat.
    expect(await markCrashed(store, 'backup', Date.now() + 1)).toBe(true);
    expect((await health('backup')).status).toBe('unhealthy');
    await ping();
    expect((await health('backup')).status).toBe('healthy');
    // An agent that is gone is not brought back by a mark.
    expect(await markCrashed(store, 'nobody', Date.now())).toBe(false);
  });
});
