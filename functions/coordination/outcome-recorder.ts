import { setTimeout as sleep } from 'node:timers/promises';
import type { AgentRegistry } from '../core/registry/agent-registry.ts';
import { EMPTY_TALLY, type OutcomeTally, withOutcome } from '../core/registry/outcomes.ts';

/** Registry writes a flush has in flight at once. */
const FLUSH_CONCURRENCY = 4;

/**
 * Coalesces step outcomes into one registry write per agent: at the end of each coordination
 * (Lambda, where work must finish before the handler returns) or every `flushIntervalMs` (a
 * long-lived process). A 100-agent fan-out then costs 100 writes per flush rather than per run,
 * and an agent that ran three times in one hierarchical run costs one. Metrics must never fail a
 * coordination that already ran: a write that fails is dropped and counted.
 */
export class OutcomeRecorder {
  readonly #registry: Pick<AgentRegistry, 'recordOutcomes'>;
  readonly #pending = new Map<string, OutcomeTally>();
  readonly #timer: NodeJS.Timeout | undefined;
  #inFlight: Promise<void> = Promise.resolve();
  /** Aborted by settle(): the paced flushes in flight stop waiting between writes. */
  #hurry = new AbortController();
  dropped = 0;

  constructor(
    registry: Pick<AgentRegistry, 'recordOutcomes'>,
    options: { flushIntervalMs?: number } = {},
  ) {
    this.#registry = registry;
    if (options.flushIntervalMs !== undefined) {
      // Paced over most of the interval, so that one flush is done before the next begins.
      const spreadMs = options.flushIntervalMs * 0.8;
      this.#timer = setInterval(() => void this.flush(spreadMs), options.flushIntervalMs);
      this.#timer.unref();
    }
  }

  /** One outcome, in the order they happened: the order decides the breaker's count (see withOutcome). */
  add(agentId: string, ok: boolean, latencyMs: number): void {
    this.#pending.set(
      agentId,
      withOutcome(this.#pending.get(agentId) ?? EMPTY_TALLY, { ok, latencyMs }),
    );
  }

  /**
   * Writes what has accumulated, one UpdateItem per agent. With `spreadMs`, the writes go one at a
   * time, their starts spaced evenly over that long: a large fleet's bookkeeping (≈2 ms of CPU per
   * write on a 2-core machine) then lands thinly on the coordinations in flight instead of stalling
   * a few of them. Without, at most FLUSH_CONCURRENCY at a time, as fast as they go.
   */
  flush(spreadMs = 0): Promise<void> {
    const batch = [...this.#pending.entries()];
    this.#pending.clear();
    const gapMs = batch.length > 1 ? spreadMs / batch.length : 0;
    const { signal } = this.#hurry;
    const write = async ([agentId, tally]: [string, OutcomeTally]) => {
      try {
        await this.#registry.recordOutcomes(agentId, tally);
      } catch {
        this.dropped++;
      }
    };
    const work = (async () => {
      let next = 0;
      const lanes = Array.from(
        { length: Math.min(gapMs > 0 ? 1 : FLUSH_CONCURRENCY, batch.length) },
        async () => {
          while (next < batch.length) {
            const started = performance.now();
            await write(batch[next++] as [string, OutcomeTally]);
            const wait = gapMs - (performance.now() - started);
            if (next < batch.length && wait > 0 && !signal.aborted)
              await sleep(wait, undefined, { signal, ref: false }).catch(() => undefined);
          }
        },
      );
      await Promise.all(lanes);
    })();
    this.#inFlight = Promise.all([this.#inFlight, work]).then(() => undefined);
    return work;
  }

  /** Writes what is pending and waits for every write so far, paced ones hurried along. */
  async settle(): Promise<void> {
    this.#hurry.abort();
    this.#hurry = new AbortController();
    await this.flush();
    await this.#inFlight;
  }

  /** Settles and stops the timer. */
  async close(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    await this.settle();
  }
}
