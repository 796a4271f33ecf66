import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { DeleteCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import * as z from 'zod';
import { batchGetAll, batchWriteAll, pageOf } from '../aws/dynamodb-batch.ts';
import { UpdateExpressionBuilder } from '../aws/update-expression.ts';
import { ValidationError } from '../errors.ts';
import { type AgentCard, agentCardSchema, identifierSchema } from '../model/agent-card.ts';
import { agentStatusSchema, type CircuitView } from '../model/agent-status.ts';
import { type QueueFigures, queueFiguresSchema } from '../model/utilisation.ts';
import { parseWith } from '../validation.ts';
import { type AgentRow, agentRowSchema } from './agent-row.ts';
import type { CircuitDecision } from './breaker.ts';
import {
  type Deployment,
  forgetDeployment,
  listDeployments,
  recordDeployment,
} from './deployments.ts';
import type { DiscoveryMatch } from './discovery.ts';
import { forgetDrain } from './drains.ts';
import { capabilityRows, findAgents } from './find-agents.ts';
import {
  type DrainMark,
  drainAgent,
  type OperatorActionOptions,
  resetCircuit,
  resumeAgent,
} from './operator-actions.ts';
import { type OutcomeTally, recordOutcomes, tryAcquire } from './outcomes.ts';
import { type ChangeOptions, checkId, Registrar } from './registrar.ts';
import { type AgentRecord, notFound, readAgentRow, toRecord } from './store.ts';
import { agentKey, capabilityKey, REGISTRY_TABLE } from './table.ts';

export type { DrainMark, OperatorActionOptions } from './operator-actions.ts';
export type { Outcome, OutcomeTally } from './outcomes.ts';
export type { Caller } from './ownership.ts';
export {
  type AgentRegistryOptions,
  type ChangeOptions,
  type HeartbeatReport,
  heartbeatReportSchema,
  type RegisterOptions,
  type RegisterResult,
} from './registrar.ts';
export type { AgentRecord, DrainedBy } from './store.ts';

export const listFilterSchema = z.strictObject({
  status: agentStatusSchema.optional(),
  agentType: identifierSchema.optional(),
  capability: z.string().min(1).max(128).optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
  nextToken: z.string().min(1).max(2048).optional(),
});
export type ListFilter = z.input<typeof listFilterSchema>;

export interface AgentPage {
  readonly agents: AgentRecord[];
  readonly nextToken?: string;
}

/**
 * The agent registry on DynamoDB: the one implementation used by the Lambda handlers, the router
 * and the embedded runtime; the agent SDK uses the part of it that Registrar holds. See table.ts for
 * the key design and why no operation needs a transaction (which keeps it runnable on dynalite too).
 */
export class AgentRegistry extends Registrar {
  /** Graceful shutdown: removes the agent and its capability rows. Returns the removed record. */
  async deregister(agentId: string, options: ChangeOptions = {}): Promise<AgentRecord> {
    const id = checkId(agentId);
    const { caller } = options;
    // Only the owner's delete matches; the condition, not a read before it, decides.
    const owned =
      caller === undefined || caller.operator
        ? {}
        : {
            ConditionExpression: '#owner = :caller',
            ExpressionAttributeNames: { '#owner': 'owner' },
            ExpressionAttributeValues: { ':caller': caller.principal },
          };
    let Attributes: Record<string, unknown> | undefined;
    try {
      ({ Attributes } = await this.store.client.send(
        new DeleteCommand({
          TableName: this.store.tableName,
          Key: agentKey(id),
          ReturnValues: 'ALL_OLD',
          ...owned,
        }),
      ));
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException)
        throw await this.refusal(id, caller, 'deregister');
      throw error;
    }
    if (Attributes === undefined) throw notFound(id);
    const row = agentRowSchema.parse(Attributes);
    // Deregistering forgets the agent, an operator's drain of it included (drains.ts): first, so
    // that a registration racing this one finds as little of the drain as it can.
    await forgetDrain(this.store, id, row.drainedAt);
    await this.removeIndex(row.card);
    return toRecord(this.store, row);
  }

  /**
   * Deletes the capability rows of `card`. Called on deregistration, and by the TTL stream handler
   * when DynamoDB expires an agent row, so capability rows do not outlive their agent for long.
   */
  async removeIndex(card: AgentCard): Promise<void> {
    await batchWriteAll(
      this.store.client,
      this.store.tableName,
      card.capabilities.map((c) => ({
        DeleteRequest: { Key: capabilityKey(c.name, card.agentId, c.version) },
      })),
    );
  }

  /**
   * Remembers that a stack deployed `agentId` (the deploy-time custom resource calls this beside
   * register), so the health monitor keeps pinging it after its entry expires, and whose it stays
   * meanwhile (`owner`). Returns its card.
   */
  async recordDeployment(input: unknown, owner?: string): Promise<AgentCard> {
    const card = parseWith(agentCardSchema, input, 'agent card');
    await recordDeployment(this.store, card, owner);
    return card;
  }

  async forgetDeployment(agentId: string): Promise<void> {
    await forgetDeployment(this.store, checkId(agentId));
  }

  async deployments(): Promise<Deployment[]> {
    return listDeployments(this.store);
  }

  async get(agentId: string): Promise<AgentRecord> {
    const id = checkId(agentId);
    const row = await readAgentRow(this.store, id);
    if (row === undefined) throw notFound(id);
    return toRecord(this.store, row);
  }

  /** Several agents in one BatchGetItem (per 100); ids nobody registered are absent from the map. */
  async getMany(agentIds: readonly string[]): Promise<Map<string, AgentRecord>> {
    const ids = [...new Set(agentIds.map(checkId))];
    const items = await batchGetAll(this.store.client, this.store.tableName, ids.map(agentKey), {
      consistent: true,
    });
    const now = this.store.clock.now();
    return new Map(
      items.map((item) => {
        const row = agentRowSchema.parse(item);
        return [row.agentId, toRecord(this.store, row, now)];
      }),
    );
  }

  /**
   * Lists agents with their status derived at read time. By type: a Query on the `byType` index;
   * all agents: a Scan of that sparse index (agent rows only); by capability: the capability
   * partition. `status` filters after derivation, so a page may hold fewer than `limit` agents.
   */
  async list(input: ListFilter = {}): Promise<AgentPage> {
    const filter = parseWith(listFilterSchema, input, 'agent list filter');
    const { client, tableName } = this.store;
    let rows: AgentRow[];
    let nextToken: string | undefined;

    if (filter.capability !== undefined) {
      if (filter.nextToken !== undefined) {
        throw new ValidationError('agent list filter', [
          {
            path: 'nextToken',
            message: 'listings by capability are not paginated; omit nextToken',
          },
        ]);
      }
      const ids = [
        ...new Set((await capabilityRows(this.store, filter.capability)).map((r) => r.agentId)),
      ];
      rows = (await batchGetAll(client, tableName, ids.map(agentKey)))
        .map((item) => agentRowSchema.parse(item))
        .filter((row) => filter.agentType === undefined || row.agentType === filter.agentType)
        .sort((a, b) => a.agentId.localeCompare(b.agentId))
        .slice(0, filter.limit);
    } else {
      const index = REGISTRY_TABLE.byTypeIndex;
      const base = { TableName: tableName, IndexName: index.name, Limit: filter.limit };
      const page =
        filter.agentType === undefined
          ? await pageOf(client, base, 'scan', filter.nextToken)
          : await pageOf(
              client,
              {
                ...base,
                KeyConditionExpression: '#t = :t',
                ExpressionAttributeNames: { '#t': index.partitionKey },
                ExpressionAttributeValues: { ':t': filter.agentType },
              },
              'query',
              filter.nextToken,
            );
      rows = page.items.map((item) => agentRowSchema.parse(item));
      nextToken = page.nextToken;
    }

    const now = this.store.clock.now();
    const agents = rows
      .map((row) => toRecord(this.store, row, now))
      .filter((record) => filter.status === undefined || record.status === filter.status);
    return nextToken === undefined ? { agents } : { agents, nextToken };
  }

  /**
   * Stores an agent's queue figures without touching its liveness: the health monitor's write for
   * an agent that cannot heartbeat them itself (offline), whose growing queue is what an operator
   * most needs to see. Live agents get theirs through the ping and store them in their heartbeat.
   */
  async recordQueue(agentId: string, input: QueueFigures): Promise<void> {
    const id = checkId(agentId);
    const figures = parseWith(queueFiguresSchema, input, 'queue figures');
    const update = new UpdateExpressionBuilder().set('queue', figures);
    update.condition('attribute_exists(pk)');
    try {
      await this.store.client.send(
        new UpdateCommand({
          TableName: this.store.tableName,
          Key: agentKey(id),
          ...update.build(),
        }),
      );
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) throw notFound(id);
      throw error;
    }
  }

  /** Records several outcomes of one agent in one write (see OutcomeRecorder). */
  recordOutcomes(agentId: string, tally: OutcomeTally): Promise<CircuitDecision> {
    return recordOutcomes(this.store, checkId(agentId), tally);
  }

  /** May a request go to the agent now? Claims the half-open probe when that is what it takes. */
  tryAcquire(agentId: string): Promise<boolean> {
    return tryAcquire(this.store, checkId(agentId));
  }

  /**
   * Operators only: the agent takes no new work until resumed, and finishes what it has; heartbeats
   * do not undo it. Again on a drained agent: the first drain's mark stands (see operator-actions.ts).
   */
  drain(agentId: string, options: OperatorActionOptions): Promise<DrainMark> {
    return drainAgent(this.store, checkId(agentId), options);
  }

  /** Operators only: lifts a drain; the record returned has the status derived afterwards. */
  resume(agentId: string, options: OperatorActionOptions): Promise<AgentRecord> {
    return resumeAgent(this.store, checkId(agentId), options);
  }

  /** Operators only: closes the agent's circuit breaker and clears its failure count. */
  resetCircuit(agentId: string, options: OperatorActionOptions): Promise<CircuitView> {
    return resetCircuit(this.store, checkId(agentId), options);
  }

  /** Capability discovery: exact, fuzzy, semver ranges, all-of; ranked (see discovery.ts). */
  discover(query: unknown): Promise<DiscoveryMatch[]> {
    return findAgents(this.store, query);
  }
}
