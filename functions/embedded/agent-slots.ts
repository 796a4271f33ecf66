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

interface Waiter {
  readonly slots: number;
  readonly grant: () => void;
}

/** The slots of one agent: a counting semaphore whose waiters are served in order. */
class Slots {
  readonly max: number;
  inFlight = 0;
  peak = 0;
  readonly #waiters: Waiter[] = [];
  #roomWaiters: (() => void)[] = [];

  constructor(max: number) {
    this.max = max;
  }

  get waiting(): number {
    return this.#waiters.reduce((sum, w) => sum + w.slots, 0);
  }

  /** Free slots nobody is waiting for. */
  get room(): number {
    return this.#waiters.length > 0 ? 0 : this.max - this.inFlight;
  }

  acquire(slots: number, front: boolean): Promise<void> {
    return new Promise<void>((resolve) => {
      const waiter = { slots, grant: resolve };
      if (front) this.#waiters.unshift(waiter);
      else this.#waiters.push(waiter);
      this.#serve();
    });
  }

  release(slots: number): void {
    this.inFlight -= slots;
    this.#serve();
  }

  whenRoom(): Promise<void> {
    if (this.room > 0) return Promise.resolve();
    return new Promise<void>((resolve) => this.#roomWaiters.push(resolve));
  }

  /**
   * Grants waiters in order while their slots fit. Strictly in order: a batch waiting for three
   * slots is not overtaken by single tasks behind it, so nothing waits for ever.
   */
  #serve(): void {
    for (let next = this.#waiters[0]; next !== undefined; next = this.#waiters[0]) {
      if (this.inFlight + next.slots > this.max) break;
      this.#waiters.shift();
      this.inFlight += next.slots;
      this.peak = Math.max(this.peak, this.inFlight);
      next.grant();
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
 * An invocation takes one slot per task it carries: one for a task or a request; for an SQS batch
 * from a standard queue, one per record (the agent SDK handles a batch's records concurrently);
 * for a batch from a FIFO queue, one (its records are handled one after another). Agents whose
 * card sets no `maxConcurrency` are not limited.
 */
export class AgentSlots {
  readonly #slots = new Map<string, Slots>();

  constructor(limits: Iterable<readonly [agentId: string, maxConcurrency: number | undefined]>) {
    for (const [agentId, max] of limits) {
      this.#slots.set(agentId, new Slots(max ?? Number.POSITIVE_INFINITY));
    }
  }

  /**
   * Runs `work` once `slots` of `agentId`'s slots are free, and frees them when it settles.
   * `front`: ahead of those already waiting (work already taken off a queue, which must not wait
   * behind the direct calls long enough for its visibility timeout to end).
   */
  async run<T>(
    agentId: string,
    work: () => Promise<T>,
    options: { slots?: number; front?: boolean } = {},
  ): Promise<T> {
    const slots = this.#slots.get(agentId);
    if (slots === undefined) return work();
    // A batch larger than the agent's limit would never fit; it is sized to the limit by the
    // poller (see room), and takes every slot if it is not.
    const wanted = Math.min(slots.max, Math.max(1, options.slots ?? 1));
    await slots.acquire(wanted, options.front ?? false);
    try {
      return await work();
    } finally {
      slots.release(wanted);
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
