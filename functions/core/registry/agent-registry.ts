import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import {
  DeleteCommand,
  type DynamoDBDocumentClient,
  PutCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import * as z from 'zod';
import { sharedDocumentClient } from '../aws/dynamodb.ts';
import { batchGetAll, batchWriteAll, pageOf } from '../aws/dynamodb-batch.ts';
import { UpdateExpressionBuilder } from '../aws/update-expression.ts';
import { contentHash } from '../canonical-json.ts';
import { type Clock, systemClock } from '../clock.ts';
import { ConflictError, ValidationError } from '../errors.ts';
import { type AgentCard, agentCardSchema, identifierSchema } from '../model/agent-card.ts';
import { agentStatusSchema, reportedStatusSchema } from '../model/agent-status.ts';
import { parseWith } from '../validation.ts';
import { type AgentRow, agentRowSchema, capabilityRowsOf } from './agent-row.ts';
import { type BreakerSettings, type CircuitDecision, DEFAULT_BREAKER_SETTINGS } from './breaker.ts';
import {
  type Deployment,
  forgetDeployment,
  listDeployments,
  recordDeployment,
} from './deployments.ts';
import type { DiscoveryMatch } from './discovery.ts';
import { capabilityRows, findAgents } from './find-agents.ts';
import { DEFAULT_HEALTH_THRESHOLDS, type HealthThresholds } from './health.ts';
import { windowIndex } from './metrics.ts';
import {
  type Outcome,
  type OutcomeTally,
  recordOutcomes,
  tallyOf,
  tryAcquire,
} from './outcomes.ts';
import { type AgentRecord, notFound, type RegistryStore, readAgentRow, toRecord } from './store.ts';
import { agentKey, capabilityKey, catalogKey, REGISTRY_TABLE } from './table.ts';

export type { Outcome, OutcomeTally } from './outcomes.ts';
export type { AgentRecord } from './store.ts';

export interface AgentRegistryOptions {
  readonly tableName: string;
  /** Defaults to the process-wide client, configured from the standard AWS environment. */
  readonly client?: DynamoDBDocumentClient;
  readonly clock?: Clock;
  readonly breaker?: Partial<BreakerSettings>;
  readonly health?: Partial<HealthThresholds>;
}

export interface RegisterResult {
  /** created: new agent · unchanged: identical card already registered · updated: explicit update applied. */
  readonly outcome: 'created' | 'unchanged' | 'updated';
  readonly record: AgentRecord;
}

export const heartbeatReportSchema = z.strictObject({
  /** The agent's own view; the registry combines it with heartbeat age and metrics. */
  status: reportedStatusSchema.optional(),
  inFlight: z.int().min(0).max(1_000_000).optional(),
  /** When the agent's current process started (epoch ms), for uptime. */
  startedAt: z.int().min(0).optional(),
});
export type HeartbeatReport = z.input<typeof heartbeatReportSchema>;

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

/** Concurrent registrations of one id with different cards retry this often before giving up. */
const MAX_REGISTER_RACES = 8;

const agentIdParam = z.strictObject({ agentId: identifierSchema });

/**
 * The agent registry on DynamoDB: the one implementation used by the Lambda handlers, the agent
 * SDK, the router and the embedded runtime. See table.ts for the key design and why no operation
 * needs a transaction (which keeps it runnable on dynalite too).
 */
export class AgentRegistry {
  readonly #store: RegistryStore;

  constructor(options: AgentRegistryOptions) {
    this.#store = {
      tableName: options.tableName,
      client: options.client ?? sharedDocumentClient(),
      clock: options.clock ?? systemClock,
      breaker: { ...DEFAULT_BREAKER_SETTINGS, ...options.breaker },
      health: { ...DEFAULT_HEALTH_THRESHOLDS, ...options.health },
    };
  }

  get tableName(): string {
    return this.#store.tableName;
  }

  /**
   * Registers a card. The same id with an identical card is idempotent ('unchanged'); with a
   * different card it is a ConflictError unless `update` is set and the agent type is unchanged.
   * The agent row is the commit point: capability rows are written after it and validated against
   * its `cardHash` on read, so a crash between the two writes leaves nothing visible that is wrong,
   * and registering again repairs it.
   */
  async register(input: unknown, options: { update?: boolean } = {}): Promise<RegisterResult> {
    const card = parseWith(agentCardSchema, input, 'agent card');
    const cardHash = contentHash(card);
    const { client, tableName } = this.#store;

    for (let attempt = 0; attempt < MAX_REGISTER_RACES; attempt++) {
      const row = newAgentRow(card, cardHash, this.#store.clock.now());
      try {
        await client.send(
          new PutCommand({
            TableName: tableName,
            Item: { ...agentKey(card.agentId), typeKey: card.agentType, ...row },
            ConditionExpression: 'attribute_not_exists(pk)',
          }),
        );
        await this.#writeIndex(card, cardHash, undefined);
        return { outcome: 'created', record: toRecord(this.#store, row) };
      } catch (error) {
        if (!(error instanceof ConditionalCheckFailedException)) throw error;
      }

      const existing = await readAgentRow(this.#store, card.agentId);
      if (existing === undefined) continue; // deregistered between our two calls: try again
      if (existing.cardHash === cardHash) {
        await this.#writeIndex(card, cardHash, undefined);
        return { outcome: 'unchanged', record: toRecord(this.#store, existing) };
      }
      assertUpdatable(existing, card, options.update === true);

      const update = new UpdateExpressionBuilder()
        .set('card', card)
        .set('cardHash', cardHash)
        .set('updatedAt', row.updatedAt)
        .set('hbIntervalSec', row.hbIntervalSec)
        .set('hbTimeoutSec', row.hbTimeoutSec);
      update.condition(`${update.name('cardHash')} = ${update.value(existing.cardHash)}`);
      try {
        const { Attributes } = await client.send(
          new UpdateCommand({
            TableName: tableName,
            Key: agentKey(card.agentId),
            ...update.build(),
            ReturnValues: 'ALL_NEW',
          }),
        );
        await this.#indexUpdate(card, cardHash, existing.card);
        return {
          outcome: 'updated',
          record: toRecord(this.#store, agentRowSchema.parse(Attributes)),
        };
      } catch (error) {
        if (!(error instanceof ConditionalCheckFailedException)) throw error;
        // another update won the race; decide again against what it wrote
      }
    }
    throw new ConflictError(
      `Agent ${card.agentId} is being registered concurrently with different cards; retry the request.`,
      { agentId: card.agentId },
    );
  }

  /** Graceful shutdown: removes the agent and its capability rows. Returns the removed record. */
  async deregister(agentId: string): Promise<AgentRecord> {
    const id = checkId(agentId);
    const { Attributes } = await this.#store.client.send(
      new DeleteCommand({
        TableName: this.#store.tableName,
        Key: agentKey(id),
        ReturnValues: 'ALL_OLD',
      }),
    );
    if (Attributes === undefined) throw notFound(id);
    const row = agentRowSchema.parse(Attributes);
    await this.removeIndex(row.card);
    return toRecord(this.#store, row);
  }

  /**
   * Deletes the capability rows of `card`. Called on deregistration, and by the TTL stream handler
   * when DynamoDB expires an agent row, so capability rows do not outlive their agent for long.
   */
  async removeIndex(card: AgentCard): Promise<void> {
    await batchWriteAll(
      this.#store.client,
      this.#store.tableName,
      card.capabilities.map((c) => ({
        DeleteRequest: { Key: capabilityKey(c.name, card.agentId, c.version) },
      })),
    );
  }

  /**
   * Remembers that a stack deployed `agentId` (the deploy-time custom resource calls this beside
   * register), so the health monitor keeps pinging it after its entry expires. Returns its card.
   */
  async recordDeployment(input: unknown): Promise<AgentCard> {
    const card = parseWith(agentCardSchema, input, 'agent card');
    await recordDeployment(this.#store, card);
    return card;
  }

  async forgetDeployment(agentId: string): Promise<void> {
    await forgetDeployment(this.#store, checkId(agentId));
  }

  async deployments(): Promise<Deployment[]> {
    return listDeployments(this.#store);
  }

  async get(agentId: string): Promise<AgentRecord> {
    const id = checkId(agentId);
    const row = await readAgentRow(this.#store, id);
    if (row === undefined) throw notFound(id);
    return toRecord(this.#store, row);
  }

  /** Several agents in one BatchGetItem (per 100); ids nobody registered are absent from the map. */
  async getMany(agentIds: readonly string[]): Promise<Map<string, AgentRecord>> {
    const ids = [...new Set(agentIds.map(checkId))];
    const items = await batchGetAll(this.#store.client, this.#store.tableName, ids.map(agentKey), {
      consistent: true,
    });
    const now = this.#store.clock.now();
    return new Map(
      items.map((item) => {
        const row = agentRowSchema.parse(item);
        return [row.agentId, toRecord(this.#store, row, now)];
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
    const { client, tableName } = this.#store;
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
        ...new Set((await capabilityRows(this.#store, filter.capability)).map((r) => r.agentId)),
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

    const now = this.#store.clock.now();
    const agents = rows
      .map((row) => toRecord(this.#store, row, now))
      .filter((record) => filter.status === undefined || record.status === filter.status);
    return nextToken === undefined ? { agents } : { agents, nextToken };
  }

  /**
   * Refreshes liveness: `expiresAt` (the TTL attribute) becomes now + the agent's heartbeat
   * timeout, computed inside the UpdateExpression so no read is needed.
   */
  async heartbeat(agentId: string, input: HeartbeatReport = {}): Promise<AgentRecord> {
    const id = checkId(agentId);
    const report = parseWith(heartbeatReportSchema, input, 'heartbeat');
    const now = this.#store.clock.now();
    const update = new UpdateExpressionBuilder().set('lastHeartbeatAt', now);
    update.setExpression(
      'expiresAt',
      `${update.value(Math.ceil(now / 1000))} + ${update.name('hbTimeoutSec')}`,
    );
    if (report.inFlight !== undefined) update.set('inFlight', report.inFlight);
    if (report.startedAt !== undefined) update.set('startedAt', report.startedAt);
    // A heartbeat without a status withdraws an earlier complaint.
    if (report.status === undefined) update.remove('reportedStatus');
    else update.set('reportedStatus', report.status);
    update.condition('attribute_exists(pk)');
    try {
      const { Attributes } = await this.#store.client.send(
        new UpdateCommand({
          TableName: this.#store.tableName,
          Key: agentKey(id),
          ...update.build(),
          ReturnValues: 'ALL_NEW',
        }),
      );
      return toRecord(this.#store, agentRowSchema.parse(Attributes), now);
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) throw notFound(id);
      throw error;
    }
  }

  /** Records a request's outcome in the agent's metrics and circuit breaker (see outcomes.ts). */
  recordOutcome(agentId: string, outcome: Outcome): Promise<CircuitDecision> {
    return recordOutcomes(this.#store, checkId(agentId), tallyOf(outcome));
  }

  /** Records several outcomes of one agent in one write (see OutcomeRecorder). */
  recordOutcomes(agentId: string, tally: OutcomeTally): Promise<CircuitDecision> {
    return recordOutcomes(this.#store, checkId(agentId), tally);
  }

  /** May a request go to the agent now? Claims the half-open probe when that is what it takes. */
  tryAcquire(agentId: string): Promise<boolean> {
    return tryAcquire(this.#store, checkId(agentId));
  }

  /** Capability discovery: exact, fuzzy, semver ranges, all-of; ranked (see discovery.ts). */
  discover(query: unknown): Promise<DiscoveryMatch[]> {
    return findAgents(this.#store, query);
  }

  /** Capability rows and catalog names for `card`; rows only `previous` had are deleted. */
  /**
   * Indexes an updated card, then makes sure the index matches the card the agent row holds: a
   * concurrent update may have committed after this one yet indexed before it, and this call's
   * writes would then have overwritten or deleted its rows. Whoever indexes last sees the final
   * row and re-indexes it, so concurrent updates leave the index of the card that won.
   */
  async #indexUpdate(card: AgentCard, cardHash: string, previous: AgentCard): Promise<void> {
    await this.#writeIndex(card, cardHash, previous);
    let indexed = card;
    for (let attempt = 0; attempt < MAX_REGISTER_RACES; attempt++) {
      const current = await readAgentRow(this.#store, card.agentId);
      if (current === undefined || current.cardHash === contentHash(indexed)) return;
      await this.#writeIndex(current.card, current.cardHash, indexed);
      indexed = current.card;
    }
  }

  async #writeIndex(
    card: AgentCard,
    cardHash: string,
    previous: AgentCard | undefined,
  ): Promise<void> {
    const rows = capabilityRowsOf(card, cardHash);
    const keep = new Set(card.capabilities.map((c) => `${c.name}@${c.version}`));
    const stale = (previous?.capabilities ?? []).filter((c) => !keep.has(`${c.name}@${c.version}`));
    await batchWriteAll(this.#store.client, this.#store.tableName, [
      ...rows.map((row) => ({
        PutRequest: {
          Item: {
            ...capabilityKey(row.capability.name, row.agentId, row.capability.version),
            ...row,
          },
        },
      })),
      ...[...new Set(card.capabilities.map((c) => c.name))].map((name) => ({
        PutRequest: { Item: { ...catalogKey(name), name } },
      })),
      ...stale.map((c) => ({
        DeleteRequest: { Key: capabilityKey(c.name, card.agentId, c.version) },
      })),
    ]);
  }
}

function checkId(agentId: string): string {
  return parseWith(agentIdParam, { agentId }, 'agent id').agentId;
}

function assertUpdatable(existing: AgentRow, card: AgentCard, update: boolean): void {
  if (!update) {
    throw new ConflictError(
      `Agent ${card.agentId} is already registered with a different card. Send the new card as an ` +
        'update (POST /agents?update=true) from the same agent type, or deregister the agent first.',
      { agentId: card.agentId },
    );
  }
  if (existing.agentType !== card.agentType) {
    throw new ConflictError(
      `Agent ${card.agentId} is registered as type "${existing.agentType}"; an update must keep the ` +
        `agent type (got "${card.agentType}"). Deregister it to change its type.`,
      { agentId: card.agentId, registeredType: existing.agentType, requestedType: card.agentType },
    );
  }
}

function newAgentRow(card: AgentCard, cardHash: string, now: number): AgentRow {
  return {
    agentId: card.agentId,
    agentType: card.agentType,
    card,
    cardHash,
    registeredAt: now,
    updatedAt: now,
    hbIntervalSec: card.healthCheck.heartbeatIntervalSeconds,
    hbTimeoutSec: card.healthCheck.heartbeatTimeoutSeconds,
    // Until its first heartbeat the agent is 'initializing'; it must beat within its timeout.
    expiresAt: Math.ceil(now / 1000) + card.healthCheck.heartbeatTimeoutSeconds,
    inFlight: 0,
    reqTotal: 0,
    errTotal: 0,
    latTotal: 0,
    win: windowIndex(now),
    winReq: 0,
    winErr: 0,
    winLat: 0,
    prevReq: 0,
    prevErr: 0,
    prevLat: 0,
    brState: 'closed',
    brFailures: 0,
  };
}
