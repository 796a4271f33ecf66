import { describe, expect, it } from 'vitest';
import {
  EventTooLargeError,
  MAX_EVENT_BYTES,
} from '../../functions/core/streaming/dynamo-event-log.ts';
import type { CoordinationEventLog } from '../../functions/core/streaming/event-log.ts';
import { createEventWriter } from '../../functions/core/streaming/event-writer.ts';
import type {
  CoordinationEvent,
  CoordinationEventInput,
} from '../../functions/core/streaming/events.ts';

const chunk = (seq: number, text = `token ${seq}`): CoordinationEventInput => ({
  type: 'step.chunk',
  stepId: 's1',
  agentId: 'writer',
  chunk: { seq, text },
});

const seqOf = (event: CoordinationEventInput): number =>
  event.type === 'step.chunk' ? event.chunk.seq : -1;

/**
 * A log whose appends finish only when the test says so (or at once, when `instant`), recording
 * every batch and how many appends were ever in flight together.
 */
class HeldLog implements Pick<CoordinationEventLog, 'append'> {
  readonly batches: CoordinationEventInput[][] = [];
  readonly #pending: { resolve: () => void; reject: (error: unknown) => void }[] = [];
  #inFlight = 0;
  maxInFlight = 0;
  /** Events whose append finished. */
  landed = 0;

  readonly instant: boolean;

  constructor(instant = false) {
    this.instant = instant;
  }

  async append(
    coordinationId: string,
    events: readonly CoordinationEventInput[],
  ): Promise<readonly CoordinationEvent[]> {
    this.batches.push([...events]);
    this.#inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.#inFlight);
    try {
      if (!this.instant)
        await new Promise<void>((resolve, reject) => this.#pending.push({ resolve, reject }));
      else await new Promise((resolve) => setImmediate(resolve));
    } finally {
      this.#inFlight--;
    }
    const start = this.landed;
    this.landed += events.length;
    const time = new Date().toISOString();
    return events.map((event, i) => ({ ...event, id: start + i + 1, coordinationId, time }));
  }

  get waiting(): number {
    return this.#pending.length;
  }

  /** Finishes the oldest append in flight (with `error`, it fails). */
  release(error?: Error): void {
    const next = this.#pending.shift();
    if (next === undefined) throw new Error('no append is in flight');
    if (error === undefined) next.resolve();
    else next.reject(error);
  }
}

/** Lets every promise that can settle now settle, and timers of 0 ms run. */
const settle = async () => {
  for (let i = 0; i < 10; i++) await new Promise((resolve) => setImmediate(resolve));
};

/** A promise's state without waiting for it. */
function track(promise: Promise<unknown>): { settled: boolean; error?: unknown } {
  const state: { settled: boolean; error?: unknown } = { settled: false };
  promise.then(
    () => {
      state.settled = true;
    },
    (error: unknown) => {
      state.settled = true;
      state.error = error;
    },
  );
  return state;
}

/** Waits (bounded) until `condition` holds. */
async function until(condition: () => boolean, ms = 5_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe('createEventWriter', () => {
  it('appends in the order pushed, one append at a time, in batches', async () => {
    const log = new HeldLog(true);
    const writer = createEventWriter(log, 'c1');
    for (let seq = 0; seq < 1_000; seq++) await writer.push(chunk(seq));
    await writer.close();
    expect(log.batches.flat().map(seqOf)).toEqual(Array.from({ length: 1_000 }, (_, i) => i));
    expect(log.maxInFlight).toBe(1);
    // Batched: far fewer appends than events.
    expect(log.batches.length).toBeLessThanOrEqual(20);
  });

  it('appends a lone event shortly after it was pushed, without waiting for close', async () => {
    const log = new HeldLog(true);
    const writer = createEventWriter(log, 'c1', { firstLingerMs: 20 });
    await writer.push(chunk(0));
    expect(log.batches).toHaveLength(0);
    await until(() => log.landed === 1);
    expect(log.batches).toEqual([[chunk(0)]]);
    await writer.close();
    expect(log.batches).toHaveLength(1);
  });

  it('lingers longer after the first batch, so slow token streams still batch', async () => {
    const log = new HeldLog(true);
    const writer = createEventWriter(log, 'c1', { firstLingerMs: 1, lingerMs: 600_000 });
    await writer.push(chunk(0));
    await until(() => log.landed === 1);
    // Later events wait for the longer linger (or a full batch, or close) and go together.
    await writer.push(chunk(1));
    await writer.push(chunk(2));
    await settle();
    expect(log.batches.map((batch) => batch.map(seqOf))).toEqual([[0]]);
    await writer.close();
    expect(log.batches.map((batch) => batch.map(seqOf))).toEqual([[0], [1, 2]]);
  });

  it('appends as soon as a batch is full, by count or by bytes', async () => {
    const log = new HeldLog(true);
    const writer = createEventWriter(log, 'c1', {
      batchEvents: 3,
      batchBytes: 1_000,
      firstLingerMs: 600_000,
      lingerMs: 600_000,
    });
    for (let seq = 0; seq < 3; seq++) await writer.push(chunk(seq));
    await until(() => log.landed === 3);
    await writer.push(chunk(3, 'x'.repeat(1_000)));
    await until(() => log.landed === 4);
    expect(log.batches.map((batch) => batch.map(seqOf))).toEqual([[0, 1, 2], [3]]);
    await writer.close();
  });

  it('holds push() while the buffer is at its bound, so a fast producer cannot grow memory', async () => {
    const log = new HeldLog();
    const writer = createEventWriter(log, 'c1', {
      batchEvents: 5,
      highWaterEvents: 10,
      firstLingerMs: 600_000,
      lingerMs: 600_000,
    });
    for (let seq = 0; seq < 5; seq++) await writer.push(chunk(seq));
    await settle();
    expect(log.waiting).toBe(1); // the first batch is in flight and held
    for (let seq = 5; seq < 14; seq++) await writer.push(chunk(seq));
    // The tenth buffered event reaches the bound: its push waits for the append in flight.
    const blocked = track(writer.push(chunk(14)));
    await settle();
    expect(blocked.settled).toBe(false);
    expect(log.batches).toHaveLength(1);
    log.release();
    await settle();
    expect(blocked).toEqual({ settled: true });
    expect(log.batches.map((batch) => batch.map(seqOf))).toEqual([
      [0, 1, 2, 3, 4],
      [5, 6, 7, 8, 9, 10, 11, 12, 13, 14],
    ]);
    const closed = writer.close();
    log.release();
    await closed;
    expect(log.landed).toBe(15);
  });

  it('bounds what a producer streaming faster than the log holds, by events and by bytes', async () => {
    const log = new HeldLog();
    const writer = createEventWriter(log, 'c1', {
      batchEvents: 10,
      highWaterEvents: 50,
      highWaterBytes: 8 * 1024,
      firstLingerMs: 1,
      lingerMs: 1,
    });
    let accepted = 0;
    let mostHeld = 0;
    let done = false;
    const producer = (async () => {
      for (let seq = 0; seq < 2_000; seq++) {
        // Text of varying size, so that sometimes the byte bound binds and sometimes the count.
        await writer.push(chunk(seq, 'y'.repeat((seq % 7) * 100)));
        accepted++;
        mostHeld = Math.max(mostHeld, accepted - log.landed);
      }
      await writer.close();
      done = true;
    })();
    while (!done) {
      await until(() => log.waiting > 0 || done);
      if (log.waiting > 0) log.release();
    }
    await producer;
    expect(log.batches.flat().map(seqOf)).toEqual(Array.from({ length: 2_000 }, (_, i) => i));
    // At most the buffer at its bound and the batch in flight.
    expect(mostHeld).toBeLessThanOrEqual(2 * 50);
    for (const batch of log.batches)
      expect(Buffer.byteLength(JSON.stringify(batch))).toBeLessThan(8 * 1024 + 1_000);
  });

  it('rejects every later push and close with the error of a failed append', async () => {
    const log = new HeldLog();
    const writer = createEventWriter(log, 'c1', {
      batchEvents: 2,
      highWaterEvents: 4,
      firstLingerMs: 600_000,
      lingerMs: 600_000,
    });
    await writer.push(chunk(0));
    await writer.push(chunk(1));
    await settle();
    for (let seq = 2; seq < 5; seq++) await writer.push(chunk(seq));
    const blocked = writer.push(chunk(5));
    const failure = new Error('ProvisionedThroughputExceeded');
    log.release(failure);
    await expect(blocked).rejects.toBe(failure);
    await expect(writer.push(chunk(6))).rejects.toBe(failure);
    await expect(writer.close()).rejects.toBe(failure);
    expect(log.batches).toHaveLength(1);
  });

  it('refuses an event too large for the log on its own: the events around it are appended, the writer goes on', async () => {
    const log = new HeldLog(true);
    const writer = createEventWriter(log, 'c1', { firstLingerMs: 600_000, lingerMs: 600_000 });
    await writer.push(chunk(0));
    const huge: CoordinationEventInput = {
      type: 'step.succeeded',
      stepId: 's1',
      agentId: 'writer',
      output: 'x'.repeat(MAX_EVENT_BYTES),
      durationMs: 1,
    };
    const refused = writer.push(huge);
    await expect(refused).rejects.toThrow(EventTooLargeError);
    await expect(refused).rejects.toThrow(/step\.succeeded event of \d+ bytes cannot be logged/);
    await writer.push(chunk(1));
    await writer.close();
    expect(log.batches.flat().map(seqOf)).toEqual([0, 1]);
  });

  it('close appends what is left, waits for it, and ends the writer', async () => {
    const log = new HeldLog();
    const writer = createEventWriter(log, 'c1', { firstLingerMs: 600_000, lingerMs: 600_000 });
    await writer.push(chunk(0));
    await writer.push(chunk(1));
    const closed = track(writer.close());
    await settle();
    expect(closed.settled).toBe(false);
    expect(log.batches).toEqual([[chunk(0), chunk(1)]]);
    log.release();
    await settle();
    expect(closed).toEqual({ settled: true });
    await expect(writer.push(chunk(2))).rejects.toThrow(/closed/);
    await writer.close();
    expect(log.batches).toHaveLength(1);
  });
});
