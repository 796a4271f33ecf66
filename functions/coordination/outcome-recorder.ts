import type { AgentRegistry, OutcomeTally } from '../core/registry/agent-registry.ts';

/** Registry writes a flush has in flight at once. */
const FLUSH_CONCURRENCY = 4;

interface Pending {
  requests: number;
  errors: number;
  latencyMs: number;
  lastOk: boolean;
}

/**
 * Coalesces step outcomes into one registry write per agent: at the end of each coordination
 * (Lambda, where work must finish before the handler returns) or every `flushIntervalMs` (a
 * long-lived process). A 100-agent fan-out then costs 100 writes per flush rather than per run,
 * and an agent that ran three times in one hierarchical run costs one. Metrics must never fail a
 * coordination that already ran: a write that fails is dropped and counted.
 */
export class OutcomeRecorder {
  readonly #registry: Pick<AgentRegistry, 'recordOutcomes'>;
  readonly #pending = new Map<string, Pending>();
  readonly #timer: NodeJS.Timeout | undefined;
  #inFlight: Promise<void> = Promise.resolve();
  dropped = 0;

  constructor(
    registry: Pick<AgentRegistry, 'recordOutcomes'>,
    options: { flushIntervalMs?: number } = {},
  ) {
    this.#registry = registry;
    if (options.flushIntervalMs !== undefined) {
      this.#timer = setInterval(() => void this.flush(), options.flushIntervalMs);
      this.#timer.unref();
    }
  }

  add(agentId: string, ok: boolean, latencyMs: number): void {
    const pending = this.#pending.get(agentId) ?? {
      requests: 0,
      errors: 0,
      latencyMs: 0,
      lastOk: true,
    };
    pending.requests++;
    if (!ok) pending.errors++;
    pending.latencyMs += latencyMs;
    pending.lastOk = ok;
    this.#pending.set(agentId, pending);
  }

  /**
   * Writes what has accumulated: one UpdateItem per agent, at most FLUSH_CONCURRENCY at a time, so
   * a large flush interleaves with coordinations in flight instead of monopolising the process.
   */
  flush(): Promise<void> {
    const batch = [...this.#pending.entries()];
    this.#pending.clear();
    const write = async ([agentId, tally]: [string, OutcomeTally]) => {
      try {
        await this.#registry.recordOutcomes(agentId, tally);
      } catch {
        this.dropped++;
      }
    };
    const work = (async () => {
      let next = 0;
      const lanes = Array.from({ length: Math.min(FLUSH_CONCURRENCY, batch.length) }, async () => {
        while (next < batch.length) await write(batch[next++] as [string, OutcomeTally]);
      });
      await Promise.all(lanes);
    })();
    this.#inFlight = Promise.all([this.#inFlight, work]).then(() => undefined);
    return work;
  }

  /** Flushes and waits for every write so far; stops the timer. */
  async close(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    await this.flush();
    await this.#inFlight;
  }
}
