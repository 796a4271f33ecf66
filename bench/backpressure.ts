/**
 * Back-pressure benchmark (issue 15): 5-agent parallel coordinations of no-op agents through the
 * HTTP API of the embedded runtime, from 1, 4, 16, 64 and 256 concurrent callers, with and
 * without admission control. For each point: the p50/p99 coordination overhead (total − time
 * inside agents, from the results of admitted runs) and HTTP latency of admitted requests,
 * throughput (coordinations answered 200 per second), and how many requests were shed (503) —
 * with the p99 latency of those refusals.
 *
 * The callers run in a child process (bench/support/http-load.ts), closed loop: each sends its
 * next request when the last one is answered, and a refused caller waits its `Retry-After` first.
 * Every variant serves from its own CoordinationService and API server over the same registry and
 * engine, so only the admission options differ.
 *
 * Every point is measured in rounds (3 by default), the variants taking turns within each round,
 * and the rounds' samples pooled: on a shared machine, load from elsewhere then falls on every
 * variant alike instead of on whichever ran at the time.
 *
 *   npx tsx bench/backpressure.ts
 *   npx tsx bench/backpressure.ts --callers 1,16,256 --seconds 3 --rounds 5
 *   npx tsx bench/backpressure.ts --variants none,8,16,64,16/100     (bound[/wait ms])
 */
import { fork } from 'node:child_process';
import { parseArgs } from 'node:util';
import { createApi } from '../functions/api/app.ts';
import type { AdmissionOptions } from '../functions/coordination/admission.ts';
import { CachedDirectory } from '../functions/coordination/cached-directory.ts';
import { CoordinationService } from '../functions/coordination/service.ts';
import type { AgentDefinition } from '../functions/core/sdk/define-agent.ts';
import { startApiServer } from '../functions/embedded/api-server.ts';
import { EmbeddedRuntime } from '../functions/embedded/runtime.ts';
import type { LoadRequest, LoadResult, LoadSample } from './support/http-load.ts';
import { ms, percentile, printTable } from './support/stats.ts';

const { values: args } = parseArgs({
  options: {
    callers: { type: 'string', default: '1,4,16,64,256' },
    seconds: { type: 'string', default: '2' },
    rounds: { type: 'string', default: '3' },
    variants: { type: 'string', default: 'none,16,64,16/100' },
  },
});
const CALLERS = args.callers.split(',').map(Number);
const SECONDS = Number(args.seconds);
const ROUNDS = Number(args.rounds);
if (
  CALLERS.some((n) => !(Number.isInteger(n) && n >= 1)) ||
  !(SECONDS > 0) ||
  !(Number.isInteger(ROUNDS) && ROUNDS >= 1)
) {
  throw new Error(
    '--callers takes whole numbers ≥ 1 (1,4,16), --seconds a number > 0, --rounds a whole number ≥ 1',
  );
}

interface Variant {
  readonly name: string;
  readonly admission: AdmissionOptions;
}
/** `none` → no bound; `64` → 64 in flight, refused at once; `64/100` → waits up to 100 ms. */
function variant(spec: string): Variant {
  if (spec === 'none') return { name: 'no bound', admission: { maxInFlight: Infinity } };
  const [bound, wait] = spec.split('/').map(Number);
  if (bound === undefined || !Number.isInteger(bound) || (wait !== undefined && !(wait >= 0)))
    throw new Error(`--variants: "${spec}" is not none, <bound> or <bound>/<wait ms>`);
  return wait
    ? {
        name: `bound ${bound}, wait ≤ ${wait} ms`,
        // Up to 4× the bound may wait: enough that a burst of 256 is queued, not refused, at 64.
        admission: { maxInFlight: bound, maxWaitMs: wait, maxQueued: bound * 4 },
      }
    : { name: `bound ${bound}, shed at once`, admission: { maxInFlight: bound } };
}
const VARIANTS = args.variants.split(',').map(variant);

const noop = (agentId: string): AgentDefinition => ({
  agentId,
  agentType: 'noop',
  description: 'answers at once',
  capabilities: [{ name: 'noop', version: '1.0.0' }],
  handler: () => ({}),
});
const AGENTS = Array.from({ length: 5 }, (_, i) => `noop-${i}`);
const BODY = JSON.stringify({ pattern: 'parallel', agents: AGENTS });

process.stderr.write(`starting the embedded runtime (${process.version})…\n`);
// The default 30 s sweep keeps the agents' heartbeats fresh (90 s) through a run of minutes.
const runtime = await EmbeddedRuntime.start({ agents: AGENTS.map(noop) });
const load = fork(new URL('./support/http-load.ts', import.meta.url).pathname, [], {
  execArgv: process.execArgv,
  stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
});

function callers(request: LoadRequest): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    load.once('message', (message: { result?: LoadResult; error?: string }) => {
      if (message.result) resolve(message.result);
      else reject(new Error(`load generator: ${message.error}`));
    });
    load.send(request);
  });
}

/** Every variant serves at once, each from its own service and port, so points can interleave. */
const served = await Promise.all(
  VARIANTS.map(async ({ name, admission }) => {
    const coordinations = new CoordinationService({
      registry: runtime.registry,
      engine: runtime.engine,
      recordOutcomes: 'background',
      directory: new CachedDirectory(runtime.registry, { ttlMs: 1000 }),
      admission,
    });
    const api = await startApiServer(
      createApi({ registry: runtime.registry, router: runtime.router, coordinations }),
      { port: 0 },
    );
    return { name, coordinations, api };
  }),
);

/** Samples and measured seconds per variant and caller count, pooled over the rounds. */
const cells = new Map<string, { samples: LoadSample[]; seconds: number }>();
const cell = (name: string, n: number) => {
  const key = `${name}|${n}`;
  const found = cells.get(key) ?? { samples: [], seconds: 0 };
  cells.set(key, found);
  return found;
};

try {
  for (let round = 0; round < ROUNDS; round++) {
    for (const n of CALLERS) {
      // Variants take turns, in a rotated order each round: the shared machine's busy moments
      // fall on all of them alike.
      const order = served.map((_, i) => served[(i + round) % served.length] as (typeof served)[0]);
      for (const { name, coordinations, api } of order) {
        const { samples, seconds } = await callers({
          url: `${api.url}/coordinations`,
          body: BODY,
          callers: n,
          warmupMs: 1000,
          durationMs: SECONDS * 1000,
        });
        const pooled = cell(name, n);
        pooled.samples.push(...samples);
        pooled.seconds += seconds;
        // Let the runtime's background work (outcome writes, cache refreshes) catch up.
        await coordinations.settle();
        if (coordinations.load.inFlight !== 0)
          throw new Error(`${name}: ${coordinations.load.inFlight} coordinations still in flight`);
      }
      process.stderr.write(`  round ${round + 1}/${ROUNDS}, ${n} callers: done\n`);
    }
  }
} finally {
  for (const { api, coordinations } of served) {
    await api.stop();
    await coordinations.close();
  }
  load.kill();
  await runtime.stop();
}

const rows: (string | number)[][] = [];
for (const { name } of served) {
  for (const n of CALLERS) {
    const { samples, seconds } = cell(name, n);
    const ok = samples.filter((s) => s.status === 200);
    const shed = samples.filter((s) => s.status === 503);
    const overhead = ok.map((s) => s.overheadMs ?? Number.NaN);
    const http = ok.map((s) => s.ms);
    rows.push([
      name,
      n,
      ms(percentile(overhead, 50)),
      ms(percentile(overhead, 99)),
      ms(percentile(http, 50)),
      ms(percentile(http, 99)),
      (ok.length / seconds).toFixed(0),
      `${shed.length} (${((100 * shed.length) / Math.max(1, samples.length)).toFixed(0)} %)`,
      shed.length > 0
        ? ms(
            percentile(
              shed.map((s) => s.ms),
              99,
            ),
          )
        : '—',
    ]);
  }
}

console.log(
  `\nBack-pressure: 5-agent parallel (no-op agents) through the embedded HTTP API; ${ROUNDS} rounds of ${SECONDS} s per point (after 1 s of warm-up each), pooled (ms):\n`,
);
printTable(
  [
    'admission',
    'callers',
    'p50 overhead',
    'p99 overhead',
    'p50 HTTP',
    'p99 HTTP',
    'coordinations/s',
    'shed (503)',
    'p99 HTTP of 503s',
  ],
  rows,
);
