import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
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
 * the mark it lifted (`liftedAt`); deregistration lifts whatever stands.
 *
 * The agent row decides, the drain row follows it: a drain writes the agent row first and the drain
 * row second, and so does a resume, so a drain and a resume at once can reach the drain row in the
 * other order than they reached the agent row. Each write is therefore conditional on what the
 * agent row told its writer, and a later write never undoes a newer fact: a drain writes its mark
 * only over an older mark or none, and not once that mark (or a newer one) was lifted; a resume
 * lifts the mark it removed from the agent row only over an older mark or none, and never lowers
 * `liftedAt`; it leaves `liftedAt` behind even where the drain's write has not arrived yet, so that
 * write, when it comes, finds its mark lifted and writes nothing. A mark is the first drain's
 * instant (a second drain keeps it), so a drain after a resume has a newer one — unless both fall
 * in the same millisecond, or within the clocks' skew of two hosts, which this order cannot tell
 * apart. A row whose mark is lifted is kept a day (`expiresAt`), long past any such race; then TTL
 * takes it (dynalite, locally, never does: the row is a few bytes).
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
 * unless the drain row holds a newer mark, or this mark or a newer one was lifted already (a
 * resume that reached the agent row after this drain did): then nothing.
 */
export async function keepDrain(store: RegistryStore, drain: DrainRow): Promise<void> {
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
  await writeUnlessNewer(store, drain.agentId, update);
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
 * Forgets the agent's drain (deregistration): lifts whatever drain stands now, so that a drain's
 * write still on its way, whose mark is older, finds it lifted; none is no error.
 */
export async function forgetDrain(store: RegistryStore, agentId: string): Promise<void> {
  await liftDrain(store, agentId, store.clock.now());
}

async function writeUnlessNewer(
  store: RegistryStore,
  agentId: string,
  update: UpdateExpressionBuilder,
): Promise<void> {
  try {
    await store.client.send(
      new UpdateCommand({ TableName: store.tableName, Key: drainKey(agentId), ...update.build() }),
    );
  } catch (error) {
    // A newer drain or resume got there first: what it wrote stands.
    if (error instanceof ConditionalCheckFailedException) return;
    throw error;
  }
}

/** The agent's drain, if one stands: marked, and its mark not lifted. */
export async function readDrain(
  store: RegistryStore,
  agentId: string,
): Promise<DrainRow | undefined> {
  const answer = await store.client.send(
    new GetCommand({ TableName: store.tableName, Key: drainKey(agentId), ConsistentRead: true }),
  );
  // (`?.`: test doubles of the client may answer nothing at all, which means no item too.)
  const item = answer?.Item;
  if (item === undefined) return undefined;
  const { drainedAt, drainedBy, liftedAt } = drainRowSchema.parse(item);
  if (drainedAt === undefined || drainedBy === undefined) return undefined;
  if (liftedAt !== undefined && liftedAt >= drainedAt) return undefined;
  return { agentId, drainedAt, drainedBy };
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
