/** One agent's concurrency as the embedded runtime sees it (tests, benchmarks, utilisation). */
export interface AgentSlotFigures {
  /** The agent's `maxConcurrency`; Infinity when its card sets none. */
  readonly max: number;
  /** Tasks running now. */
  readonly inFlight: number;
  /** Tasks waiting for a slot. */
  readonly waiting: number;
  /** The most tasks that ever ran at once. */
  readonly peak: number;
}

/** The slots of one agent: a counting semaphore, one slot per invocation, waiters served in order. */
class Slots {
  readonly max: number;
  inFlight = 0;
  peak = 0;
  readonly #waiters: (() => void)[] = [];
  #roomWaiters: (() => void)[] = [];

  constructor(max: number) {
    this.max = max;
  }

  get waiting(): number {
    return this.#waiters.length;
  }

  /** Free slots nobody is waiting for. */
  get room(): number {
    return this.#waiters.length > 0 ? 0 : this.max - this.inFlight;
  }

  /** Resolves once a slot is taken; rejects with the signal's reason if it aborts first. */
  acquire(front: boolean, signal?: AbortSignal): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (signal?.aborted) {
        reject(signal.reason);
        return;
      }
      const abandon = () => {
        const at = this.#waiters.indexOf(grant);
        if (at === -1) return;
        this.#waiters.splice(at, 1);
        reject(signal?.reason);
        this.#serve(); // the room it held back may be free now
      };
      const grant = () => {
        signal?.removeEventListener('abort', abandon);
        resolve();
      };
      signal?.addEventListener('abort', abandon, { once: true });
      if (front) this.#waiters.unshift(grant);
      else this.#waiters.push(grant);
      this.#serve();
    });
  }

  release(): void {
    this.inFlight--;
    this.#serve();
  }

  whenRoom(): Promise<void> {
    if (this.room > 0) return Promise.resolve();
    return new Promise<void>((resolve) => this.#roomWaiters.push(resolve));
  }

  /** Grants waiters in order while slots are free. */
  #serve(): void {
    while (this.inFlight < this.max) {
      const grant = this.#waiters.shift();
      if (grant === undefined) break;
      this.inFlight++;
      this.peak = Math.max(this.peak, this.inFlight);
      grant();
    }
    if (this.room > 0 && this.#roomWaiters.length > 0) {
      const woken = this.#roomWaiters;
      this.#roomWaiters = [];
      for (const wake of woken) wake();
    }
  }
}

/**
 * How the embedded runtime holds each agent to its card's `maxConcurrency`, whichever way the agent
 * is invoked: express tasks, synchronous and asynchronous Invoke calls, and its queue's event
 * source. On AWS the limit is the function's reserved concurrency and a direct invoke beyond it is
 * throttled (`Lambda.TooManyRequestsException`, retried by the state machine's Retry with backoff);
 * here excess work waits for a slot, in arrival order, and is never refused: the wait replaces
 * the retry, with nothing to tune and no attempt to run out of.
 *
 * Every invocation takes one slot: a task, a request, a ping, and a batch from the agent's queue
 * alike. That holds the agent to its limit because a bounded agent never has two records of one
 * invocation in its handler at once: its standard queue's poller invokes it with each message on
 * its own (see SqsPoller's capacity), a FIFO batch is one message group's records in order, and
 * the agent SDK handles a batch's records one at a time when the agent has a `maxConcurrency`.
 * Agents whose card sets no `maxConcurrency` are not limited.
 */
export class AgentSlots {
  readonly #slots = new Map<string, Slots>();

  constructor(limits: Iterable<readonly [agentId: string, maxConcurrency: number | undefined]>) {
    for (const [agentId, max] of limits) {
      this.#slots.set(agentId, new Slots(max ?? Number.POSITIVE_INFINITY));
    }
  }

  /**
   * Runs `work` once one of `agentId`'s slots is free, and frees it when it settles.
   * `front`: ahead of those already waiting (work already taken off a queue, which must not wait
   * behind the direct calls long enough for its visibility timeout to end). `signal`: the
   * invocation's deadline; if it aborts before a slot is free, the work is given up, never run,
   * and the promise rejects with the signal's reason.
   */
  async run<T>(
    agentId: string,
    work: () => Promise<T>,
    options: { front?: boolean; signal?: AbortSignal } = {},
  ): Promise<T> {
    const slots = this.#slots.get(agentId);
    if (slots === undefined) return work();
    await slots.acquire(options.front ?? false, options.signal);
    try {
      return await work();
    } finally {
      slots.release();
    }
  }

  /**
   * How many tasks the agent could start now without waiting: what a queue poller may take off
   * the queue. Infinity for an agent without a limit; 0 while anyone waits.
   */
  room(agentId: string): number {
    return this.#slots.get(agentId)?.room ?? Number.POSITIVE_INFINITY;
  }

  /** Resolves when room(agentId) may be above 0. */
  whenRoom(agentId: string): Promise<void> {
    return this.#slots.get(agentId)?.whenRoom() ?? Promise.resolve();
  }

  figures(agentId: string): AgentSlotFigures {
    const slots = this.#slots.get(agentId);
    if (slots === undefined) throw new Error(`No embedded agent ${agentId}`);
    return {
      max: slots.max,
      inFlight: slots.inFlight,
      waiting: slots.waiting,
      peak: slots.peak,
    };
  }
}
