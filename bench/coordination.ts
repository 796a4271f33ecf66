/**
 * Coordination benchmark on the embedded runtime, no-op agents, registry on dynalite:
 *
 *  1. p50/p99 coordination overhead (total − time inside agents) for a 5-agent parallel, a 5-step
 *     pipeline, a 100-agent scatter-gather and a 2-round hierarchical (5 workers);
 *  2. coordinations per second with 8 concurrent callers;
 *  3. overhead as the registry holds 10 / 1 000 / 10 000 agents, with and without the planning cache;
 *  4. LangGraph.js (@langchain/langgraph) running the same no-op graphs in the same process, as a
 *     ratio. LangGraph keeps its graph in memory; Mobius resolves agents in the registry, compiles
 *     ASL and interprets it — the ratio prices that.
 *
 *   npm run bench            (sizes 10,1000,10000)
 *   npm run bench -- 10,1000
 */
import { Annotation, END, Send, START, StateGraph } from '@langchain/langgraph';
import type { CoordinationResult } from '../functions/coordination/result.ts';
import { CoordinationService } from '../functions/coordination/service.ts';
import type { AgentDefinition } from '../functions/core/sdk/define-agent.ts';
import { supervisorContext } from '../functions/core/sdk/supervisor.ts';
import { EmbeddedRuntime } from '../functions/embedded/runtime.ts';
import { ms, percentile, pool, printTable } from './support/stats.ts';

const REGISTRY_SIZES = (process.argv[2] ?? '10,1000,10000').split(',').map(Number);
const ITERATIONS = Number(process.env.BENCH_ITERATIONS ?? 300);
const WORKERS = 5;

const noop = (agentId: string, capability = 'noop'): AgentDefinition => ({
  agentId,
  agentType: 'noop',
  description: 'answers at once',
  capabilities: [{ name: capability, version: '1.0.0' }],
  handler: () => ({}),
});
const boss: AgentDefinition = {
  agentId: 'noop-boss',
  agentType: 'noop',
  description: 'plans two rounds of five subtasks',
  capabilities: [{ name: 'plan', version: '1.0.0' }],
  handler: (message) => {
    const { round } = supervisorContext(message);
    return round <= 2
      ? {
          subtasks: Array.from({ length: WORKERS }, (_, i) => ({
            agentId: `noop-${i}`,
            input: { i },
          })),
        }
      : { done: true, output: {} };
  },
};
const ids = (n: number) => Array.from({ length: n }, (_, i) => `noop-${i}`);

const SCENARIOS: { name: string; request: Record<string, unknown> }[] = [
  { name: '5-agent parallel', request: { pattern: 'parallel', agents: ids(5) } },
  { name: '5-step pipeline', request: { pattern: 'pipeline', agents: ids(5) } },
  { name: '100-agent scatter-gather', request: { pattern: 'scatter_gather', agents: ids(100) } },
  {
    name: '2-round hierarchical',
    request: {
      pattern: 'hierarchical',
      supervisor: 'noop-boss',
      workers: ids(WORKERS),
      maxRounds: 2,
    },
  },
  {
    name: 'capability pipeline (discovery)',
    request: {
      pattern: 'pipeline',
      steps: [{ capability: 'rare-skill' }, { capability: 'rare-skill' }],
    },
  },
];

process.stderr.write('starting the embedded runtime with 100 no-op agents…\n');
const runtime = await EmbeddedRuntime.start({
  agents: [...ids(100).map((id) => noop(id)), noop('rare-0', 'rare-skill'), boss],
  sweepSeconds: 3600,
});

async function run(
  request: Record<string, unknown>,
  service: CoordinationService = runtime.coordinations,
): Promise<CoordinationResult> {
  const response = await service.run(request);
  if (response.state !== 'completed' || response.result.status !== 'succeeded') {
    throw new Error(
      `benchmark coordination did not succeed: ${JSON.stringify(response).slice(0, 300)}`,
    );
  }
  return response.result;
}

async function measure(
  request: Record<string, unknown>,
  iterations: number,
  service: CoordinationService = runtime.coordinations,
): Promise<{ first: number; overhead: number[]; total: number[] }> {
  // The first run of a shape also compiles it and prepares its interpreter (the cold path).
  const first = (await run(request, service)).timings.overheadMs;
  for (let i = 0; i < 30; i++) await run(request, service);
  const overhead: number[] = [];
  const total: number[] = [];
  for (let i = 0; i < iterations; i++) {
    const { timings } = await run(request, service);
    overhead.push(timings.overheadMs);
    total.push(timings.totalMs);
  }
  return { first, overhead, total };
}

// LangGraph.js: the same shapes with no-op nodes.
const Channel = Annotation.Root({
  results: Annotation<number[]>({ reducer: (a, b) => a.concat(b), default: () => [] }),
  round: Annotation<number>({ reducer: (_, b) => b, default: () => 0 }),
});
const nodeFn = () => ({ results: [1] });
/** The slice of LangGraph's builder these graphs use; its generics do not follow dynamic node names. */
interface Builder {
  addNode(name: string, action: () => object): Builder;
  addEdge(from: string, to: string): Builder;
  compile(): { invoke(input: object): Promise<unknown> };
}
const builder = () => new StateGraph(Channel) as unknown as Builder;
function fanOut(n: number) {
  let graph = builder();
  for (let i = 0; i < n; i++)
    graph = graph.addNode(`n${i}`, nodeFn).addEdge(START, `n${i}`).addEdge(`n${i}`, END);
  return graph.compile();
}
function chain(n: number) {
  let graph = builder();
  for (let i = 0; i < n; i++) graph = graph.addNode(`n${i}`, nodeFn);
  graph = graph.addEdge(START, 'n0');
  for (let i = 1; i < n; i++) graph = graph.addEdge(`n${i - 1}`, `n${i}`);
  return graph.addEdge(`n${n - 1}`, END).compile();
}
function hierarchy() {
  return new StateGraph(Channel)
    .addNode('supervisor', (state) => ({ round: state.round + 1 }))
    .addNode('worker', nodeFn)
    .addEdge(START, 'supervisor')
    .addConditionalEdges('supervisor', (state) =>
      state.round <= 2 ? Array.from({ length: WORKERS }, () => new Send('worker', state)) : END,
    )
    .addEdge('worker', 'supervisor')
    .compile();
}
const LANGGRAPH: Record<string, { invoke: (input: object) => Promise<unknown> }> = {
  '5-agent parallel': fanOut(5),
  '5-step pipeline': chain(5),
  '100-agent scatter-gather': fanOut(100),
  '2-round hierarchical': hierarchy(),
};
async function langgraph(name: string, iterations: number): Promise<number[]> {
  const graph = LANGGRAPH[name];
  if (graph === undefined) return [];
  for (let i = 0; i < 30; i++) await graph.invoke({ results: [] });
  const samples: number[] = [];
  for (let i = 0; i < iterations; i++) {
    const t0 = performance.now();
    await graph.invoke({ results: [] });
    samples.push(performance.now() - t0);
  }
  return samples;
}

try {
  const rows: (string | number)[][] = [];
  for (const { name, request } of SCENARIOS) {
    const { first, overhead, total } = await measure(request, ITERATIONS);
    const lg = await langgraph(name, ITERATIONS);
    const ratio = lg.length > 0 ? (percentile(overhead, 50) / percentile(lg, 50)).toFixed(1) : '—';
    rows.push([
      name,
      ms(percentile(overhead, 50)),
      ms(percentile(overhead, 99)),
      ms(percentile(total, 99)),
      ms(first),
      lg.length > 0 ? ms(percentile(lg, 50)) : '—',
      lg.length > 0 ? ms(percentile(lg, 99)) : '—',
      ratio,
    ]);
    process.stderr.write(`  ${name}: done\n`);
  }
  console.log(
    `\nCoordination overhead on the embedded runtime (no-op agents, registry on dynalite; ms):\n`,
  );
  printTable(
    [
      'coordination',
      'p50 overhead',
      'p99 overhead',
      'p99 total',
      'first run',
      'LangGraph p50',
      'LangGraph p99',
      'Mobius/LangGraph p50',
    ],
    rows,
  );

  // Throughput: 8 callers, 5-agent parallel.
  const callers = 8;
  const total = 800;
  const t0 = performance.now();
  await pool(
    Array.from({ length: total }, (_, i) => i),
    callers,
    async () => {
      await run(SCENARIOS[0]?.request ?? {});
    },
  );
  const seconds = (performance.now() - t0) / 1000;
  console.log(
    `\nThroughput: ${total} × 5-agent parallel with ${callers} concurrent callers: ${(total / seconds).toFixed(0)} coordinations/s\n`,
  );
} finally {
  await runtime.stop();
}

const sizeRows = await registrySizes();
console.log('Overhead vs registry size (ms):\n');
printTable(
  [
    'agents in registry',
    'parallel by id p50',
    'p99',
    'uncached p50',
    'p99',
    'pipeline by capability p50',
    'p99',
    'uncached p50',
    'p99',
  ],
  sizeRows,
);

/**
 * Overhead as the registry grows, on a runtime of its own: the 5 no-op agents and the rare-skill
 * holder, then fillers with other capabilities up to each size. Measured twice: as served (planning
 * lookups reused for a second, see CachedDirectory) and uncached, every plan reading the registry
 * (by id: one BatchGetItem; by capability: one Query) — the price of a cold container.
 */
async function registrySizes(): Promise<(string | number)[][]> {
  const agents = [...ids(WORKERS).map((id) => noop(id)), noop('rare-0', 'rare-skill')];
  const sized = await EmbeddedRuntime.start({ agents, sweepSeconds: 3600 });
  const uncached = new CoordinationService({
    registry: sized.registry,
    engine: sized.engine,
    recordOutcomes: 'background',
  });
  const parallel = { pattern: 'parallel', agents: ids(WORKERS) };
  const byCapability = SCENARIOS[4]?.request ?? {};
  const rows: (string | number)[][] = [];
  try {
    // V8 optimises dynalite's and the registry's hot paths over the first thousands of requests:
    // warm them up before the first size is measured, or the smallest registry would pay for it.
    for (let i = 0; i < 1000; i++) await run(byCapability, uncached);
    let registered = agents.length;
    for (const size of REGISTRY_SIZES) {
      const fillers = Array.from(
        { length: Math.max(0, size - registered) },
        (_, i) => registered + i,
      );
      await pool(fillers, 32, async (n) => {
        await sized.registry.register({
          agentId: `filler-${n}`,
          agentType: 'filler',
          description: 'fills the registry',
          capabilities: [{ name: `filler-skill-${n % 50}`, version: '1.0.0' }],
          endpoint: { lambdaArn: `arn:aws:lambda:us-east-1:000000000000:function:filler-${n}` },
        });
      });
      registered = Math.max(registered, size);
      const cells: string[] = [];
      for (const request of [parallel, byCapability]) {
        for (const service of [sized.coordinations, uncached]) {
          const { overhead } = await measure(request, 200, service);
          cells.push(ms(percentile(overhead, 50)), ms(percentile(overhead, 99)));
        }
      }
      rows.push([registered, ...cells]);
      process.stderr.write(`  registry of ${registered}: done\n`);
    }
  } finally {
    await uncached.close();
    await sized.stop();
  }
  return rows;
}
