import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { batchGetAll } from '../aws/dynamodb-batch.ts';
import type { Clock } from '../clock.ts';
import { NotFoundError } from '../errors.ts';
import type { AgentCard } from '../model/agent-card.ts';
import type { AgentMetrics, AgentStatus, CircuitView } from '../model/agent-status.ts';
import {
  type AgentLiveState,
  type AgentRow,
  agentLiveStateSchema,
  agentRowSchema,
  LIVE_STATE_ATTRIBUTES,
} from './agent-row.ts';
import { type BreakerSettings, circuitOf } from './breaker.ts';
import { deriveStatus, type HealthThresholds } from './health.ts';
import { metricsOf } from './metrics.ts';
import { agentKey } from './table.ts';

/** What every registry operation needs: where the table is, how to reach it, what time it is. */
export interface RegistryStore {
  readonly client: DynamoDBDocumentClient;
  readonly tableName: string;
  readonly clock: Clock;
  readonly breaker: BreakerSettings;
  readonly health: HealthThresholds;
}

/** What the registry says about one agent: its card plus everything derived at read time. */
export interface AgentRecord {
  readonly card: AgentCard;
  /** Who may change the card besides operators (see ownership.ts); absent: operators only. */
  readonly owner?: string;
  readonly status: AgentStatus;
  readonly metrics: AgentMetrics;
  readonly circuit: CircuitView;
  readonly registeredAt: string;
  readonly updatedAt: string;
  /** The heartbeat deadline; the agent reads as offline from this instant. */
  readonly expiresAt: string;
  /**
   * Who drained the agent and when (POST /agents/{id}/drain): what an operator weighs before
   * resuming it. Absent while it is not drained.
   */
  readonly drained?: DrainedBy;
}

/** The drain an operator put on an agent: when (ISO) and which principal. */
export interface DrainedBy {
  readonly at: string;
  readonly by: string;
}

export function notFound(agentId: string): NotFoundError {
  return new NotFoundError(`No agent is registered with id "${agentId}".`, { agentId });
}

export async function readAgentRow(
  store: RegistryStore,
  agentId: string,
): Promise<AgentRow | undefined> {
  const [item] = await batchGetAll(store.client, store.tableName, [agentKey(agentId)], {
    consistent: true,
  });
  return item === undefined ? undefined : agentRowSchema.parse(item);
}

/** The agent row without its card: what breaker and metrics decisions need. */
export async function readLiveState(
  store: RegistryStore,
  agentId: string,
): Promise<AgentLiveState | undefined> {
  const [item] = await batchGetAll(store.client, store.tableName, [agentKey(agentId)], {
    attributes: LIVE_STATE_ATTRIBUTES,
    consistent: true,
  });
  return item === undefined ? undefined : agentLiveStateSchema.parse(item);
}

export function toRecord(
  store: RegistryStore,
  row: AgentRow,
  now = store.clock.now(),
): AgentRecord {
  const circuit = circuitOf(row, now, store.breaker);
  const status = deriveStatus(row, circuit, now, store.health);
  return {
    card: row.card,
    ...(row.owner === undefined ? {} : { owner: row.owner }),
    status,
    metrics: metricsOf(row, now, status === 'offline', row.card.maxConcurrency),
    circuit: {
      state: circuit.state,
      consecutiveFailures: circuit.consecutiveFailures,
      openedAt: circuit.openedAt,
    },
    registeredAt: new Date(row.registeredAt).toISOString(),
    updatedAt: new Date(row.updatedAt).toISOString(),
    expiresAt: new Date(row.expiresAt * 1000).toISOString(),
    // A drain writes both attributes in one UpdateItem (operator-actions.ts).
    ...(row.drainedAt === undefined || row.drainedBy === undefined
      ? {}
      : { drained: { at: new Date(row.drainedAt).toISOString(), by: row.drainedBy } }),
  };
}
