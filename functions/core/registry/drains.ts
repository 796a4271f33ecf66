import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { DeleteCommand, GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
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
 * `AGENT#<agentId>`) holds the same mark, and registration copies it into an agent row it creates,
 * so the agent comes back drained, as the operator left it. Drain writes it; resume records on it
 * the mark it lifted (`liftedAt`); deregistration lifts the drain (or deletes the row).
 *
 * The agent row decides, the drain row follows it: a drain writes the agent row first and the drain
 * row second, and so does a resume, so a drain and a resume at once can reach the drain row in the
 * other order than they reached the agent row. Each write is therefore conditional on what the
 * agent row told its writer, and a later write never undoes a newer fact: a drain writes its mark
 * only over an older mark or none, and not once that mark (or a newer one) was lifted; a resume
 * lifts the mark it removed from the agent row only over an older mark or none, and never lowers
 * `liftedAt`; it leaves `liftedAt` behind even where the drain's write has not arrived yet, so that
 * write, when it comes, finds its mark lifted and writes nothing. A mark is the first drain's
 * instant (a second drain keeps it), so a drain after a resume mostly has a newer one; where it
 * does not — the same millisecond, two hosts' clocks apart, a drain request that reached the agent
 * row late or twice — its write finds its mark lifted while its agent row is drained, and the drain
 * moves the agent row's mark past the lifted one and writes again (operator-actions.ts). A row
 * whose mark is lifted is kept a day (`expiresAt`), long past any such race; then TTL takes it
 * (dynalite, locally, never does: the row is a few bytes).
 */
const drainRowSchema = z.object({
  agentId: z.string(),
  drainedAt: z.number().optional(),
  drainedBy: z.string().optional(),
  liftedAt: z.number().optional(),
});
export interface DrainRow {
  readonly agentId: string;
  readonly drainedAt: number;
  readonly drainedBy: string;
}

/** How long a drain row whose mark a resume lifted stays, for writes still on their way: a day. */
const LIFTED_RETENTION_SECONDS = 24 * 60 * 60;

/**
 * Records the drain the agent row now carries (the first drain's mark, which a drain keeps) —
 * unless the drain row holds a newer mark, or this mark or a newer one was lifted already: then
 * nothing. Resolves with the lifted mark that refused it when the drain row is left not drained
 * (this drain reached its agent row late, after a resume lifted a mark as new: the caller moves the
 * agent row's mark past it and writes again), else undefined.
 */
export async function keepDrain(
  store: RegistryStore,
  drain: DrainRow,
): Promise<number | undefined> {
  const update = new UpdateExpressionBuilder()
    .set('agentId', drain.agentId)
    .set('drainedAt', drain.drainedAt)
    .set('drainedBy', drain.drainedBy)
    .remove('expiresAt');
  const at = update.value(drain.drainedAt);
  const drainedAt = update.name('drainedAt');
  const liftedAt = update.name('liftedAt');
  update
    .condition(`attribute_not_exists(${drainedAt}) OR ${drainedAt} <= ${at}`)
    .condition(`attribute_not_exists(${liftedAt}) OR ${liftedAt} < ${at}`);
  if (await writeUnlessNewer(store, drain.agentId, update)) return undefined;
  const row = await readDrainRow(store, drain.agentId);
  if (row === undefined || standing(row) || row.liftedAt === undefined) return undefined;
  return row.liftedAt >= drain.drainedAt ? row.liftedAt : undefined;
}

/**
 * Records that a resume lifted the drain marked `drainedAt` from the agent row: unless the drain
 * row holds a newer mark (a drain that reached the agent row after this resume did), which stands,
 * or a mark as new was lifted already.
 */
export async function liftDrain(
  store: RegistryStore,
  agentId: string,
  drainedAt: number,
): Promise<void> {
  const update = new UpdateExpressionBuilder()
    .set('agentId', agentId)
    .set('liftedAt', drainedAt)
    .set('expiresAt', Math.floor(store.clock.now() / 1000) + LIFTED_RETENTION_SECONDS);
  const at = update.value(drainedAt);
  const marked = update.name('drainedAt');
  const lifted = update.name('liftedAt');
  update
    .condition(`attribute_not_exists(${marked}) OR ${marked} <= ${at}`)
    .condition(`attribute_not_exists(${lifted}) OR ${lifted} < ${at}`);
  await writeUnlessNewer(store, agentId, update);
}

/**
 * Forgets the agent's drain (deregistration), `drainedAt` being the mark its deleted agent row
 * held. A drained agent's drain is lifted, at that mark or now, whichever is later — a drain's write
 * still on its way finds it lifted. An agent not drained has any drain row deleted (a lifted one
 * left by an earlier resume, say). (A drain and a resume of it both still writing the drain row at
 * that moment could leave a drain behind: a three-way race this does not guard against.)
 */
export async function forgetDrain(
  store: RegistryStore,
  agentId: string,
  drainedAt: number | undefined,
): Promise<void> {
  if (drainedAt !== undefined) {
    await liftDrain(store, agentId, Math.max(drainedAt, store.clock.now()));
    return;
  }
  await store.client.send(
    new DeleteCommand({ TableName: store.tableName, Key: drainKey(agentId) }),
  );
}

/** Whether the write was made: false when a newer drain or resume got there first. */
async function writeUnlessNewer(
  store: RegistryStore,
  agentId: string,
  update: UpdateExpressionBuilder,
): Promise<boolean> {
  try {
    await store.client.send(
      new UpdateCommand({ TableName: store.tableName, Key: drainKey(agentId), ...update.build() }),
    );
    return true;
  } catch (error) {
    // What the newer writer wrote stands.
    if (error instanceof ConditionalCheckFailedException) return false;
    throw error;
  }
}

type StoredDrainRow = z.output<typeof drainRowSchema>;

async function readDrainRow(
  store: RegistryStore,
  agentId: string,
): Promise<StoredDrainRow | undefined> {
  const answer = await store.client.send(
    new GetCommand({ TableName: store.tableName, Key: drainKey(agentId), ConsistentRead: true }),
  );
  // (`?.`: test doubles of the client may answer nothing at all, which means no item too.)
  const item = answer?.Item;
  return item === undefined ? undefined : drainRowSchema.parse(item);
}

/** A drain stands: marked, and its mark not lifted. */
function standing(row: StoredDrainRow): row is StoredDrainRow & DrainRow {
  const { drainedAt, drainedBy, liftedAt } = row;
  return (
    drainedAt !== undefined &&
    drainedBy !== undefined &&
    (liftedAt === undefined || liftedAt < drainedAt)
  );
}

/** The agent's drain, if one stands: marked, and its mark not lifted. */
export async function readDrain(
  store: RegistryStore,
  agentId: string,
): Promise<DrainRow | undefined> {
  const row = await readDrainRow(store, agentId);
  if (row === undefined || !standing(row)) return undefined;
  return { agentId, drainedAt: row.drainedAt, drainedBy: row.drainedBy };
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
