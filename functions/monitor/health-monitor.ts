import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { InvokeCommand, type LambdaClient } from '@aws-sdk/client-lambda';
import { SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { sharedLambdaClient } from '../core/aws/lambda.ts';
import { sharedSqsClient } from '../core/aws/sqs.ts';
import { NotFoundError } from '../core/errors.ts';
import { readQueue } from '../core/messaging/queue-figures.ts';
import { metricsNamespace } from '../core/metrics-namespace.ts';
import { type AgentEndpoint, isFifoEndpoint } from '../core/model/agent-card.ts';
import type { AgentStatus } from '../core/model/agent-status.ts';
import { PING_KIND } from '../core/model/task.ts';
import type { QueueFigures } from '../core/model/utilisation.ts';
import { type AgentRecord, AgentRegistry } from '../core/registry/agent-registry.ts';
import { FleetTally } from '../core/registry/fleet.ts';

export interface HealthSweep {
  readonly counts: Readonly<Record<AgentStatus, number>>;
  readonly pinged: number;
  /** Agents whose heartbeat expired: the registry already reports them offline. */
  readonly offline: readonly string[];
  /** Pings that could not be sent (e.g. an agent registered by hand that the monitor may not reach). */
  readonly failed: readonly { readonly agentId: string; readonly reason: string }[];
  /** Deployed agents with no registry entry (expired and deleted): pinged so they register again. */
  readonly missing: readonly string[];
  /** Messages waiting in the agents' queues and dead-letter queues, as read in this sweep. */
  readonly queues: {
    readonly read: number;
    readonly depth: number;
    readonly deadLetters: number;
    /** Queues whose attributes could not be read (no permission, queue gone). */
    readonly failed: readonly { readonly agentId: string; readonly reason: string }[];
  };
}

/**
 * One sweep of the health monitor: every agent is pinged (its Lambda asynchronously, or its
 * queue) so it heartbeats and re-registers if it must, and the fleet's health is counted. Agents
 * already offline are pinged too: a ping is how a recovered agent comes back. Staleness needs no
 * write: every read derives `offline` from the heartbeat's age, and TTL later deletes the row. One
 * agent the monitor cannot reach never stops the sweep: its failure is counted and reported.
 *
 * Queue figures: the sweep reads each agent's queue (and its dead-letter queue) with
 * GetQueueAttributes and hands them to the agent in its ping, whose heartbeat stores them in the
 * same write; for an agent that will not heartbeat them (offline, or not pingable) the monitor
 * stores them itself, since a queue growing behind a dead agent is what an operator must see.
 */
export async function sweep(
  registry: AgentRegistry,
  clients: { lambda: LambdaClient; sqs: SQSClient },
): Promise<HealthSweep> {
  const tally = new FleetTally();
  const offline: string[] = [];
  const failed: { agentId: string; reason: string }[] = [];
  const queueFailures: { agentId: string; reason: string }[] = [];
  let queuesRead = 0;
  let depth = 0;
  let deadLetters = 0;
  let pinged = 0;
  const seen = new Set<string>();
  const pingOne = async (agentId: string, endpoint: AgentEndpoint, queue?: QueueFigures) => {
    const { lambdaArn, queueUrl } = endpoint;
    // An imported A2A agent's lambdaArn is the A2A proxy, which stands in for every such agent:
    // its ping names the agent, whose card the proxy reads again to tell whether it is up.
    const ping = JSON.stringify({
      kind: PING_KIND,
      ...(endpoint.a2a === undefined ? {} : { agentId }),
      ...(queue === undefined ? {} : { queue }),
    });
    try {
      if (lambdaArn) {
        await clients.lambda.send(
          new InvokeCommand({
            FunctionName: lambdaArn,
            InvocationType: 'Event',
            Payload: Buffer.from(ping),
          }),
        );
      } else if (queueUrl && pingable(endpoint)) {
        await clients.sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: ping }));
      } else {
        return;
      }
      pinged++;
    } catch (error) {
      failed.push({ agentId, reason: reasonOf(error) });
    }
  };
  // Replicas sharing one queue (competing consumers) name the same URL: read it once per sweep.
  const queueReads = new Map<string, Promise<QueueFigures>>();
  const queueOf = async (agentId: string, endpoint: AgentEndpoint) => {
    const url = endpoint.queueUrl;
    if (url === undefined) return undefined;
    try {
      let read = queueReads.get(url);
      if (read === undefined) {
        read = readQueue(clients.sqs, url);
        queueReads.set(url, read);
        const figures = await read;
        queuesRead++;
        depth += figures.depth;
        deadLetters += figures.deadLetters ?? 0;
      }
      return await read;
    } catch (error) {
      queueFailures.push({ agentId, reason: reasonOf(error) });
      return undefined;
    }
  };
  const visit = async (agentId: string, endpoint: AgentEndpoint, live: boolean) => {
    const queue = await queueOf(agentId, endpoint);
    if (queue !== undefined && !(live && pingable(endpoint))) {
      await registry.recordQueue(agentId, queue).catch((error: unknown) => {
        // Deregistered meanwhile: nothing to store. Anything else is worth a look.
        if (!(error instanceof NotFoundError))
          queueFailures.push({ agentId, reason: reasonOf(error) });
      });
    }
    await pingOne(agentId, endpoint, queue);
  };
  let nextToken: string | undefined;
  for (let page = 0; page < 1000; page++) {
    const result = await registry.list({ limit: 100, ...(nextToken ? { nextToken } : {}) });
    await Promise.all(
      result.agents.map(async (agent: AgentRecord) => {
        seen.add(agent.card.agentId);
        tally.add(agent);
        if (agent.status === 'offline') offline.push(agent.card.agentId);
        await visit(agent.card.agentId, agent.card.endpoint, agent.status !== 'offline');
      }),
    );
    nextToken = result.nextToken;
    if (nextToken === undefined) break;
  }
  const missing = (await registry.deployments()).filter((d) => !seen.has(d.agentId));
  await Promise.all(missing.map((d) => pingOne(d.agentId, d.endpoint)));
  return {
    counts: tally.byStatus,
    pinged,
    offline,
    failed,
    missing: missing.map((d) => d.agentId),
    queues: { read: queuesRead, depth, deadLetters, failed: queueFailures },
  };
}

/** Whether a ping reaches the agent (FIFO queues are not pinged: a ping would hold up a conversation). */
function pingable(endpoint: AgentEndpoint): boolean {
  return (
    endpoint.lambdaArn !== undefined ||
    (endpoint.queueUrl !== undefined && !isFifoEndpoint(endpoint))
  );
}

function reasonOf(error: unknown): string {
  return `${(error as Error).name}: ${(error as Error).message}`;
}

const logger = new Logger({ serviceName: 'mobius-health-monitor' });
const metrics = new Metrics({
  namespace: metricsNamespace(),
  serviceName: 'mobius-health-monitor',
});
let registry: AgentRegistry | undefined;

/** Publishes a sweep's counts as EMF metrics (one flush, every figure in it) and logs what needs a look. */
export function reportSweep(result: HealthSweep, metrics: Metrics, logger: Logger): void {
  metrics.addMetric('AgentsInitializing', MetricUnit.Count, result.counts.initializing);
  metrics.addMetric('AgentsHealthy', MetricUnit.Count, result.counts.healthy);
  metrics.addMetric('AgentsDegraded', MetricUnit.Count, result.counts.degraded);
  metrics.addMetric('AgentsUnhealthy', MetricUnit.Count, result.counts.unhealthy);
  metrics.addMetric('AgentsDraining', MetricUnit.Count, result.counts.draining);
  // Drained by an operator: counted apart, so one drained and forgotten shows.
  metrics.addMetric('AgentsDrained', MetricUnit.Count, result.counts.drained);
  metrics.addMetric('AgentsOffline', MetricUnit.Count, result.counts.offline);
  metrics.addMetric('AgentsPinged', MetricUnit.Count, result.pinged);
  metrics.addMetric('AgentPingFailures', MetricUnit.Count, result.failed.length);
  metrics.addMetric('AgentsMissing', MetricUnit.Count, result.missing.length);
  metrics.addMetric('AgentQueueDepth', MetricUnit.Count, result.queues.depth);
  metrics.addMetric('AgentDeadLetters', MetricUnit.Count, result.queues.deadLetters);
  metrics.publishStoredMetrics();
  if (result.offline.length > 0) logger.warn('agents offline', { agents: result.offline });
  if (result.missing.length > 0)
    logger.warn('deployed agents without a registry entry, pinged to re-register', {
      agents: result.missing,
    });
  if (result.failed.length > 0)
    logger.error('agents the monitor could not ping', { failed: result.failed });
  if (result.queues.failed.length > 0)
    logger.warn('agent queues the monitor could not read', { failed: result.queues.failed });
}

/** Scheduled entry (EventBridge Scheduler / rule): sweep, then publish the counts as EMF metrics. */
export async function handler(): Promise<HealthSweep> {
  registry ??= new AgentRegistry({ tableName: process.env.MOBIUS_REGISTRY_TABLE ?? '' });
  const result = await sweep(registry, { lambda: sharedLambdaClient(), sqs: sharedSqsClient() });
  reportSweep(result, metrics, logger);
  return result;
}
