import * as z from 'zod';
import { batchGetAll, queryAll } from '../aws/dynamodb-batch.ts';
import { parseWith } from '../validation.ts';
import {
  type AgentLiveState,
  agentLiveStateSchema,
  type CapabilityRow,
  capabilityRowSchema,
  LIVE_STATE_ATTRIBUTES,
} from './agent-row.ts';
import { circuitOf } from './breaker.ts';
import {
  buildMatch,
  type CapabilitySelector,
  compareMatches,
  type DiscoveryMatch,
  discoveryQuerySchema,
  matchingAll,
  selectorScore,
} from './discovery.ts';
import { fuzzyScore } from './fuzzy.ts';
import { deriveStatus } from './health.ts';
import type { RegistryStore } from './store.ts';
import { agentKey, CATALOG_PARTITION, capabilityPartition } from './table.ts';

interface ScoredRow {
  readonly row: CapabilityRow;
  readonly score: number;
}

/**
 * Finds agents for a discovery query (see discovery.ts for the query and the ranking).
 * DynamoDB cost: one Query per exact selector; for fuzzy selectors one Query of the catalog
 * partition plus one Query per catalog name that scores high enough; then one BatchGetItem per
 * 100 candidate agents to read their live state (heartbeat, metrics, breaker).
 */
export async function findAgents(store: RegistryStore, input: unknown): Promise<DiscoveryMatch[]> {
  const query = parseWith(discoveryQuerySchema, input, 'discovery query');
  const now = store.clock.now();
  const catalog = query.selectors.some((s) => s.match === 'fuzzy') ? await catalogNames(store) : [];
  const perSelector = await Promise.all(query.selectors.map((s) => scoredRows(store, s, catalog)));

  // Agents holding every selector (and of the requested type), before paying for their live state.
  let candidates = new Set(perSelector[0]?.map(({ row }) => row.agentId));
  for (const rows of perSelector) {
    const holders = new Set(
      rows
        .filter(({ row }) => query.agentType === undefined || row.agentType === query.agentType)
        .map(({ row }) => row.agentId),
    );
    candidates = new Set([...candidates].filter((id) => holders.has(id)));
  }
  if (candidates.size === 0) return [];

  const states = new Map<string, AgentLiveState>();
  const items = await batchGetAll(store.client, store.tableName, [...candidates].map(agentKey), {
    attributes: LIVE_STATE_ATTRIBUTES,
  });
  for (const item of items) {
    const state = agentLiveStateSchema.parse(item);
    states.set(state.agentId, state);
  }

  // Only capability rows written by the card the agent row holds now are valid; others are stale.
  const valid = perSelector.map((rows) =>
    rows.filter(({ row }) => states.get(row.agentId)?.cardHash === row.cardHash),
  );
  const matchedByAgent = matchingAll(
    query.selectors,
    valid.map((rows) =>
      rows.map(({ row, score }) => ({ agentId: row.agentId, capability: row.capability, score })),
    ),
  );
  const rowByAgent = new Map(valid.flat().map(({ row }) => [row.agentId, row]));

  const matches: DiscoveryMatch[] = [];
  for (const [agentId, state] of states) {
    const row = rowByAgent.get(agentId);
    const matched = matchedByAgent.get(agentId);
    if (row === undefined || matched === undefined) continue;
    const circuit = circuitOf(state, now, store.breaker);
    if (!circuit.acceptsRequests) continue;
    const status = deriveStatus(state, circuit, now, store.health);
    if (!query.statuses.includes(status)) continue;
    matches.push(
      buildMatch(row, matched, {
        status,
        load:
          row.maxConcurrency === undefined ? state.inFlight : state.inFlight / row.maxConcurrency,
        circuit: circuit.state,
      }),
    );
  }
  return matches.sort(compareMatches).slice(0, query.limit);
}

/** Every capability row under `CAP#<name>`: one Query (paginated past 1 MB). */
export async function capabilityRows(store: RegistryStore, name: string): Promise<CapabilityRow[]> {
  const items = await queryAll(store.client, {
    TableName: store.tableName,
    KeyConditionExpression: 'pk = :pk',
    ExpressionAttributeValues: { ':pk': capabilityPartition(name) },
  });
  return items.map((item) => capabilityRowSchema.parse(item));
}

const catalogRowSchema = z.object({ name: z.string() });

async function catalogNames(store: RegistryStore): Promise<string[]> {
  const items = await queryAll(store.client, {
    TableName: store.tableName,
    KeyConditionExpression: 'pk = :pk',
    ExpressionAttributeValues: { ':pk': CATALOG_PARTITION },
    ProjectionExpression: '#n',
    ExpressionAttributeNames: { '#n': 'name' },
  });
  return items.map((item) => catalogRowSchema.parse(item).name);
}

/** Capability rows matching one selector, each with its score (version range already applied). */
async function scoredRows(
  store: RegistryStore,
  selector: CapabilitySelector,
  catalog: readonly string[],
): Promise<ScoredRow[]> {
  const names =
    selector.match === 'exact'
      ? [selector.name]
      : catalog.filter((name) => fuzzyScore(selector.name, name) >= selector.minScore);
  const rows = (await Promise.all(names.map((name) => capabilityRows(store, name)))).flat();
  return rows.flatMap((row) => {
    const score = selectorScore(selector, row.capability.name, row.capability.version);
    return score === null ? [] : [{ row, score }];
  });
}
