import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { DeleteCommand, GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import * as z from 'zod';
import { UpdateExpressionBuilder } from '../aws/update-expression.ts';
import { type AgentRow, agentRowSchema } from './agent-row.ts';
import type { RegistryStore } from './store.ts';
import { agentKey, drainKey } from './table.ts';

/**
 * An operator's drain, kept where TTL does not reach it. The agent row carries the mark that reads
 * use (`drainedAt`, `drainedBy`: no read of its own for discovery, planning or routing), but that
 * row expires: DynamoDB's TTL deletes it some time after the agent stopped heartbeating, which is
 * what happens to an agent drained for maintenance and stopped. The drain row (`DRAINED` /
 * `AGENT#<agentId>`, no `expiresAt`) holds the same mark, and registration copies it into an agent
 * row it creates, so the agent comes back drained, as the operator left it. Drain writes it,
 * resume and deregistration remove it.
 */
const drainRowSchema = z.object({
  agentId: z.string(),
  drainedAt: z.number(),
  drainedBy: z.string(),
});
export type DrainRow = z.output<typeof drainRowSchema>;

/** Records the drain the agent row now carries (the first drain's mark, which a drain keeps). */
export async function keepDrain(store: RegistryStore, drain: DrainRow): Promise<void> {
  await store.client.send(
    new PutCommand({
      TableName: store.tableName,
      Item: { ...drainKey(drain.agentId), ...drain },
    }),
  );
}

/** Forgets the agent's drain (resume, deregistration); none is no error. */
export async function forgetDrain(store: RegistryStore, agentId: string): Promise<void> {
  await store.client.send(
    new DeleteCommand({ TableName: store.tableName, Key: drainKey(agentId) }),
  );
}

export async function readDrain(
  store: RegistryStore,
  agentId: string,
): Promise<DrainRow | undefined> {
  const answer = await store.client.send(
    new GetCommand({ TableName: store.tableName, Key: drainKey(agentId), ConsistentRead: true }),
  );
  // (`?.`: test doubles of the client may answer nothing at all, which means no item too.)
  const item = answer?.Item;
  return item === undefined ? undefined : drainRowSchema.parse(item);
}

/**
 * Puts an operator's drain back on an agent row registration has just created (the previous row
 * expired, or the agent was never drained and nothing happens): one read of the drain row, and one
 * UpdateItem only when there is a drain to restore. Only creations pay the read; registering an
 * existing row, heartbeats and every read path pay nothing. Returns the row as it now stands, or
 * `created` unchanged when there was no drain (or the row is gone again).
 */
export async function restoreDrain(store: RegistryStore, created: AgentRow): Promise<AgentRow> {
  const drain = await readDrain(store, created.agentId);
  if (drain === undefined) return created;
  const update = new UpdateExpressionBuilder();
  // A drain that reached the new row meanwhile is at least as recent: it stands.
  for (const [attribute, value] of [
    ['drainedAt', drain.drainedAt],
    ['drainedBy', drain.drainedBy],
  ] as const) {
    update.setExpression(
      attribute,
      `if_not_exists(${update.name(attribute)}, ${update.value(value)})`,
    );
  }
  update.condition('attribute_exists(pk)');
  try {
    const { Attributes } = await store.client.send(
      new UpdateCommand({
        TableName: store.tableName,
        Key: agentKey(created.agentId),
        ...update.build(),
        ReturnValues: 'ALL_NEW',
      }),
    );
    return agentRowSchema.parse(Attributes);
  } catch (error) {
    // Deregistered between the two writes: there is no row to drain, and the caller's record of
    // what it created is all there is to answer.
    if (error instanceof ConditionalCheckFailedException) return created;
    throw error;
  }
}
