/**
 * The registry's single-table design. The CDK construct and the emulator bootstrap both build the
 * table from this description, so the two can never drift.
 *
 * Item kinds (pk / sk):
 *   agent row       AGENT#<agentId> / AGENT                 card, liveness, metrics, circuit breaker
 *   capability row  CAP#<capability> / AGENT#<agentId>#<ver> one per capability an agent declares
 *   catalog row     CATALOG / CAP#<capability>               every capability name ever declared
 *   deployment row  DEPLOYED / AGENT#<agentId>               an agent a stack deployed (no TTL)
 *   drain row       DRAINED / AGENT#<agentId>                an operator's drain (drains.ts)
 *
 * Discovery of one capability is a Query on the capability partition `CAP#<name>` (an inverted
 * index kept in the base table, so reads can be strongly consistent and no GSI is needed), followed
 * by one BatchGetItem of the matching agent rows for their live state. Capability rows carry the
 * `cardHash` of the card that wrote them; rows whose hash no longer matches the agent row are stale
 * and ignored, which is what makes the multi-item writes safe without transactions.
 *
 * The sparse `byType` index (only agent rows have `typeKey`) serves list-by-type as a Query and
 * list-all as a Scan that touches agent rows only.
 *
 * The table's stream carries old images: the TTL clean-up (functions/monitor/registry-stream.ts)
 * needs the card of an agent row TTL removed, to delete its capability rows.
 */
export const REGISTRY_TABLE = {
  partitionKey: 'pk',
  sortKey: 'sk',
  ttlAttribute: 'expiresAt',
  byTypeIndex: { name: 'byType', partitionKey: 'typeKey', sortKey: 'agentId' },
  streamViewType: 'OLD_IMAGE',
} as const;

// A type alias (not an interface) so it is assignable to the SDK's Record<string, unknown> keys.
export type ItemKey = {
  readonly pk: string;
  readonly sk: string;
};

export const agentKey = (agentId: string): ItemKey => ({ pk: `AGENT#${agentId}`, sk: 'AGENT' });

export const capabilityPartition = (capability: string): string => `CAP#${capability}`;

export const capabilityKey = (capability: string, agentId: string, version: string): ItemKey => ({
  pk: capabilityPartition(capability),
  sk: `AGENT#${agentId}#${version}`,
});

export const CATALOG_PARTITION = 'CATALOG';

export const catalogKey = (capability: string): ItemKey => ({
  pk: CATALOG_PARTITION,
  sk: `CAP#${capability}`,
});

export const DEPLOYED_PARTITION = 'DEPLOYED';

export const deploymentKey = (agentId: string): ItemKey => ({
  pk: DEPLOYED_PARTITION,
  sk: `AGENT#${agentId}`,
});

export const DRAINED_PARTITION = 'DRAINED';

export const drainKey = (agentId: string): ItemKey => ({
  pk: DRAINED_PARTITION,
  sk: `AGENT#${agentId}`,
});

/** The idempotency table of the agent SDK (Powertools' DynamoDBPersistenceLayer defaults). */
export const IDEMPOTENCY_TABLE = {
  partitionKey: 'id',
  ttlAttribute: 'expiration',
} as const;
