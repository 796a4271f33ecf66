import { describe, expect, it } from 'vitest';
import { AgentSlots } from '../../functions/embedded/agent-slots.ts';

/** A task that runs until `finish` is called, recording when it started. */
function task(log: string[], name: string) {
  let finish: () => void = () => undefined;
  const work = () =>
    new Promise<string>((resolve) => {
      log.push(name);
      finish = () => resolve(name);
    });
  return { work, finish: () => finish() };
}

const turn = () => new Promise((resolve) => setImmediate(resolve));

describe('AgentSlots', () => {
  it('runs at most maxConcurrency at once and starts the waiting in arrival order', async () => {
    const slots = new AgentSlots([['a', 2]]);
    const log: string[] = [];
    const tasks = ['t1', 't2', 't3', 't4'].map((name) => task(log, name));
    const done = tasks.map((t) => slots.run('a', t.work));
    await turn();
    expect(log).toEqual(['t1', 't2']);
    expect(slots.figures('a')).toEqual({ max: 2, inFlight: 2, waiting: 2, peak: 2 });
    tasks[1]?.finish();
    await turn();
    expect(log).toEqual(['t1', 't2', 't3']);
    tasks[0]?.finish();
    tasks[2]?.finish();
    await turn();
    tasks[3]?.finish();
    expect(await Promise.all(done)).toEqual(['t1', 't2', 't3', 't4']);
    expect(slots.figures('a')).toEqual({ max: 2, inFlight: 0, waiting: 0, peak: 2 });
  });

  it('lets no single task overtake a batch waiting for several slots, and serves queue work first', async () => {
    const slots = new AgentSlots([['a', 3]]);
    const log: string[] = [];
    const first = task(log, 'first');
    const batch = task(log, 'batch');
    const single = task(log, 'single');
    const queued = task(log, 'queued');
    void slots.run('a', first.work, { slots: 2 });
    void slots.run('a', batch.work, { slots: 3 });
    void slots.run('a', single.work);
    await turn();
    // One slot is free, but the batch ahead needs three: the single task waits behind it.
    expect(log).toEqual(['first']);
    expect(slots.room('a')).toBe(0);
    // Work already taken off a queue goes ahead of those waiting.
    void slots.run('a', queued.work, { front: true });
    await turn();
    expect(log).toEqual(['first', 'queued']);
    first.finish();
    queued.finish();
    await turn();
    expect(log).toEqual(['first', 'queued', 'batch']);
    batch.finish();
    await turn();
    expect(log).toEqual(['first', 'queued', 'batch', 'single']);
  });

  it('sizes a batch larger than the limit to the limit, frees slots when work fails, and limits no agent without maxConcurrency', async () => {
    const slots = new AgentSlots([
      ['a', 2],
      ['free', undefined],
    ]);
    await expect(
      slots.run('a', async () => Promise.reject(new Error('handler failed')), { slots: 10 }),
    ).rejects.toThrow('handler failed');
    expect(slots.figures('a')).toMatchObject({ inFlight: 0, peak: 2 });
    let running = 0;
    let peak = 0;
    await Promise.all(
      Array.from({ length: 20 }, () =>
        slots.run('free', async () => {
          peak = Math.max(peak, ++running);
          await turn();
          running--;
        }),
      ),
    );
    expect(peak).toBe(20);
    expect(slots.room('free')).toBe(Number.POSITIVE_INFINITY);
  });

  it('wakes a poller waiting for room when a slot frees', async () => {
    const slots = new AgentSlots([['a', 1]]);
    const log: string[] = [];
    const only = task(log, 'only');
    void slots.run('a', only.work);
    await turn();
    expect(slots.room('a')).toBe(0);
    let woken = false;
    void slots.whenRoom('a').then(() => {
      woken = true;
    });
    await turn();
    expect(woken).toBe(false);
    only.finish();
    await turn();
    await turn();
    expect(woken).toBe(true);
    expect(slots.room('a')).toBe(1);
  });
});
