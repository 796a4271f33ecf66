import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { type DynamoDBDocumentClient, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import * as z from 'zod';
import { sharedDocumentClient } from '../aws/dynamodb.ts';
import { batchWriteAll } from '../aws/dynamodb-batch.ts';
import { UpdateExpressionBuilder } from '../aws/update-expression.ts';
import { contentHash } from '../canonical-json.ts';
import { type Clock, systemClock } from '../clock.ts';
import { ConflictError, ForbiddenError } from '../errors.ts';
import {
  type AgentCard,
  agentCardSchema,
  agentCardSchemaUnder,
  type EndpointPolicy,
  identifierSchema,
} from '../model/agent-card.ts';
import { reportedStatusSchema } from '../model/agent-status.ts';
import { queueFiguresSchema, utilisationReportSchema } from '../model/utilisation.ts';
import { parseWith } from '../validation.ts';
import { type AgentRow, agentRowSchema, capabilityRowsOf } from './agent-row.ts';
import { type BreakerSettings, type CircuitDecision, DEFAULT_BREAKER_SETTINGS } from './breaker.ts';
import { markCrashed } from './crashes.ts';
import { readDeployment } from './deployments.ts';
import { restoreDrain } from './drains.ts';
import { DEFAULT_HEALTH_THRESHOLDS, type HealthThresholds } from './health.ts';
import { windowIndex } from './metrics.ts';
import { type Outcome, recordOutcomes, tallyOf } from './outcomes.ts';
import { assertMayChange, type Caller, forbidden, mayChange } from './ownership.ts';
import { type AgentRecord, notFound, type RegistryStore, readAgentRow, toRecord } from './store.ts';
import { agentKey, capabilityKey, catalogKey } from './table.ts';

export interface AgentRegistryOptions {
  readonly tableName: string;
  /** Defaults to the process-wide client, configured from the standard AWS environment. */
  readonly client?: DynamoDBDocumentClient;
  readonly clock?: Clock;
  readonly breaker?: Partial<BreakerSettings>;
  readonly health?: Partial<HealthThresholds>;
  /**
   * Where registered cards may point (see EndpointPolicy). Set where untrusted callers register
   * cards (the API); absent, cards pass the schema's checks only (the agent SDK and the deploy-time
   * registration write endpoints the stack created).
   */
  readonly endpointPolicy?: EndpointPolicy;
}

export interface RegisterOptions {
  /** Replace a different card already registered under the id (same agent type). */
  readonly update?: boolean;
  /**
   * Who registers. A new card is theirs; an existing one may be registered again or updated only
   * by its owner or an operator (ForbiddenError otherwise). Absent: code with the table's IAM
   * grants (see Caller), which no ownership check applies to.
   */
  readonly caller?: Caller;
  /**
   * The owner to record instead of the caller's principal, on create and on update: the
   * deploy-time registration records the stack. Only trusted code sets it.
   */
  readonly owner?: string;
}

/** Who is asking, for operations that change one agent (heartbeat, deregister). */
export interface ChangeOptions {
  /** Checked against the card's owner (see RegisterOptions.caller); absent: trusted code. */
  readonly caller?: Caller;
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
  /** Handler durations, memory, queue wait, as the agent measures them (replace the last ones). */
  utilisation: utilisationReportSchema.optional(),
  /** Its queue's figures, which the health monitor's ping carried (replace the last ones). */
  queue: queueFiguresSchema.optional(),
});
export type HeartbeatReport = z.input<typeof heartbeatReportSchema>;

/** Concurrent registrations of one id with different cards retry this often before giving up. */
const MAX_REGISTER_RACES = 8;

const agentIdParam = z.strictObject({ agentId: identifierSchema });

/**
 * The registrar: what an agent does with the registry about itself — registers its card, heartbeats,
 * records the outcomes of its work. The agent SDK needs no more, and importing no more keeps
 * discovery, fuzzy matching and listing (and semver's range classes) out of every agent's bundle.
 * AgentRegistry extends it with everything else.
 */
export class Registrar {
  protected readonly store: RegistryStore;
  readonly #cardSchema: typeof agentCardSchema;
  /**
   * Where cards registered here may point, when the registry was given a policy: POST
   * /agents/import reads its A2A part (the host allow-list, the proxy) from it.
   */
  readonly endpointPolicy: EndpointPolicy | undefined;

  constructor(options: AgentRegistryOptions) {
    this.endpointPolicy = options.endpointPolicy;
    this.#cardSchema =
      options.endpointPolicy === undefined
        ? agentCardSchema
        : agentCardSchemaUnder(options.endpointPolicy);
    this.store = {
      tableName: options.tableName,
      client: options.client ?? sharedDocumentClient(),
      clock: options.clock ?? systemClock,
      breaker: { ...DEFAULT_BREAKER_SETTINGS, ...options.breaker },
      health: { ...DEFAULT_HEALTH_THRESHOLDS, ...options.health },
    };
  }

  get tableName(): string {
    return this.store.tableName;
  }

  /**
   * Registers a card. The same id with an identical card is idempotent ('unchanged'); with a
   * different card it is a ConflictError unless `update` is set and the agent type is unchanged.
   * The agent row is the commit point: capability rows are written after it and validated against
   * its `cardHash` on read, so a crash between the two writes leaves nothing visible that is wrong,
   * and registering again repairs it.
   */
  async register(input: unknown, options: RegisterOptions = {}): Promise<RegisterResult> {
    const card = parseWith(this.#cardSchema, input, 'agent card');
    const cardHash = contentHash(card);
    const { client, tableName } = this.store;
    const owner = options.owner ?? options.caller?.principal;
    // A deployed agent's id stays its stack's while its row is gone (expired, deregistered): the
    // deployment row, which has no TTL, says whose it is. One read, for callers that are not
    // operators only — the agents' own registrations and the deploy pass no caller.
    const { caller } = options;
    // An a2a endpoint has the coordinator call a URL of its own accord (the A2A proxy, the health
    // monitor's pings): which remote agents it calls is the operators' decision, as POST
    // /agents/import is theirs (docs/security.md). The allow-list bounds where; this, who.
    if (caller !== undefined && !caller.operator && card.endpoint.a2a !== undefined)
      throw new ForbiddenError(
        `${caller.principal} may not register agent ${card.agentId} with an a2a endpoint: only ` +
          'operators may have Mobius call a remote A2A agent (POST /agents/import, or POST /agents ' +
          'as an operator).',
        { agentId: card.agentId, action: 'register an A2A endpoint', caller: caller.principal },
      );
    if (caller !== undefined && !caller.operator) {
      const deployment = await readDeployment(this.store, card.agentId);
      if (deployment !== undefined && !mayChange(deployment.owner, caller))
        throw forbidden(card.agentId, deployment.owner, caller, 'register');
    }

    for (let attempt = 0; attempt < MAX_REGISTER_RACES; attempt++) {
      const row = newAgentRow(card, cardHash, this.store.clock.now(), owner);
      try {
        await client.send(
          new PutCommand({
            TableName: tableName,
            Item: { ...agentKey(card.agentId), typeKey: card.agentType, ...row },
            ConditionExpression: 'attribute_not_exists(pk)',
          }),
        );
        // A new row, where an expired one may have carried an operator's drain: it stands.
        const created = await restoreDrain(this.store, row);
        await this.#writeIndex(card, cardHash, undefined);
        return { outcome: 'created', record: toRecord(this.store, created) };
      } catch (error) {
        if (!(error instanceof ConditionalCheckFailedException)) throw error;
      }

      const existing = await readAgentRow(this.store, card.agentId);
      if (existing === undefined) continue; // deregistered between our two calls: try again
      const same = existing.cardHash === cardHash;
      // Before anything else: whether the card differs is none of a stranger's business.
      if (options.caller !== undefined)
        assertMayChange(card.agentId, existing.owner, options.caller, same ? 'register' : 'update');
      const claims = options.owner !== undefined && options.owner !== existing.owner;
      if (same && !claims) {
        await this.#writeIndex(card, cardHash, undefined);
        return { outcome: 'unchanged', record: toRecord(this.store, existing) };
      }
      if (!same) assertUpdatable(existing, card, options.update === true);

      const update = new UpdateExpressionBuilder()
        .set('card', card)
        .set('cardHash', cardHash)
        .set('updatedAt', same ? existing.updatedAt : row.updatedAt)
        .set('hbIntervalSec', row.hbIntervalSec)
        .set('hbTimeoutSec', row.hbTimeoutSec);
      if (claims) update.set('owner', options.owner);
      update.condition(`${update.name('cardHash')} = ${update.value(existing.cardHash)}`);
      // The ownership decided above must still hold when the write lands.
      update.condition(
        existing.owner === undefined
          ? `attribute_not_exists(${update.name('owner')})`
          : `${update.name('owner')} = ${update.value(existing.owner)}`,
      );
      try {
        const { Attributes } = await client.send(
          new UpdateCommand({
            TableName: tableName,
            Key: agentKey(card.agentId),
            ...update.build(),
            ReturnValues: 'ALL_NEW',
          }),
        );
        if (same) {
          await this.#writeIndex(card, cardHash, undefined);
          return {
            outcome: 'unchanged',
            record: toRecord(this.store, agentRowSchema.parse(Attributes)),
          };
        }
        await this.#indexUpdate(card, cardHash, existing.card);
        return {
          outcome: 'updated',
          record: toRecord(this.store, agentRowSchema.parse(Attributes)),
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

  /**
   * Refreshes liveness: `expiresAt` (the TTL attribute) becomes now + the agent's heartbeat
   * timeout, computed inside the UpdateExpression so no read is needed.
   */
  async heartbeat(
    agentId: string,
    input: HeartbeatReport = {},
    options: ChangeOptions = {},
  ): Promise<AgentRecord> {
    const id = checkId(agentId);
    const report = parseWith(heartbeatReportSchema, input, 'heartbeat');
    const now = this.store.clock.now();
    const update = new UpdateExpressionBuilder().set('lastHeartbeatAt', now);
    update.setExpression(
      'expiresAt',
      `${update.value(Math.ceil(now / 1000))} + ${update.name('hbTimeoutSec')}`,
    );
    if (report.inFlight !== undefined) update.set('inFlight', report.inFlight);
    if (report.startedAt !== undefined) update.set('startedAt', report.startedAt);
    // In the heartbeat's own write: utilisation costs no write of its own.
    if (report.utilisation !== undefined) update.set('util', report.utilisation);
    if (report.queue !== undefined) update.set('queue', report.queue);
    // A heartbeat without a status withdraws an earlier complaint.
    if (report.status === undefined) update.remove('reportedStatus');
    else update.set('reportedStatus', report.status);
    update.condition('attribute_exists(pk)');
    const { caller } = options;
    if (caller !== undefined && !caller.operator)
      update.condition(`${update.name('owner')} = ${update.value(caller.principal)}`);
    try {
      const { Attributes } = await this.store.client.send(
        new UpdateCommand({
          TableName: this.store.tableName,
          Key: agentKey(id),
          ...update.build(),
          ReturnValues: 'ALL_NEW',
        }),
      );
      return toRecord(this.store, agentRowSchema.parse(Attributes), now);
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException)
        throw await this.refusal(id, caller, 'heartbeat');
      throw error;
    }
  }

  /**
   * Why a conditional write on agent `id` failed: it does not exist (NotFoundError), or `caller`
   * does not own it (ForbiddenError). Read after the fact, so the write path costs no extra read.
   */
  protected async refusal(id: string, caller: Caller | undefined, action: string): Promise<Error> {
    const row = await readAgentRow(this.store, id);
    if (row !== undefined && caller !== undefined && !mayChange(row.owner, caller))
      return forbidden(id, row.owner, caller, action);
    return notFound(id);
  }

  /** Records a request's outcome in the agent's metrics and circuit breaker (see outcomes.ts). */
  recordOutcome(agentId: string, outcome: Outcome): Promise<CircuitDecision> {
    return recordOutcomes(this.store, checkId(agentId), tallyOf(outcome));
  }

  /** Marks the agent unhealthy after a crash at `atMs`, unless it heartbeated since (see crashes.ts). */
  markCrashed(agentId: string, atMs: number): Promise<boolean> {
    return markCrashed(this.store, checkId(agentId), atMs);
  }

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
      const current = await readAgentRow(this.store, card.agentId);
      if (current === undefined || current.cardHash === contentHash(indexed)) return;
      await this.#writeIndex(current.card, current.cardHash, indexed);
      indexed = current.card;
    }
  }

  /** Capability rows and catalog names for `card`; rows only `previous` had are deleted. */
  async #writeIndex(
    card: AgentCard,
    cardHash: string,
    previous: AgentCard | undefined,
  ): Promise<void> {
    const rows = capabilityRowsOf(card, cardHash);
    const keep = new Set(card.capabilities.map((c) => `${c.name}@${c.version}`));
    const stale = (previous?.capabilities ?? []).filter((c) => !keep.has(`${c.name}@${c.version}`));
    await batchWriteAll(this.store.client, this.store.tableName, [
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

/** The agent id, validated: a ValidationError names it otherwise. */
export function checkId(agentId: string): string {
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

function newAgentRow(
  card: AgentCard,
  cardHash: string,
  now: number,
  owner: string | undefined,
): AgentRow {
  return {
    agentId: card.agentId,
    agentType: card.agentType,
    card,
    cardHash,
    ...(owner === undefined ? {} : { owner }),
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
