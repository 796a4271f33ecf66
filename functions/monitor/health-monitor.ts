import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { InvokeCommand, type LambdaClient } from '@aws-sdk/client-lambda';
import { SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { sharedLambdaClient } from '../core/aws/lambda.ts';
import { sharedSqsClient } from '../core/aws/sqs.ts';
import { metricsNamespace } from '../core/metrics-namespace.ts';
import type { AgentEndpoint } from '../core/model/agent-card.ts';
import type { AgentStatus } from '../core/model/agent-status.ts';
import { PING_KIND } from '../core/model/task.ts';
import { type AgentRecord, AgentRegistry } from '../core/registry/agent-registry.ts';

export interface HealthSweep {
  readonly counts: Readonly<Record<AgentStatus, number>>;
  readonly pinged: number;
  /** Agents whose heartbeat expired: the registry already reports them offline. */
  readonly offline: readonly string[];
  /** Pings that could not be sent (e.g. an agent registered by hand that the monitor may not reach). */
  readonly failed: readonly { readonly agentId: string; readonly reason: string }[];
  /** Deployed agents with no registry entry (expired and deleted): pinged so they register again. */
  readonly missing: readonly string[];
}

/**
 * One sweep of the health monitor: every agent is pinged (its Lambda asynchronously, or its
 * queue) so it heartbeats and re-registers if it must, and the fleet's health is counted. Agents
 * already offline are pinged too: a ping is how a recovered agent comes back. Staleness needs no
 * write: every read derives `offline` from the heartbeat's age, and TTL later deletes the row. One
 * agent the monitor cannot reach never stops the sweep: its failure is counted and reported.
 */
export async function sweep(
  registry: AgentRegistry,
  clients: { lambda: LambdaClient; sqs: SQSClient },
): Promise<HealthSweep> {
  const counts: Record<AgentStatus, number> = {
    initializing: 0,
    healthy: 0,
    degraded: 0,
    unhealthy: 0,
    offline: 0,
  };
  const offline: string[] = [];
  const failed: { agentId: string; reason: string }[] = [];
  let pinged = 0;
  const ping = JSON.stringify({ kind: PING_KIND });
  const seen = new Set<string>();
  const pingOne = async (agentId: string, endpoint: AgentEndpoint) => {
    const { lambdaArn, queueUrl } = endpoint;
    try {
      if (lambdaArn) {
        await clients.lambda.send(
          new InvokeCommand({
            FunctionName: lambdaArn,
            InvocationType: 'Event',
            Payload: Buffer.from(ping),
          }),
        );
      } else if (queueUrl && !queueUrl.endsWith('.fifo')) {
        await clients.sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: ping }));
      } else {
        return;
      }
      pinged++;
    } catch (error) {
      const reason = `${(error as Error).name}: ${(error as Error).message}`;
      failed.push({ agentId, reason });
    }
  };
  let nextToken: string | undefined;
  for (let page = 0; page < 1000; page++) {
    const result = await registry.list({ limit: 100, ...(nextToken ? { nextToken } : {}) });
    await Promise.all(
      result.agents.map(async (agent: AgentRecord) => {
        seen.add(agent.card.agentId);
        counts[agent.status]++;
        if (agent.status === 'offline') offline.push(agent.card.agentId);
        await pingOne(agent.card.agentId, agent.card.endpoint);
      }),
    );
    nextToken = result.nextToken;
    if (nextToken === undefined) break;
  }
  const missing = (await registry.deployments()).filter((d) => !seen.has(d.agentId));
  await Promise.all(missing.map((d) => pingOne(d.agentId, d.endpoint)));
  return { counts, pinged, offline, failed, missing: missing.map((d) => d.agentId) };
}

const logger = new Logger({ serviceName: 'mobius-health-monitor' });
const metrics = new Metrics({
  namespace: metricsNamespace(),
  serviceName: 'mobius-health-monitor',
});
let registry: AgentRegistry | undefined;

/** Publishes a sweep's counts as EMF metrics (one flush, every figure in it) and logs what needs a look. */
export function reportSweep(result: HealthSweep, metrics: Metrics, logger: Logger): void {
  metrics.addMetric('AgentsHealthy', MetricUnit.Count, result.counts.healthy);
  metrics.addMetric('AgentsDegraded', MetricUnit.Count, result.counts.degraded);
  metrics.addMetric('AgentsUnhealthy', MetricUnit.Count, result.counts.unhealthy);
  metrics.addMetric('AgentsOffline', MetricUnit.Count, result.counts.offline);
  metrics.addMetric('AgentsPinged', MetricUnit.Count, result.pinged);
  metrics.addMetric('AgentPingFailures', MetricUnit.Count, result.failed.length);
  metrics.addMetric('AgentsMissing', MetricUnit.Count, result.missing.length);
  metrics.publishStoredMetrics();
  if (result.offline.length > 0) logger.warn('agents offline', { agents: result.offline });
  if (result.missing.length > 0)
    logger.warn('deployed agents without a registry entry, pinged to re-register', {
      agents: result.missing,
    });
  if (result.failed.length > 0)
    logger.error('agents the monitor could not ping', { failed: result.failed });
}

/** Scheduled entry (EventBridge Scheduler / rule): sweep, then publish the counts as EMF metrics. */
export async function handler(): Promise<HealthSweep> {
  registry ??= new AgentRegistry({ tableName: process.env.MOBIUS_REGISTRY_TABLE ?? '' });
  const result = await sweep(registry, { lambda: sharedLambdaClient(), sqs: sharedSqsClient() });
  reportSweep(result, metrics, logger);
  return result;
}
