import { setTimeout as sleep } from 'node:timers/promises';
import type { AgentRegistry } from '../core/registry/agent-registry.ts';
import { isCrash } from '../core/registry/crashes.ts';
import { EMPTY_TALLY, type OutcomeTally, withOutcome } from '../core/registry/outcomes.ts';

/**
 * Where outcomes go: the registry. `markCrashed` marks an agent whose task died with its execution
 * environment unhealthy until it heartbeats again (see crashes.ts).
 */
export type OutcomeRegistry = Pick<AgentRegistry, 'recordOutcomes'> & {
  markCrashed?(agentId: string, atMs: number): Promise<boolean>;
};

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
  readonly #registry: OutcomeRegistry;
  readonly #pending = new Map<string, OutcomeTally>();
  /** Agents whose task died with them (see isCrash), and when they were last seen to. */
  readonly #crashes = new Map<string, number>();
  readonly #timer: NodeJS.Timeout | undefined;
  #inFlight: Promise<void> = Promise.resolve();
  /** Aborted by settle(): the paced flushes in flight stop waiting between writes. */
  #hurry = new AbortController();
  dropped = 0;

  constructor(registry: OutcomeRegistry, options: { flushIntervalMs?: number } = {}) {
    this.#registry = registry;
    if (options.flushIntervalMs !== undefined) {
      // Paced over most of the interval, so that one flush is done before the next begins.
      const spreadMs = options.flushIntervalMs * 0.8;
      this.#timer = setInterval(() => void this.flush(spreadMs), options.flushIntervalMs);
      this.#timer.unref();
    }
  }

  /**
   * One outcome, in the order they happened: the order decides the breaker's count (see
   * withOutcome). `error` is a failure's error name: a crash (isCrash) also marks the agent
   * unhealthy until its next heartbeat.
   */
  add(agentId: string, ok: boolean, latencyMs: number, error?: string | null): void {
    this.#pending.set(
      agentId,
      withOutcome(this.#pending.get(agentId) ?? EMPTY_TALLY, { ok, latencyMs }),
    );
    if (!ok && isCrash(error)) this.#crashes.set(agentId, Date.now());
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
    const crashes = [...this.#crashes.entries()];
    this.#crashes.clear();
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
      // After the outcomes: a mark is conditional on no heartbeat since the crash, so however late
      // it lands it cannot outlive the agent's recovery.
      for (const [agentId, atMs] of crashes) {
        try {
          await this.#registry.markCrashed?.(agentId, atMs);
        } catch {
          this.dropped++;
        }
      }
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
