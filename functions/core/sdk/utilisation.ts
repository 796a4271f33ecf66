import { MAX_WAIT_MS, type UtilisationReport } from '../model/utilisation.ts';

/** Handler runs the duration percentiles are computed over: the latest ones, within the age below. */
export const DURATION_WINDOW_SIZE = 256;
/** Runs older than this no longer count: an agent idle for a while reports no stale percentiles. */
export const DURATION_WINDOW_MS = 5 * 60_000;

/**
 * The agent's own figures between two heartbeats, in the SDK: a ring of the latest handler
 * durations (a fixed 256 numbers, sorted only when a heartbeat asks), the peak of work in flight,
 * and the longest wait of a queued message. No dependency, no allocation per run.
 */
export class UtilisationWindow {
  readonly #durations = new Float64Array(DURATION_WINDOW_SIZE);
  readonly #at = new Float64Array(DURATION_WINDOW_SIZE);
  #next = 0;
  #count = 0;
  #oldestWaitMs: number | undefined;

  /** A handler run of `ms`, ended at `nowMs`. */
  addDuration(ms: number, nowMs: number): void {
    this.#durations[this.#next] = ms;
    this.#at[this.#next] = nowMs;
    this.#next = (this.#next + 1) % DURATION_WINDOW_SIZE;
    this.#count = Math.min(this.#count + 1, DURATION_WINDOW_SIZE);
  }

  /** A queued message sent at `sentAtMs` (SQS SentTimestamp), taken at `nowMs`. */
  addWait(sentAtMs: number, nowMs: number): void {
    // No timestamp (or a made-up 0): nothing to learn. Clocks a little apart: no wait.
    if (!Number.isFinite(sentAtMs) || sentAtMs <= 0) return;
    const waited = Math.min(MAX_WAIT_MS, Math.max(0, nowMs - sentAtMs));
    this.#oldestWaitMs = Math.max(this.#oldestWaitMs ?? 0, waited);
  }

  /** Nearest-rank p50 and p99 of the runs within DURATION_WINDOW_MS of `nowMs`. */
  percentiles(nowMs: number): { p50: number; p99: number; samples: number } | undefined {
    const recent: number[] = [];
    for (let i = 0; i < this.#count; i++) {
      if (nowMs - (this.#at[i] as number) <= DURATION_WINDOW_MS)
        recent.push(this.#durations[i] as number);
    }
    if (recent.length === 0) return undefined;
    recent.sort((a, b) => a - b);
    const rank = (p: number) => recent[Math.max(0, Math.ceil(p * recent.length) - 1)] as number;
    return { p50: round(rank(0.5)), p99: round(rank(0.99)), samples: recent.length };
  }

  /** The report for a heartbeat; the longest wait starts again from there. */
  report(nowMs: number, memory: MemoryFigures): UtilisationReport {
    const durations = this.percentiles(nowMs);
    const wait = this.#oldestWaitMs;
    this.#oldestWaitMs = undefined;
    return {
      ...(durations === undefined
        ? {}
        : {
            durationP50Ms: durations.p50,
            durationP99Ms: durations.p99,
            durationSamples: durations.samples,
          }),
      memoryUsedMB: memory.usedMB,
      ...(memory.sizeMB === undefined ? {} : { memorySizeMB: memory.sizeMB }),
      ...(wait === undefined ? {} : { oldestMessageAgeMs: round(wait) }),
    };
  }
}

export interface MemoryFigures {
  readonly usedMB: number;
  readonly sizeMB: number | undefined;
}

/**
 * The process's resident set against the Lambda function's memory size. Lambda sets
 * AWS_LAMBDA_FUNCTION_MEMORY_SIZE in every function; the invocation context says the same inside
 * Lambda only (outside, in the embedded runtime, its figure is made up, so it is not used).
 */
export function memoryFigures(contextLimitMB?: string): MemoryFigures {
  const configured =
    process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE ??
    (process.env.AWS_LAMBDA_FUNCTION_NAME === undefined ? undefined : contextLimitMB);
  const sizeMB = configured === undefined ? undefined : Number(configured);
  return {
    usedMB: round(process.memoryUsage.rss() / 1_048_576),
    sizeMB: sizeMB !== undefined && Number.isFinite(sizeMB) && sizeMB > 0 ? sizeMB : undefined,
  };
}

function round(value: number): number {
  return Math.round(value * 100) / 100;
}
