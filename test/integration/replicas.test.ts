import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CoordinationService } from '../../functions/coordination/service.ts';
import type { AgentDefinition } from '../../functions/core/sdk/define-agent.ts';
import { waitUntil } from '../../functions/embedded/free-port.ts';
import { EmbeddedRuntime } from '../../functions/embedded/runtime.ts';

/**
 * Replicas on the embedded runtime: three agents holding one capability share the work of
 * capability steps — in turn while none is busy, and away from one kept busy. A replica holds a
 * task until the test opens its gate, so which one is busy is decided by the test, not by timing.
 */
let runtime: EmbeddedRuntime;
let gate: { promise: Promise<void>; open: () => void };
const started: string[] = [];

function closeGate(): void {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => {
    open = resolve;
  });
  gate = { promise, open };
}

const replica = (agentId: string): AgentDefinition => ({
  agentId,
  agentType: 'translator',
  description: `translator replica ${agentId}`,
  capabilities: [{ name: 'translate', version: '1.2.0' }],
  handler: async (message) => {
    started.push(agentId);
    if ((message.input as { hold?: boolean } | null)?.hold) await gate.promise;
    return { by: agentId };
  },
});

const STEP = { pattern: 'sequential', steps: [{ capability: 'translate' }] };

async function translatedBy(payload: object = {}): Promise<string> {
  const response = await runtime.coordinations.run({ ...STEP, payload });
  if (response.state !== 'completed') throw new Error('express runs complete inline');
  expect(response.result.status).toBe('succeeded');
  const [step] = response.result.steps;
  return step?.agentId ?? '';
}

function tally(agentIds: readonly string[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const id of agentIds) counts[id] = (counts[id] ?? 0) + 1;
  return counts;
}

beforeAll(async () => {
  closeGate();
  runtime = await EmbeddedRuntime.start({
    agents: [replica('tr-1'), replica('tr-2'), replica('tr-3')],
  });
});

afterAll(async () => {
  gate.open();
  await runtime?.stop({ graceMs: 0 });
});

describe('replicas of one capability (embedded runtime)', () => {
  it('take 30 sequential coordinations in turn: 10 each', async () => {
    const chosen: string[] = [];
    for (let i = 0; i < 30; i++) chosen.push(await translatedBy());
    expect(tally(chosen)).toEqual({ 'tr-1': 10, 'tr-2': 10, 'tr-3': 10 });
    // In turn, not in runs: every window of three consecutive runs reached all three replicas.
    for (let i = 0; i + 3 <= chosen.length; i++)
      expect(new Set(chosen.slice(i, i + 3)).size).toBe(3);
    expect(runtime.coordinations.dispatched.size).toBe(0);
  });

  it('send new work to the others while one replica is busy', async () => {
    started.length = 0;
    const busyRun = runtime.coordinations.run({ ...STEP, payload: { hold: true } });
    await waitUntil('the held replica to start', async () => expect(started).toHaveLength(1), {
      intervalMs: 10,
    });
    const [busy] = started;
    expect(runtime.coordinations.dispatched).toEqual(new Map([[busy, 1]]));

    const chosen: string[] = [];
    for (let i = 0; i < 10; i++) chosen.push(await translatedBy());
    expect(chosen).not.toContain(busy);
    expect(Object.values(tally(chosen))).toEqual([5, 5]);

    gate.open();
    const response = await busyRun;
    if (response.state !== 'completed') throw new Error('express runs complete inline');
    expect(response.result.steps[0]?.agentId).toBe(busy);
    expect(runtime.coordinations.dispatched.size).toBe(0);
    // Free again, the replica is back in the rotation.
    const after: string[] = [];
    for (let i = 0; i < 3; i++) after.push(await translatedBy());
    expect(after).toContain(busy);
  });

  it('pass over a draining replica, by capability and by id, until it heartbeats without draining', async () => {
    // Straight from the registry (no planning cache), so the heartbeat counts at once.
    const uncached = new CoordinationService({
      registry: runtime.registry,
      engine: runtime.engine,
    });
    const by = async (request: object) => {
      const response = await uncached.run(request);
      if (response.state !== 'completed') throw new Error('express runs complete inline');
      return response.result;
    };
    try {
      await runtime.registry.heartbeat('tr-2', { status: 'draining' });
      const chosen: string[] = [];
      for (let i = 0; i < 6; i++) chosen.push((await by(STEP)).steps[0]?.agentId ?? '');
      expect(tally(chosen)).toEqual({ 'tr-1': 3, 'tr-3': 3 });

      const named = await by({
        pattern: 'sequential',
        steps: [{ agent: 'tr-2', fallbacks: ['tr-3'] }],
      });
      expect(named.steps[0]?.agentId).toBe('tr-3');
      expect(named.standIns).toEqual([
        expect.objectContaining({ requested: 'tr-2', agentId: 'tr-3', reason: 'draining' }),
      ]);

      await runtime.registry.heartbeat('tr-2', { status: 'healthy' });
      const back: string[] = [];
      for (let i = 0; i < 3; i++) back.push((await by(STEP)).steps[0]?.agentId ?? '');
      expect(back).toContain('tr-2');
    } finally {
      await uncached.close();
    }
  });
});
