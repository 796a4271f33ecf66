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
 * the mark it lifted (`liftedAt`); deregistration lifts it.
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
 * row late or twice — its write finds a mark as new as its own (lifted, or standing with its
 * resume still writing) while its agent row is drained, and the drain moves the agent row's mark
 * past that one and writes again (operator-actions.ts). A row whose mark is lifted is kept a day
 * (`expiresAt`), long past any such race; then TTL takes it (dynalite, locally, never does: the
 * row is a few bytes).
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
 * nothing, and it resolves with the newest mark the drain row holds (this drain reached its agent
 * row late, after another drain or a resume: the caller moves the agent row's mark past it and
 * writes again); undefined once written.
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
  // Refused by a mark as new or newer, lifted or not: a standing one may be lifted by a resume
  // still on its way, so the caller moves past it either way (only while its agent row holds this
  // drain's mark: a drain that reached its row on time is never moved).
  const row = await readDrainRow(store, drain.agentId);
  const newest = Math.max(row?.drainedAt ?? -1, row?.liftedAt ?? -1);
  return newest >= drain.drainedAt ? newest : undefined;
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
  await lift(store, agentId, drainedAt, false);
}

/**
 * Forgets the agent's drain (deregistration), `drainedAt` being the mark its deleted agent row
 * held: lifted at that mark or now, whichever is later, so that a drain's write still on its way
 * finds it lifted. An agent not drained has its drain row, if it has one, lifted the same way (a
 * resume's lift may have come before the drain's own write); none is created for it.
 */
export async function forgetDrain(
  store: RegistryStore,
  agentId: string,
  drainedAt: number | undefined,
): Promise<void> {
  await lift(store, agentId, Math.max(drainedAt ?? 0, store.clock.now()), drainedAt === undefined);
}

async function lift(
  store: RegistryStore,
  agentId: string,
  mark: number,
  onlyExisting: boolean,
): Promise<void> {
  const update = new UpdateExpressionBuilder()
    .set('agentId', agentId)
    .set('liftedAt', mark)
    .set('expiresAt', Math.floor(store.clock.now() / 1000) + LIFTED_RETENTION_SECONDS);
  const at = update.value(mark);
  const marked = update.name('drainedAt');
  const lifted = update.name('liftedAt');
  update
    .condition(`attribute_not_exists(${marked}) OR ${marked} <= ${at}`)
    .condition(`attribute_not_exists(${lifted}) OR ${lifted} < ${at}`);
  if (onlyExisting) update.condition(`attribute_exists(${update.name('pk')})`);
  await writeUnlessNewer(store, agentId, update);
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
