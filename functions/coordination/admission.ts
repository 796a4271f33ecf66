import { CapacityExceededError } from '../core/errors.ts';

/**
 * How many coordinations one CoordinationService works on at once, and what happens to the next.
 *
 * "In flight" is a coordination the service is working on: planned (registry reads), compiled and
 * either run to its result (express: the slot is held until the engine's result or failure is in,
 * outcomes recorded) or started (standard: held until Step Functions acknowledged the start, a
 * few milliseconds). Validation comes first, outside the bound: a bad request is a 400 whatever the
 * load.
 */
export interface AdmissionOptions {
  /**
   * Coordinations in flight at once; the next one waits (`maxWaitMs`) or is refused with 503
   * `CAPACITY_EXCEEDED` and `Retry-After`. `Infinity` admits everything (no back-pressure).
   */
  readonly maxInFlight: number;
  /**
   * How long a coordination may wait for a slot before it is refused. 0 refuses at once when every
   * slot is taken. @default 0
   */
  readonly maxWaitMs?: number;
  /** How many may wait at once (only with `maxWaitMs` > 0); more are refused at once. @default maxInFlight */
  readonly maxQueued?: number;
  /** What the refusal's `Retry-After` says, in whole seconds. @default 1 */
  readonly retryAfterSeconds?: number;
}

/**
 * The default bound of a CoordinationService: 16 in flight, refused at once beyond that. From
 * `npx tsx bench/backpressure.ts` (docs/benchmarks.md, "Back-pressure"): the embedded runtime runs
 * coordinations, agents and engines on one event loop, whose throughput peaks with a few dozen
 * coordinations in flight; each one admitted past that only lengthens everyone's wait. At 256
 * callers, 16 kept the p50 overhead at 13 ms (771 ms unbounded) and doubled throughput; 32 and 64
 * let the tail grow again. A short wait for a slot measured worse tails than refusing at once, so
 * there is none by default. Agents that mostly wait on I/O (a model's answer) leave the loop free:
 * raise the bound for them. In Lambda a container serves one request at a time, so there the
 * bound that matters is the API function's reserved concurrency (docs/benchmarks.md).
 */
export const DEFAULT_ADMISSION: AdmissionOptions = { maxInFlight: 16, maxWaitMs: 0 };

/**
 * A coordination refused by Mobius's own admission control (not by Step Functions): the API
 * answers 503 `CAPACITY_EXCEEDED` with `Retry-After`, and counts it as `CoordinationsShed`.
 */
export class CoordinationShedError extends CapacityExceededError {}

interface Waiter {
  readonly admit: () => void;
}

/**
 * A counting semaphore with a bounded, time-limited FIFO of waiters. `run(work)` is the only way
 * to hold a slot, and the slot is released when `work` settles, whichever way it settles: a slot
 * cannot leak. A waiter that gives up (its wait expired, its caller's signal aborted) never held
 * one.
 */
export class Admission {
  readonly maxInFlight: number;
  readonly maxWaitMs: number;
  readonly maxQueued: number;
  readonly retryAfterSeconds: number;
  #inFlight = 0;
  readonly #waiters: Waiter[] = [];

  constructor(options: AdmissionOptions) {
    const { maxInFlight, maxWaitMs = 0, retryAfterSeconds = 1 } = options;
    if (
      !(
        maxInFlight === Number.POSITIVE_INFINITY ||
        (Number.isInteger(maxInFlight) && maxInFlight >= 1)
      )
    )
      throw new RangeError(
        `admission.maxInFlight must be a whole number ≥ 1, or Infinity for no bound; got ${maxInFlight}`,
      );
    if (!(Number.isFinite(maxWaitMs) && maxWaitMs >= 0))
      throw new RangeError(
        `admission.maxWaitMs must be a finite number of milliseconds ≥ 0 (0: refuse at once); got ${maxWaitMs}`,
      );
    const maxQueued = options.maxQueued ?? (Number.isFinite(maxInFlight) ? maxInFlight : 0);
    if (!(Number.isInteger(maxQueued) && maxQueued >= 0))
      throw new RangeError(`admission.maxQueued must be a whole number ≥ 0; got ${maxQueued}`);
    if (!(Number.isInteger(retryAfterSeconds) && retryAfterSeconds >= 1))
      throw new RangeError(
        `admission.retryAfterSeconds must be a whole number of seconds ≥ 1 (Retry-After has no fractions); got ${retryAfterSeconds}`,
      );
    this.maxInFlight = maxInFlight;
    this.maxWaitMs = maxWaitMs;
    this.maxQueued = maxWaitMs > 0 ? maxQueued : 0;
    this.retryAfterSeconds = retryAfterSeconds;
  }

  /** Slots held now. */
  get inFlight(): number {
    return this.#inFlight;
  }

  /** Coordinations waiting for a slot now. */
  get queued(): number {
    return this.#waiters.length;
  }

  /**
   * Runs `work` in a slot: at once when one is free, after waiting up to `maxWaitMs` for one, or
   * not at all (CoordinationShedError). `signal` abandons the wait (rejecting with its reason); once
   * `work` runs, it is `work`'s to honour, and the slot is held until `work` settles.
   */
  async run<T>(work: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    await this.#acquire(signal);
    try {
      return await work();
    } finally {
      this.#release();
    }
  }

  #acquire(signal: AbortSignal | undefined): Promise<void> | void {
    signal?.throwIfAborted();
    if (this.#inFlight < this.maxInFlight) {
      this.#inFlight++;
      return;
    }
    if (this.#waiters.length >= this.maxQueued) throw this.#refusal(0);
    return new Promise<void>((resolve, reject) => {
      const started = performance.now();
      const leave = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        const index = this.#waiters.indexOf(waiter);
        if (index >= 0) this.#waiters.splice(index, 1);
      };
      const onAbort = () => {
        leave();
        reject(signal?.reason);
      };
      const timer = setTimeout(() => {
        leave();
        reject(this.#refusal(performance.now() - started));
      }, this.maxWaitMs);
      const waiter: Waiter = {
        // The releasing run hands its slot over: #inFlight stays as it is.
        admit: () => {
          leave();
          resolve();
        },
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#waiters.push(waiter);
    });
  }

  #release(): void {
    // Straight to the longest waiter, so that a newcomer cannot take the slot ahead of it.
    const next = this.#waiters[0];
    if (next) next.admit();
    else this.#inFlight--;
  }

  #refusal(waitedMs: number): CoordinationShedError {
    const waited = waitedMs > 0 ? ` and none came free within ${Math.round(waitedMs)} ms` : '';
    return new CoordinationShedError(
      `Too many coordinations in flight: this coordinator runs at most ${this.maxInFlight} at once${waited}. ` +
        `Retry after ${this.retryAfterSeconds} s; nothing was started. If the machine has room, raise ` +
        "the bound (the coordination service's admission.maxInFlight).",
      {
        maxInFlight: this.maxInFlight,
        inFlight: this.#inFlight,
        queued: this.#waiters.length,
        ...(waitedMs > 0 ? { waitedMs: Math.round(waitedMs) } : {}),
      },
      { retryAfterSeconds: this.retryAfterSeconds },
    );
  }
}
