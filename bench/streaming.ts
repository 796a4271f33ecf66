/**
 * Streaming benchmark (issue 17) on the embedded runtime: time to first chunk and chunks per
 * second, next to the limit — a plain in-process async generator yielding the same chunks to a
 * `for await` loop — as a ratio.
 *
 *  1. message: `POST /messages` with `"stream": true` over real HTTP (127.0.0.1): the agent's
 *     chunks travel as Lambda response-stream frames through the embedded Lambda endpoint
 *     (InvokeWithResponseStream), the router and the API's SSE, and are read with `readSse`;
 *  2. coordination: a one-step coordination whose agent streams, watched through the event log
 *     (`runtime.events.follow`, what `GET /coordinations/{id}/events` serves): chunks reach the
 *     watcher as `step.chunk` events, batched into DynamoDB (dynalite) items.
 *
 * Each figure is the median of `--runs` runs (after one warm-up run).
 *
 *   npm run bench:streaming
 *   npx tsx bench/streaming.ts --chunks 2000 --runs 3
 */
import { parseArgs } from 'node:util';
import type { AgentDefinition } from '../functions/core/sdk/define-agent.ts';
import { readSse } from '../functions/core/streaming/sse.ts';
import { EmbeddedRuntime } from '../functions/embedded/runtime.ts';
import { percentile, printTable } from './support/stats.ts';

const { values: args } = parseArgs({
  options: {
    chunks: { type: 'string', default: '10000' },
    runs: { type: 'string', default: '5' },
  },
});
const CHUNKS = Number(args.chunks);
const RUNS = Number(args.runs);
if (!(Number.isInteger(CHUNKS) && CHUNKS >= 1) || !(Number.isInteger(RUNS) && RUNS >= 1))
  throw new Error('--chunks and --runs take whole numbers ≥ 1');

/** A duration for the table: microseconds below a millisecond (the limit's first chunk is ≈1 µs). */
const time = (ms: number) => (ms < 1 ? `${(ms * 1000).toFixed(1)} µs` : `${ms.toFixed(1)} ms`);

/** A token-sized text delta, as an LLM streams them. */
const token = (i: number) => `token-${i} `;

async function* tokens(count: number): AsyncGenerator<string> {
  for (let i = 0; i < count; i++) yield token(i);
}

const streamer: AgentDefinition = {
  agentId: 'streamer',
  agentType: 'writer',
  description: 'Streams as many tokens as it is asked for',
  capabilities: [{ name: 'streaming', version: '1.0.0' }],
  async *handler(message) {
    const count = Number((message.input as { count?: number }).count ?? CHUNKS);
    yield* tokens(count);
    return { count };
  },
};

interface Figures {
  readonly firstMs: number;
  readonly perSecond: number;
}

/** Times one stream: from the call to the first chunk, and the chunk rate over the whole run. */
async function measure(stream: () => AsyncIterable<unknown>): Promise<Figures> {
  const started = performance.now();
  let first = Number.NaN;
  let count = 0;
  for await (const _ of stream()) {
    if (count === 0) first = performance.now() - started;
    count++;
  }
  const total = performance.now() - started;
  if (count !== CHUNKS) throw new Error(`expected ${CHUNKS} chunks, got ${count}`);
  return { firstMs: first, perSecond: (count / total) * 1000 };
}

async function median(label: string, stream: () => AsyncIterable<unknown>): Promise<Figures> {
  await measure(stream); // warm-up
  const runs: Figures[] = [];
  for (let i = 0; i < RUNS; i++) runs.push(await measure(stream));
  const figures = {
    firstMs: percentile(
      runs.map((r) => r.firstMs),
      50,
    ),
    perSecond: percentile(
      runs.map((r) => r.perSecond),
      50,
    ),
  };
  console.error(`  ${label}: first ${time(figures.firstMs)}, ${Math.round(figures.perSecond)}/s`);
  return figures;
}

const runtime = await EmbeddedRuntime.start({ agents: [streamer], port: 0 });
try {
  console.error(`${CHUNKS} chunks per run, median of ${RUNS} runs`);
  const limit = await median('in-process async generator', () => tokens(CHUNKS));

  const message = await median('POST /messages (stream)', async function* () {
    const response = await fetch(`${runtime.apiUrl}/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'text/event-stream' },
      body: JSON.stringify({ to: 'streamer', payload: { count: CHUNKS }, stream: true }),
    });
    if (!response.ok || response.body === null) throw new Error(`HTTP ${response.status}`);
    for await (const event of readSse(response.body)) {
      if (event.event === 'chunk') yield event.data;
      else if (event.event === 'error') throw new Error(JSON.stringify(event.data));
    }
  });

  const coordination = await median('coordination events (event log)', async function* () {
    let started: (id: string) => void = () => undefined;
    const id = new Promise<string>((resolve) => {
      started = resolve;
    });
    const run = runtime.coordinations.run(
      { pattern: 'sequential', agents: ['streamer'], payload: { count: CHUNKS } },
      { onStarted: started },
    );
    for await (const event of runtime.events.follow(await id)) {
      if (event.type === 'step.chunk') yield event.chunk;
    }
    await run;
  });

  printTable(
    ['path', 'time to first chunk', 'chunks / s', 'first chunk vs the limit', 'rate vs the limit'],
    [
      [
        'in-process async generator (the limit)',
        time(limit.firstMs),
        Math.round(limit.perSecond),
        '—',
        '—',
      ],
      ...(
        [
          ['POST /messages, stream (HTTP, SSE)', message],
          ['coordination step.chunk events (event log)', coordination],
        ] as const
      ).map(([label, f]) => [
        label,
        time(f.firstMs),
        Math.round(f.perSecond),
        `${Math.round(f.firstMs / limit.firstMs)}× (+${time(f.firstMs - limit.firstMs)})`,
        `1/${(limit.perSecond / f.perSecond).toFixed(0)}`,
      ]),
    ],
  );
} finally {
  await runtime.stop();
}
