import { afterEach, describe, expect, it, vi } from 'vitest';
import { errorResponse } from '../../functions/api/http-errors.ts';
import {
  Admission,
  CoordinationShedError,
  DEFAULT_ADMISSION,
} from '../../functions/coordination/admission.ts';
import { CapacityExceededError } from '../../functions/core/errors.ts';

/** A piece of work the test finishes by hand: how long it runs is never a matter of time. */
function held<T = string>() {
  let finish!: (value: T) => void;
  let fail!: (error: unknown) => void;
  let started = false;
  const done = new Promise<T>((resolve, reject) => {
    finish = resolve;
    fail = reject;
  });
  return {
    work: () => {
      started = true;
      return done;
    },
    get started() {
      return started;
    },
    finish,
    fail,
  };
}

/** Lets queued promise callbacks run (admission hand-overs are promise callbacks). */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

afterEach(() => {
  vi.useRealTimers();
});

describe('Admission', () => {
  it('admits up to maxInFlight at once and refuses the next without running it', async () => {
    const admission = new Admission({ maxInFlight: 2 });
    const [a, b, c] = [held(), held(), held()];
    const ra = admission.run(a.work);
    const rb = admission.run(b.work);
    const rc = admission.run(c.work);
    await expect(rc).rejects.toBeInstanceOf(CoordinationShedError);
    expect(c.started).toBe(false);
    expect(admission.inFlight).toBe(2);
    a.finish('a');
    b.finish('b');
    expect(await Promise.all([ra, rb])).toEqual(['a', 'b']);
    expect(admission.inFlight).toBe(0);
  });

  it('refuses with a CAPACITY_EXCEEDED error the API answers 503 with Retry-After', async () => {
    const admission = new Admission({ maxInFlight: 1, retryAfterSeconds: 3 });
    const a = held();
    void admission.run(a.work);
    const refused = await admission.run(held().work).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(CapacityExceededError);
    expect(refused).toMatchObject({
      code: 'CAPACITY_EXCEEDED',
      retryAfterSeconds: 3,
      details: { maxInFlight: 1, inFlight: 1, queued: 0 },
    });
    expect((refused as Error).message).toContain('at most 1 at once');
    const response = errorResponse(refused, 'req-1');
    expect(response.statusCode).toBe(503);
    expect(response.headers).toMatchObject({ 'retry-after': '3' });
    a.finish('a');
  });

  it('releases the slot when the work fails, and passes the failure on', async () => {
    const admission = new Admission({ maxInFlight: 1 });
    const a = held();
    const ra = admission.run(a.work);
    a.fail(new Error('agent exploded'));
    await expect(ra).rejects.toThrow('agent exploded');
    expect(admission.inFlight).toBe(0);
    await expect(admission.run(async () => 'next')).resolves.toBe('next');
  });

  it('releases the slot when the work throws before returning a promise', async () => {
    const admission = new Admission({ maxInFlight: 1 });
    await expect(
      admission.run(() => {
        throw new TypeError('bad plan');
      }),
    ).rejects.toThrow('bad plan');
    expect(admission.inFlight).toBe(0);
  });

  it('releases the slot when the caller aborts and the work honours the abort', async () => {
    const admission = new Admission({ maxInFlight: 1 });
    const controller = new AbortController();
    const running = admission.run(
      () =>
        new Promise((_, reject) =>
          controller.signal.addEventListener('abort', () => reject(controller.signal.reason)),
        ),
      controller.signal,
    );
    await settle();
    expect(admission.inFlight).toBe(1);
    controller.abort(new Error('deadline'));
    await expect(running).rejects.toThrow('deadline');
    expect(admission.inFlight).toBe(0);
  });

  it('holds the slot while work that ignores the abort is still running', async () => {
    const admission = new Admission({ maxInFlight: 1 });
    const controller = new AbortController();
    const a = held();
    const running = admission.run(a.work, controller.signal);
    controller.abort();
    await settle();
    // Still working in this process (the embedded engine does not stop a run): still counted.
    expect(admission.inFlight).toBe(1);
    a.finish('done anyway');
    await expect(running).resolves.toBe('done anyway');
    expect(admission.inFlight).toBe(0);
  });

  it('with a wait, hands a freed slot to the longest waiter first and never exceeds the bound', async () => {
    const admission = new Admission({ maxInFlight: 1, maxWaitMs: 60_000, maxQueued: 2 });
    const [a, b, c] = [held(), held(), held()];
    const order: string[] = [];
    const ra = admission.run(a.work).then((v) => order.push(v));
    const rb = admission.run(b.work).then((v) => order.push(v));
    const rc = admission.run(c.work).then((v) => order.push(v));
    expect([admission.inFlight, admission.queued]).toEqual([1, 2]);
    a.finish('a');
    await settle();
    expect([b.started, c.started]).toEqual([true, false]);
    expect([admission.inFlight, admission.queued]).toEqual([1, 1]);
    // A newcomer does not overtake the waiter left: it queues behind it.
    const d = held();
    const rd = admission.run(d.work).then((v) => order.push(v));
    expect(admission.queued).toBe(2);
    b.finish('b');
    await settle();
    expect([c.started, d.started]).toEqual([true, false]);
    c.finish('c');
    await settle();
    d.finish('d');
    await Promise.all([ra, rb, rc, rd]);
    expect(order).toEqual(['a', 'b', 'c', 'd']);
    expect([admission.inFlight, admission.queued]).toEqual([0, 0]);
  });

  it('refuses at once when the wait queue is full', async () => {
    const admission = new Admission({ maxInFlight: 1, maxWaitMs: 60_000, maxQueued: 1 });
    const [a, b] = [held(), held()];
    const ra = admission.run(a.work);
    const rb = admission.run(b.work);
    await expect(admission.run(held().work)).rejects.toBeInstanceOf(CoordinationShedError);
    a.finish('a');
    await settle();
    b.finish('b');
    await Promise.all([ra, rb]);
    expect(admission.inFlight).toBe(0);
  });

  it('refuses a waiter whose wait expired, and the slot it never got does not leak', async () => {
    vi.useFakeTimers();
    const admission = new Admission({ maxInFlight: 1, maxWaitMs: 50 });
    const a = held();
    const ra = admission.run(a.work);
    const late = held();
    const refused = admission.run(late.work).catch((error: unknown) => error);
    await vi.advanceTimersByTimeAsync(50);
    const error = await refused;
    expect(error).toBeInstanceOf(CoordinationShedError);
    expect((error as CoordinationShedError).details).toMatchObject({ waitedMs: 50 });
    expect((error as Error).message).toContain('none came free within 50 ms');
    expect(admission.queued).toBe(0);
    a.finish('a');
    await ra;
    expect(late.started).toBe(false);
    expect(admission.inFlight).toBe(0);
  });

  it('lets a waiter abandon its wait when its caller aborts, without taking a slot', async () => {
    const admission = new Admission({ maxInFlight: 1, maxWaitMs: 60_000 });
    const a = held();
    const ra = admission.run(a.work);
    const controller = new AbortController();
    const waiting = held();
    const rw = admission.run(waiting.work, controller.signal);
    expect(admission.queued).toBe(1);
    controller.abort(new Error('client went away'));
    await expect(rw).rejects.toThrow('client went away');
    expect(admission.queued).toBe(0);
    a.finish('a');
    await ra;
    expect(waiting.started).toBe(false);
    expect(admission.inFlight).toBe(0);
  });

  it('refuses a caller that aborted before it arrived, without taking a slot', async () => {
    const admission = new Admission({ maxInFlight: 1 });
    const work = held();
    await expect(admission.run(work.work, AbortSignal.abort(new Error('gone')))).rejects.toThrow(
      'gone',
    );
    expect(work.started).toBe(false);
    expect(admission.inFlight).toBe(0);
  });

  it('admits everything with maxInFlight: Infinity', async () => {
    const admission = new Admission({ maxInFlight: Number.POSITIVE_INFINITY });
    const works = Array.from({ length: 500 }, () => held());
    const runs = works.map((w) => admission.run(w.work));
    expect(admission.inFlight).toBe(500);
    for (const w of works) w.finish('ok');
    await Promise.all(runs);
    expect(admission.inFlight).toBe(0);
  });

  it('never leaks a slot whatever mix of success, failure, abort and expired waits', async () => {
    vi.useFakeTimers();
    const admission = new Admission({ maxInFlight: 4, maxWaitMs: 20, maxQueued: 8 });
    let peak = 0;
    let ran = 0;
    const settled = Promise.allSettled(
      Array.from({ length: 300 }, (_, i) => {
        const controller = new AbortController();
        if (i % 7 === 0) setTimeout(() => controller.abort(new Error('aborted')), i % 30);
        return admission.run(async () => {
          ran++;
          peak = Math.max(peak, admission.inFlight);
          await new Promise((resolve) => setTimeout(resolve, (i * 13) % 17));
          if (i % 5 === 0) throw new Error('agent failed');
          return i;
        }, controller.signal);
      }),
    );
    await vi.runAllTimersAsync();
    const outcomes = await settled;
    expect(outcomes).toHaveLength(300);
    expect(peak).toBeLessThanOrEqual(4);
    expect(ran).toBeGreaterThan(0);
    const shed = outcomes.filter(
      (o) => o.status === 'rejected' && o.reason instanceof CoordinationShedError,
    ).length;
    expect(shed).toBeGreaterThan(0);
    expect([admission.inFlight, admission.queued]).toEqual([0, 0]);
  });

  it('refuses options that make no bound, naming the option and the fix', () => {
    expect(() => new Admission({ maxInFlight: 0 })).toThrow(/admission.maxInFlight .*Infinity/);
    expect(() => new Admission({ maxInFlight: 2.5 })).toThrow(/admission.maxInFlight/);
    expect(() => new Admission({ maxInFlight: 1, maxWaitMs: -1 })).toThrow(/admission.maxWaitMs/);
    expect(() => new Admission({ maxInFlight: 1, maxQueued: -1 })).toThrow(/admission.maxQueued/);
    expect(() => new Admission({ maxInFlight: 1, retryAfterSeconds: 0.5 })).toThrow(
      /admission.retryAfterSeconds/,
    );
  });

  it('has a finite default that refuses at once', () => {
    const admission = new Admission(DEFAULT_ADMISSION);
    expect(Number.isFinite(admission.maxInFlight)).toBe(true);
    expect(admission.maxWaitMs).toBe(0);
    expect(admission.maxQueued).toBe(0);
  });
});
