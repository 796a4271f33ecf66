/**
 * Closed-loop HTTP callers, run in a process of their own (forked by bench/backpressure.ts) so that
 * the callers' own work — sockets, JSON, timers — does not share the event loop of the server
 * they measure. Each caller POSTs, reads the whole answer, and goes again at once; a caller that
 * is refused with 503 waits what `Retry-After` says before trying again, as a well-behaved client
 * does (one that does not is a flood no bound can serve).
 */

export interface LoadRequest {
  readonly url: string;
  readonly body: string;
  readonly callers: number;
  /** Requests before this long are sent but not recorded (connections, JIT). */
  readonly warmupMs: number;
  readonly durationMs: number;
}

export interface LoadSample {
  readonly status: number;
  /** Client-side: request sent → whole body read. */
  readonly ms: number;
  /** From a 200's `timings.overheadMs`. */
  readonly overheadMs?: number;
}

export interface LoadResult {
  readonly samples: LoadSample[];
  /** Seconds from the end of the warm-up to the last answer. */
  readonly seconds: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export async function runLoad(request: LoadRequest): Promise<LoadResult> {
  const samples: LoadSample[] = [];
  const start = performance.now();
  const recordFrom = start + request.warmupMs;
  const stopAt = recordFrom + request.durationMs;
  let lastAnswer = recordFrom;
  const caller = async () => {
    while (performance.now() < stopAt) {
      const sent = performance.now();
      const response = await fetch(request.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: request.body,
      });
      const text = await response.text();
      const answered = performance.now();
      if (sent >= recordFrom) {
        let overheadMs: number | undefined;
        if (response.status === 200) {
          overheadMs = (JSON.parse(text) as { timings: { overheadMs: number } }).timings.overheadMs;
        } else if (response.status !== 503) {
          throw new Error(
            `unexpected ${response.status} from ${request.url}: ${text.slice(0, 300)}`,
          );
        }
        samples.push({
          status: response.status,
          ms: answered - sent,
          ...(overheadMs === undefined ? {} : { overheadMs }),
        });
        lastAnswer = Math.max(lastAnswer, answered);
      }
      if (response.status === 503) {
        const retryAfter = Number(response.headers.get('retry-after'));
        if (!(retryAfter > 0)) throw new Error('a 503 without a Retry-After header');
        await sleep(retryAfter * 1000);
      }
    }
  };
  await Promise.all(Array.from({ length: request.callers }, caller));
  return { samples, seconds: (lastAnswer - recordFrom) / 1000 };
}

// Forked: one request per message, its result sent back.
if (process.send !== undefined) {
  process.on('message', (message: LoadRequest) => {
    runLoad(message).then(
      (result) => process.send?.({ result }),
      (error: unknown) => process.send?.({ error: String(error) }),
    );
  });
}
