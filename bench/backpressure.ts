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
 *   npx tsx bench/backpressure.ts
 *   npx tsx bench/backpressure.ts --callers 1,16,256 --seconds 3
 *   npx tsx bench/backpressure.ts --variants none,64,64/100,16     (bound[/wait ms])
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
import type { LoadRequest, LoadResult } from './support/http-load.ts';
import { ms, percentile, printTable } from './support/stats.ts';

const { values: args } = parseArgs({
  options: {
    callers: { type: 'string', default: '1,4,16,64,256' },
    seconds: { type: 'string', default: '5' },
    variants: { type: 'string', default: 'none,64,64/100' },
  },
});
const CALLERS = args.callers.split(',').map(Number);
const SECONDS = Number(args.seconds);
if (CALLERS.some((n) => !(Number.isInteger(n) && n >= 1)) || !(SECONDS > 0)) {
  throw new Error('--callers takes whole numbers ≥ 1 (1,4,16), --seconds a number > 0');
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

const rows: (string | number)[][] = [];
try {
  for (const { name, admission } of VARIANTS) {
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
    try {
      for (const n of CALLERS) {
        const { samples, seconds } = await callers({
          url: `${api.url}/coordinations`,
          body: BODY,
          callers: n,
          warmupMs: 1000,
          durationMs: SECONDS * 1000,
        });
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
          shed.length,
          shed.length > 0
            ? ms(
                percentile(
                  shed.map((s) => s.ms),
                  99,
                ),
              )
            : '—',
        ]);
        process.stderr.write(`  ${name}, ${n} callers: done\n`);
        // Let the runtime's background work (outcome writes, cache refreshes) catch up.
        await coordinations.settle();
        if (coordinations.load.inFlight !== 0)
          throw new Error(`${coordinations.load.inFlight} coordinations still in flight`);
      }
    } finally {
      await api.stop();
      await coordinations.close();
    }
  }
} finally {
  load.kill();
  await runtime.stop();
}

console.log(
  `\nBack-pressure: 5-agent parallel (no-op agents) through the embedded HTTP API, ${SECONDS} s per point after 1 s of warm-up (ms):\n`,
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
