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

  it('serves work already taken off a queue ahead of the direct calls waiting', async () => {
    const slots = new AgentSlots([['a', 1]]);
    const log: string[] = [];
    const first = task(log, 'first');
    const direct = task(log, 'direct');
    const queued = task(log, 'queued');
    void slots.run('a', first.work);
    void slots.run('a', direct.work);
    await turn();
    expect(log).toEqual(['first']);
    expect(slots.room('a')).toBe(0);
    void slots.run('a', queued.work, { front: true });
    expect(slots.figures('a')).toMatchObject({ inFlight: 1, waiting: 2 });
    first.finish();
    await turn();
    expect(log).toEqual(['first', 'queued']);
    queued.finish();
    await turn();
    expect(log).toEqual(['first', 'queued', 'direct']);
    direct.finish();
  });

  it('frees the slot when work fails, and limits no agent without maxConcurrency', async () => {
    const slots = new AgentSlots([
      ['a', 2],
      ['free', undefined],
    ]);
    await expect(
      slots.run('a', async () => Promise.reject(new Error('handler failed'))),
    ).rejects.toThrow('handler failed');
    expect(slots.figures('a')).toMatchObject({ inFlight: 0, peak: 1 });
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

  it('gives up a waiter whose deadline passes: it never runs, and the slot goes to the next', async () => {
    const slots = new AgentSlots([['a', 1]]);
    const log: string[] = [];
    const hung = task(log, 'hung');
    const late = task(log, 'late');
    const next = task(log, 'next');
    void slots.run('a', hung.work);
    const deadline = new AbortController();
    const gaveUp = slots.run('a', late.work, { signal: deadline.signal });
    const served = slots.run('a', next.work);
    await turn();
    expect(slots.figures('a')).toMatchObject({ inFlight: 1, waiting: 2 });
    const timedOut = Object.assign(new Error('Task timed out after 1.00 seconds'), {
      name: 'Sandbox.Timedout',
    });
    deadline.abort(timedOut);
    await expect(gaveUp).rejects.toBe(timedOut);
    expect(slots.figures('a')).toMatchObject({ inFlight: 1, waiting: 1 });
    hung.finish();
    await turn();
    expect(log).toEqual(['hung', 'next']);
    next.finish();
    await expect(served).resolves.toBe('next');
    // Already past its deadline: not even queued.
    await expect(slots.run('a', late.work, { signal: deadline.signal })).rejects.toBe(timedOut);
    expect(log).toEqual(['hung', 'next']);
    expect(slots.figures('a')).toMatchObject({ inFlight: 0, waiting: 0 });
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
