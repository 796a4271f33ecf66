/**
 * Registry discovery benchmark on dynalite, the embedded runtime's DynamoDB, served in this process
 * on a free port (so its work shares the benchmark's event loop, as it does in the runtime).
 *
 * For fleets of 10, 1 000 and 10 000 agents × 5 capabilities each, prints p50/p99 discovery latency
 * and the DynamoDB requests each discovery made, for: an exact capability held by 10 % of the
 * fleet, a rare capability held by 5 agents whatever the fleet size, a fuzzy query, and an all-of
 * query over two capabilities. Agents are registered and heartbeated through the real registry.
 *
 *   npm run bench:registry            (sizes 10,1000,10000)
 *   npm run bench:registry -- 10,1000 (choose sizes)
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { AgentRegistry } from '../functions/core/registry/agent-registry.ts';
import { ensureRegistryTable } from '../functions/core/registry/create-table.ts';
import {
  LOCAL_CREDENTIALS,
  LOCAL_REGION,
  startDynalite,
} from '../functions/embedded/dynamodb-engine.ts';
import { ms, percentile, pool, printTable } from './support/stats.ts';

const SIZES = (process.argv[2] ?? '10,1000,10000').split(',').map(Number);
const ITERATIONS = 100;
const CAPABILITY_POOL = 50; // each agent holds 5 of 50 names → each name is held by 10 % of the fleet

const engine = await startDynalite();
let requests = 0;
const raw = new DynamoDBClient({
  endpoint: engine.endpoint,
  region: LOCAL_REGION,
  credentials: LOCAL_CREDENTIALS,
});
raw.middlewareStack.add(
  (next) => async (args) => {
    requests++;
    return next(args);
  },
  { step: 'initialize', name: 'countRequests' },
);
const client = DynamoDBDocumentClient.from(raw, {
  marshallOptions: { removeUndefinedValues: true },
});

const rows: (string | number)[][] = [];
try {
  for (const size of SIZES) {
    const tableName = `bench-${size}`;
    await ensureRegistryTable(raw, tableName);
    const registry = new AgentRegistry({ tableName, client });
    const ids = Array.from({ length: size }, (_, i) => i);
    const started = Date.now();
    let done = 0;
    await pool(ids, 32, async (i) => {
      const capabilities = Array.from({ length: 5 }, (_, k) => ({
        name: `capability-${(i * 5 + k) % CAPABILITY_POOL}`,
        version: `${1 + (i % 3)}.${k}.0`,
        priority: i % 7,
      }));
      if (i < 5) capabilities[4] = { name: 'rare-skill', version: '1.0.0', priority: 0 };
      await registry.register({
        agentId: `agent-${i}`,
        agentType: `type-${i % 10}`,
        description: `benchmark agent ${i}`,
        capabilities,
        endpoint: { lambdaArn: `arn:aws:lambda:us-east-1:123456789012:function:agent-${i}` },
        maxConcurrency: 10,
        // long enough that every agent stays healthy for the whole run
        healthCheck: { heartbeatIntervalSeconds: 3600, heartbeatTimeoutSeconds: 7200 },
      });
      await registry.heartbeat(`agent-${i}`, { inFlight: i % 10 });
      done++;
      if (done % 1000 === 0) process.stderr.write(`  ${size} agents: registered ${done}\n`);
    });
    process.stderr.write(
      `  ${size} agents registered and heartbeated in ${((Date.now() - started) / 1000).toFixed(1)} s\n`,
    );

    const scenarios: [string, unknown][] = [
      ['exact (10 % hold it)', { capability: 'capability-7', limit: 5 }],
      ['exact + semver ^2', { capability: 'capability-7', version: '^2', limit: 5 }],
      ['rare (5 hold it)', { capability: 'rare-skill', limit: 5 }],
      ['fuzzy "Capability_7"', { capability: 'Capability_7', match: 'fuzzy', limit: 5 }],
      [
        'all-of 2',
        { capabilities: [{ name: 'capability-7' }, { name: 'capability-8' }], limit: 5 },
      ],
    ];
    for (const [label, query] of scenarios) {
      await registry.discover(query); // warm-up
      const latencies: number[] = [];
      const before = requests;
      let found = 0;
      for (let n = 0; n < ITERATIONS; n++) {
        const t0 = performance.now();
        found = (await registry.discover(query)).length;
        latencies.push(performance.now() - t0);
      }
      const perCall = (requests - before) / ITERATIONS;
      rows.push([
        size,
        label,
        found,
        ms(percentile(latencies, 50)),
        ms(percentile(latencies, 99)),
        perCall.toFixed(1),
      ]);
    }
  }
} finally {
  await engine.stop();
}

console.log(`\nDiscovery on dynalite, ${ITERATIONS} runs per row (5 capabilities per agent):\n`);
printTable(['agents', 'query', 'returned', 'p50 ms', 'p99 ms', 'DynamoDB requests'], rows);
