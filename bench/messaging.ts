/**
 * Messaging benchmark: messages/s and p50/p99 send→handled latency, direct (SQS) and broadcast
 * (EventBridge rule → SQS), through the real router and agent SDK, with the registry on dynalite
 * (the embedded runtime's DynamoDB, in this process). Direct delivery runs on local-aws-sqs (the embedded runtime's SQS) and on moto; broadcasts
 * need moto's EventBridge.
 *
 *   npm run bench:messaging
 */

import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { CreateEventBusCommand, EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { SFNClient } from '@aws-sdk/client-sfn';
import { SQSClient } from '@aws-sdk/client-sqs';
import { createDocumentClient } from '../functions/core/aws/dynamodb.ts';
import { createMessage, type Envelope } from '../functions/core/messaging/envelope.ts';
import { MessageRouter } from '../functions/core/messaging/router.ts';
import { AgentRegistry } from '../functions/core/registry/agent-registry.ts';
import { ensureRegistryTable } from '../functions/core/registry/create-table.ts';
import { defineAgent } from '../functions/core/sdk/define-agent.ts';
import {
  LOCAL_CREDENTIALS,
  LOCAL_REGION,
  startDynalite,
} from '../functions/embedded/dynamodb-engine.ts';
import { freePort, waitUntil } from '../functions/embedded/free-port.ts';
import { lambdaContext } from '../functions/embedded/lambda-context.ts';
import { createAgentQueues } from '../functions/embedded/queues.ts';
import { SqsPoller } from '../functions/embedded/sqs-poller.ts';
import { startSqsServer } from '../functions/embedded/sqs-server.ts';
import { ms, percentile, printTable } from './support/stats.ts';

process.env.POWERTOOLS_LOG_LEVEL ??= 'SILENT';
process.env.POWERTOOLS_METRICS_DISABLED ??= 'true';

const config = (endpoint: string) => ({
  endpoint,
  region: LOCAL_REGION,
  credentials: LOCAL_CREDENTIALS,
});
const dynamo = await startDynalite();
const localSqs = await startSqsServer();
const motoPort = await freePort();
const moto = spawn(
  join(import.meta.dirname, '..', '.venv', 'bin', 'moto_server'),
  ['-H', '127.0.0.1', '-p', String(motoPort)],
  {
    env: { ...process.env, MOTO_PORT: String(motoPort) },
    stdio: 'ignore',
  },
);
const motoEndpoint = `http://127.0.0.1:${motoPort}`;
await waitUntil('moto', () => fetch(`${motoEndpoint}/moto-api/`).then((r) => r.text()));

const raw = new DynamoDBClient(config(dynamo.endpoint));
await ensureRegistryTable(raw, 'bench-messaging');
const registry = new AgentRegistry({
  tableName: 'bench-messaging',
  client: createDocumentClient(config(dynamo.endpoint)),
});
const eventBridge = new EventBridgeClient(config(motoEndpoint));
await eventBridge.send(new CreateEventBusCommand({ Name: 'bench-bus' }));
const rows: (string | number)[][] = [];

async function scenario(
  label: string,
  sqs: SQSClient,
  agents: number,
  messages: number,
  broadcast: boolean,
): Promise<void> {
  const handled = new Map<string, number[]>();
  const router = new MessageRouter({ registry, eventBusName: 'bench-bus', sqs, eventBridge });
  const pollers: SqsPoller[] = [];
  for (let a = 0; a < agents; a++) {
    const agentId = `${label.replace(/\W+/g, '-')}-${a}`;
    const queues = await createAgentQueues(sqs, `${agentId}-${randomUUID().slice(0, 6)}`);
    await registry.register({
      agentId,
      agentType: 'bench',
      description: 'bench agent',
      capabilities: [{ name: 'bench', version: '1.0.0' }],
      endpoint: { queueUrl: queues.queueUrl, queueArn: queues.queueArn },
    });
    await registry.heartbeat(agentId);
    if (broadcast) await router.ensureBroadcastRule(agentId);
    const handler = defineAgent(
      {
        agentId,
        agentType: 'bench',
        description: 'bench agent',
        capabilities: [{ name: 'bench', version: '1.0.0' }],
        handler: (message) => {
          const sent = Date.parse((message.envelope as Envelope).timestamp);
          const list = handled.get(agentId) ?? [];
          list.push(Date.now() - sent);
          handled.set(agentId, list);
        },
      },
      { idempotency: false, sqs, sfn: new SFNClient(config(motoEndpoint)) },
    );
    const poller = new SqsPoller({
      sqs,
      queueUrl: queues.queueUrl,
      queueArn: queues.queueArn,
      handler: (e) => handler(e, lambdaContext(agentId)),
      waitSeconds: 1,
    });
    poller.start();
    pollers.push(poller);
  }
  const expected = broadcast ? messages * agents : messages;
  const started = Date.now();
  const batch = (n: number) =>
    Array.from({ length: n }, (_, i) =>
      broadcast
        ? createMessage({ from: 'bench', to: '*', type: 'broadcast', payload: { i } })
        : createMessage({
            from: 'bench',
            to: `${label.replace(/\W+/g, '-')}-${i % agents}`,
            type: 'request',
            payload: { i },
          }),
    );
  for (let sent = 0; sent < messages; sent += 10) {
    const chunk = batch(Math.min(10, messages - sent));
    if (broadcast) await router.publish(chunk);
    else await router.sendBatch(chunk);
  }
  const deadline = Date.now() + 600_000;
  const count = () => [...handled.values()].reduce((n, list) => n + list.length, 0);
  while (count() < expected && Date.now() < deadline)
    await new Promise((resolve) => setTimeout(resolve, 50));
  const seconds = (Date.now() - started) / 1000;
  await Promise.all(pollers.map((p) => p.stop()));
  const latencies = [...handled.values()].flat();
  rows.push([
    label,
    agents,
    expected,
    count(),
    (count() / seconds).toFixed(0),
    ms(percentile(latencies, 50)),
    ms(percentile(latencies, 99)),
  ]);
  process.stderr.write(`  ${label}: ${count()}/${expected} handled in ${seconds.toFixed(1)} s\n`);
}

try {
  await scenario('direct, local-aws-sqs', new SQSClient(config(localSqs.endpoint)), 4, 2000, false);
  await scenario('direct, moto', new SQSClient(config(motoEndpoint)), 4, 300, false);
  await scenario(
    'broadcast, moto EventBridge → SQS',
    new SQSClient(config(motoEndpoint)),
    3,
    100,
    true,
  );
} finally {
  moto.kill();
  await localSqs.stop();
  await dynamo.stop();
}

console.log('\nMessaging through the router and the agent SDK (send → handled):\n');
printTable(['scenario', 'agents', 'deliveries', 'handled', 'msgs/s', 'p50 ms', 'p99 ms'], rows);
