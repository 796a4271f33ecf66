/**
 * Scaling benchmark (issue 16) on the embedded runtime, in one process:
 *
 *  1. one agent whose work takes `--work` ms (a call to a rate-limited model API, say) with
 *     `maxConcurrency` 1, 4 and 16, under 64 closed-loop callers: coordinations per second, p50/p99
 *     of the caller's latency, and the most tasks the agent ever had running at once (which is
 *     what shows whether the runtime honours maxConcurrency);
 *  2. the spread across 3 replicas of one capability: sequential runs, then 64 callers;
 *  3. utilisation over a `--seconds` run (60 by default) of 16 callers on the replicas, sampled every
 *     `--every` seconds: the process's own view (RSS, heap used, event-loop delay p99 from
 *     perf_hooks.monitorEventLoopDelay, coordinations per second) next to `ps -o rss=,pcpu=` on
 *     the same pid.
 *
 * Callers call the runtime's CoordinationService directly (no HTTP), with admission unbounded, so
 * what limits them is the agent, not the service's back-pressure (see bench/backpressure.ts).
 *
 *   npm run bench:scaling
 *   npx tsx bench/scaling.ts --seconds 20 --every 2 --work 10 --parts concurrency,replicas
 */
import { execFileSync } from 'node:child_process';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import type { CoordinationResult } from '../functions/coordination/result.ts';
import type { AgentDefinition } from '../functions/core/sdk/define-agent.ts';
import { EmbeddedRuntime } from '../functions/embedded/runtime.ts';
import { ms, percentile, printTable } from './support/stats.ts';

const { values: args } = parseArgs({
  options: {
    callers: { type: 'string', default: '64' },
    work: { type: 'string', default: '20' },
    point: { type: 'string', default: '5' },
    seconds: { type: 'string', default: '60' },
    every: { type: 'string', default: '5' },
    parts: { type: 'string', default: 'concurrency,replicas,utilisation' },
  },
});
const CALLERS = Number(args.callers);
const WORK_MS = Number(args.work);
const POINT_SECONDS = Number(args.point);
const RUN_SECONDS = Number(args.seconds);
const EVERY_SECONDS = Number(args.every);
const PARTS = new Set(args.parts.split(','));
if (
  !(Number.isInteger(CALLERS) && CALLERS >= 1) ||
  !(WORK_MS >= 0) ||
  !(POINT_SECONDS > 0) ||
  !(RUN_SECONDS > 0) ||
  !(EVERY_SECONDS > 0 && EVERY_SECONDS <= RUN_SECONDS) ||
  [...PARTS].some((p) => !['concurrency', 'replicas', 'utilisation'].includes(p))
) {
  throw new Error(
    '--callers takes a whole number ≥ 1, --work ms ≥ 0, --point/--seconds/--every seconds > 0 (every ≤ seconds), --parts some of concurrency,replicas,utilisation',
  );
}
const LIMITS = [1, 4, 16];
const REPLICAS = ['replica-1', 'replica-2', 'replica-3'];

/** Tasks running in each agent's handler now, and the most seen at once. */
const running = new Map<string, { now: number; most: number }>();
const sleep = (msToWait: number) => new Promise((resolve) => setTimeout(resolve, msToWait));

function worker(
  agentId: string,
  capability: string,
  extra: Partial<AgentDefinition> = {},
): AgentDefinition {
  running.set(agentId, { now: 0, most: 0 });
  return {
    agentId,
    agentType: capability,
    description: `works ${WORK_MS} ms per task`,
    capabilities: [{ name: capability, version: '1.0.0' }],
    ...extra,
    handler: async () => {
      const tally = running.get(agentId) as { now: number; most: number };
      tally.now++;
      tally.most = Math.max(tally.most, tally.now);
      try {
        await sleep(WORK_MS);
        return { by: agentId };
      } finally {
        tally.now--;
      }
    },
  };
}

process.stderr.write(`starting the embedded runtime (${process.version})…\n`);
const runtime = await EmbeddedRuntime.start({
  agents: [
    ...LIMITS.map((n) => worker(`limited-${n}`, `limited-${n}`, { maxConcurrency: n })),
    ...REPLICAS.map((id) => worker(id, 'translate')),
  ],
  // The agent is what limits the callers here, not the service's back-pressure.
  admission: { maxInFlight: Infinity },
});
const service = runtime.coordinations;

async function run(request: object): Promise<CoordinationResult> {
  const response = await service.run(request);
  if (response.state !== 'completed') throw new Error('express runs complete inline');
  if (response.result.status !== 'succeeded')
    throw new Error(
      `a coordination ${response.result.status}: ${JSON.stringify(response.result.errors)}`,
    );
  return response.result;
}

/** `callers` closed loops for `seconds` (after 1 s of warm-up): latencies and who took each step. */
async function load(
  request: object,
  callers: number,
  seconds: number,
  onDone?: () => void,
): Promise<{ latencies: number[]; by: string[]; seconds: number }> {
  const latencies: number[] = [];
  const by: string[] = [];
  const warmEnd = performance.now() + 1000;
  const end = warmEnd + seconds * 1000;
  await Promise.all(
    Array.from({ length: callers }, async () => {
      while (performance.now() < end) {
        const started = performance.now();
        const result = await run(request);
        if (started < warmEnd) continue;
        latencies.push(performance.now() - started);
        by.push(result.steps[0]?.agentId ?? '?');
        onDone?.();
      }
    }),
  );
  return { latencies, by, seconds: (performance.now() - warmEnd) / 1000 };
}

const counts = (ids: readonly string[]) =>
  REPLICAS.map((id) => ids.filter((by) => by === id).length);
const step = (capability: string) => ({
  pattern: 'sequential',
  steps: [{ capability }],
  timeout: 120,
  stepTimeout: 120,
});

try {
  if (PARTS.has('concurrency')) {
    const rows: (string | number)[][] = [];
    for (const n of LIMITS) {
      const agentId = `limited-${n}`;
      const { latencies, seconds } = await load(step(agentId), CALLERS, POINT_SECONDS);
      await service.settle();
      rows.push([
        n,
        CALLERS,
        (latencies.length / seconds).toFixed(1),
        ((n * 1000) / WORK_MS).toFixed(0),
        ms(percentile(latencies, 50)),
        ms(percentile(latencies, 99)),
        running.get(agentId)?.most ?? 0,
      ]);
      process.stderr.write(`  maxConcurrency ${n}: done\n`);
    }
    console.log(
      `\nOne agent, ${WORK_MS} ms of work per task, ${CALLERS} callers, ${POINT_SECONDS} s per point after 1 s of warm-up (ms):\n`,
    );
    printTable(
      [
        'maxConcurrency',
        'callers',
        'coordinations/s',
        'ceiling/s',
        'p50 latency',
        'p99 latency',
        'most running at once',
      ],
      rows,
    );
  }

  if (PARTS.has('replicas')) {
    const resetMost = () => {
      for (const id of REPLICAS) {
        const tally = running.get(id);
        if (tally) tally.most = 0;
      }
    };
    const mostPerReplica = () => REPLICAS.map((id) => running.get(id)?.most ?? 0).join(' / ');
    resetMost();
    const sequential: string[] = [];
    for (let i = 0; i < 300; i++)
      sequential.push((await run(step('translate'))).steps[0]?.agentId ?? '?');
    const sequentialMost = mostPerReplica();
    resetMost();
    const concurrent = await load(step('translate'), CALLERS, POINT_SECONDS);
    await service.settle();
    console.log(`\nSpread across 3 replicas of one capability (${WORK_MS} ms of work per task):\n`);
    printTable(
      [
        'load',
        'coordinations',
        ...REPLICAS,
        'most running at once (per replica)',
        'coordinations/s',
      ],
      [
        ['300 sequential', 300, ...counts(sequential), sequentialMost, '—'],
        [
          `${CALLERS} callers, ${POINT_SECONDS} s`,
          concurrent.by.length,
          ...counts(concurrent.by),
          mostPerReplica(),
          (concurrent.by.length / concurrent.seconds).toFixed(1),
        ],
      ],
    );
  }

  if (PARTS.has('utilisation')) {
    const callers = 16;
    // The histogram records each interval between its timer's runs, the resolution included: the
    // delay is what exceeds it (an idle loop reads 10.1 ms at p99).
    const resolutionMs = 10;
    const delay = monitorEventLoopDelay({ resolution: resolutionMs });
    delay.enable();
    let done = 0;
    const rows: (string | number)[][] = [];
    const mb = (bytes: number) => (bytes / 1024 / 1024).toFixed(0);
    const started = performance.now();
    let last = { at: started, done: 0, cpu: process.cpuUsage() };
    const sampler = setInterval(() => {
      const now = performance.now();
      const memory = process.memoryUsage();
      const cpu = process.cpuUsage(last.cpu);
      const [psRssKb, psCpu] = execFileSync('ps', ['-o', 'rss=,pcpu=', '-p', String(process.pid)], {
        encoding: 'utf8',
      })
        .trim()
        .split(/\s+/);
      rows.push([
        ((now - started) / 1000).toFixed(0),
        (((done - last.done) * 1000) / (now - last.at)).toFixed(1),
        mb(memory.rss),
        mb(Number(psRssKb) * 1024),
        mb(memory.heapUsed),
        mb(memory.heapTotal),
        (delay.percentile(99) / 1e6 - resolutionMs).toFixed(1),
        (delay.max / 1e6 - resolutionMs).toFixed(1),
        ((100 * (cpu.user + cpu.system)) / 1000 / (now - last.at)).toFixed(0),
        psCpu ?? '?',
      ]);
      delay.reset();
      last = { at: now, done, cpu: process.cpuUsage() };
    }, EVERY_SECONDS * 1000);
    // No warm-up to leave out here: the first samples show the process growing into the load.
    const { by } = await load(step('translate'), callers, RUN_SECONDS - 1, () => done++);
    clearInterval(sampler);
    delay.disable();
    await service.settle();
    console.log(
      `\nUtilisation: ${callers} callers on the 3 replicas for ${RUN_SECONDS} s, sampled every ${EVERY_SECONDS} s (MB; delay in ms; ${by.length} coordinations, spread ${counts(by).join(' / ')}):\n`,
    );
    printTable(
      [
        't (s)',
        'coordinations/s',
        'RSS (process)',
        'RSS (ps)',
        'heap used',
        'heap total',
        'loop delay p99',
        'loop delay max',
        '%CPU (process, interval)',
        '%CPU (ps)',
      ],
      rows,
    );
    console.log(
      "\n%CPU (process, interval) is process.cpuUsage() over the sample's interval; %CPU (ps) is ps's figure, CPU time over the process's whole life so far.",
    );
  }
} finally {
  await runtime.stop();
}
