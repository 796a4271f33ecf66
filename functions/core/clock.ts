/** Time source for everything that reasons about heartbeats, TTLs and cool-downs. Tests inject a manual clock. */
export interface Clock {
  /** Milliseconds since the Unix epoch. */
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

/**
 * A clock that only moves when told to; for tests and deterministic benchmarks. It starts at the
 * next whole minute of real time, not at a fixed date: engines that run TTL deletion (DynamoDB,
 * LocalStack with its expiry sweep on) remove rows whose `expiresAt` lies in the real past, and
 * such rows could vanish mid-test.
 */
export class ManualClock implements Clock {
  #now: number;

  constructor(startMs = Math.ceil(Date.now() / 60_000) * 60_000) {
    this.#now = startMs;
  }

  now(): number {
    return this.#now;
  }

  advance(ms: number): void {
    this.#now += ms;
  }

  set(ms: number): void {
    this.#now = ms;
  }
}
