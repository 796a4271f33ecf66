import { describe, expect, it } from 'vitest';
import type { CoordinationEngine } from '../../functions/coordination/engine.ts';
import { type AgentDirectory, CoordinationPlanner } from '../../functions/coordination/planner.ts';
import { DispatchedWork } from '../../functions/coordination/replicas.ts';
import { CoordinationService } from '../../functions/coordination/service.ts';
import { StaticDirectory } from '../../functions/coordination/static-directory.ts';
import type { AgentCardInput } from '../../functions/core/model/agent-card.ts';
import type { AgentRegistry } from '../../functions/core/registry/agent-registry.ts';
import { compareMatches } from '../../functions/core/registry/discovery.ts';

/**
 * Replica routing in the planner: which holder of a capability a step is planned with, from the
 * ranking, the registry's load, the work this process holds on each agent, and the rotation.
 */
const lambda = (id: string) => `arn:aws:lambda:us-east-1:123456789012:function:${id}`;

function card(
  agentId: string,
  options: { version?: string; priority?: number; maxConcurrency?: number } = {},
): AgentCardInput {
  return {
    agentId,
    agentType: 'replica',
    description: agentId,
    capabilities: [
      { name: 'translate', version: options.version ?? '1.0.0', priority: options.priority ?? 0 },
    ],
    endpoint: { lambdaArn: lambda(agentId) },
    ...(options.maxConcurrency === undefined ? {} : { maxConcurrency: options.maxConcurrency }),
  };
}

/** The static directory with registry-reported loads (inFlight / maxConcurrency) laid over it. */
function withLoads(cards: AgentCardInput[], loads: Record<string, number> = {}): AgentDirectory {
  const inner = new StaticDirectory(cards);
  return {
    getMany: (ids) => inner.getMany(ids),
    discover: async (query) =>
      (await inner.discover(query))
        .map((m) => ({ ...m, load: loads[m.agentId] ?? 0 }))
        // Ranked as the registry ranks them, loads included.
        .sort(compareMatches),
  };
}

const STEP = { pattern: 'sequential', steps: [{ capability: 'translate' }] };

async function planned(planner: CoordinationPlanner, request: object = STEP): Promise<string[]> {
  const plan = await planner.plan(planner.parse(request));
  return plan.steps[0]?.candidates.map((c) => c.agentId) ?? [];
}

describe('replica routing (planner)', () => {
  it('takes equal replicas in turn, the others following as fallbacks in ranked order', async () => {
    const planner = new CoordinationPlanner(withLoads([card('a'), card('b'), card('c')]));
    const orders: string[][] = [];
    for (let i = 0; i < 30; i++) orders.push(await planned(planner));
    const firsts = orders.map(([first]) => first);
    expect(firsts.slice(0, 6)).toEqual(['a', 'b', 'c', 'a', 'b', 'c']);
    expect(firsts.filter((id) => id === 'a')).toHaveLength(10);
    expect(firsts.filter((id) => id === 'b')).toHaveLength(10);
    expect(firsts.filter((id) => id === 'c')).toHaveLength(10);
    expect(orders.slice(0, 3)).toEqual([
      ['a', 'b', 'c'],
      ['b', 'a', 'c'],
      ['c', 'a', 'b'],
    ]);
  });

  it('never passes over a better match: higher priority, then higher version, take every step', async () => {
    const byPriority = new CoordinationPlanner(
      withLoads([card('low-a'), card('low-b'), card('high', { priority: 5 })], { high: 0.9 }),
    );
    const byVersion = new CoordinationPlanner(
      withLoads([card('old-a'), card('old-b'), card('new', { version: '1.1.0' })], { new: 0.9 }),
    );
    for (let i = 0; i < 4; i++) {
      expect((await planned(byPriority))[0]).toBe('high');
      expect((await planned(byVersion))[0]).toBe('new');
    }
  });

  it('orders replicas by the work this process holds on them, per maxConcurrency', async () => {
    const dispatched = new DispatchedWork();
    const cards = [card('a', { maxConcurrency: 4 }), card('b', { maxConcurrency: 2 })];
    const planner = new CoordinationPlanner(withLoads(cards), { dispatched });
    const firsts: string[] = [];
    for (let i = 0; i < 7; i++) {
      const [first] = await planned(planner);
      firsts.push(first as string);
      dispatched.hold([first as string]); // still running
    }
    // b is full at 2 of 2 while a has room up to 4: a takes twice as much.
    expect(firsts).toEqual(['a', 'b', 'a', 'b', 'a', 'a', 'b']);
  });

  it('orders by the registry’s figure only while this process holds no work on the replicas', async () => {
    const cards = ['a', 'b', 'c'].map((id) => card(id, { maxConcurrency: 4 }));
    const loads: Record<string, number> = { c: 0.75 }; // c's last heartbeat: 3 of 4 slots busy
    const directory = withLoads(cards, loads);

    // Holding nothing (an API Lambda container): the heartbeat's figure is all there is.
    const idle = new CoordinationPlanner(directory);
    const idleFirsts: string[] = [];
    for (let i = 0; i < 6; i++) idleFirsts.push((await planned(idle))[0] as string);
    expect(idleFirsts).toEqual(['a', 'b', 'a', 'b', 'a', 'b']);

    // Holding work, the live count decides: the figure — a sample that may hold this very
    // process's work, taken up to a sweep ago — neither starves c nor sways the turns.
    const dispatched = new DispatchedWork();
    const busy = new CoordinationPlanner(directory, { dispatched });
    const busyFirsts: string[] = [];
    for (let i = 0; i < 6; i++) {
      if (i === 3) loads.a = 0.75; // a heartbeat lands, as stale as c's
      const [first] = await planned(busy);
      busyFirsts.push(first as string);
      dispatched.hold([first as string]);
    }
    expect(busyFirsts).toEqual(['a', 'b', 'c', 'a', 'b', 'c']);
  });

  it('keeps explicit fallbacks after the chosen replica', async () => {
    const planner = new CoordinationPlanner(
      withLoads([card('a'), card('b'), card('spare', { priority: -1 })]),
    );
    const request = {
      pattern: 'sequential',
      steps: [{ capability: 'translate', fallbacks: ['spare'] }],
    };
    expect(await planned(planner, request)).toEqual(['a', 'spare']);
    expect(await planned(planner, request)).toEqual(['b', 'spare']);
  });
});

describe('DispatchedWork', () => {
  it('counts each agent once per hold, releases once, and forgets idle agents', () => {
    const work = new DispatchedWork();
    const first = work.hold(['a', 'b', 'a']);
    const second = work.hold(['a']);
    expect(work.snapshot()).toEqual(
      new Map([
        ['a', 2],
        ['b', 1],
      ]),
    );
    first();
    first();
    expect(work.snapshot()).toEqual(new Map([['a', 1]]));
    second();
    expect(work.snapshot().size).toBe(0);
    expect(work.of('a')).toBe(0);
  });

  it('is released by the coordination service when an express run throws', async () => {
    const failing: CoordinationEngine = {
      runSync: async () => {
        throw new Error('engine down');
      },
      start: async () => undefined,
      describe: async () => undefined,
      stop: async () => undefined,
    };
    const service = new CoordinationService({
      registry: {} as AgentRegistry, // no outcome is recorded: the run throws before
      directory: withLoads([card('a')]),
      engine: failing,
    });
    await expect(service.run(STEP)).rejects.toThrow('engine down');
    expect(service.dispatched.size).toBe(0);
  });
});
