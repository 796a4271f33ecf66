import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { UpdateExpressionBuilder } from '../aws/update-expression.ts';
import { ForbiddenError } from '../errors.ts';
import type { CircuitView } from '../model/agent-status.ts';
import { type AgentRow, agentRowSchema } from './agent-row.ts';
import { circuitOf } from './breaker.ts';
import { keepDrain, liftDrain } from './drains.ts';
import type { Caller } from './ownership.ts';
import { type AgentRecord, notFound, type RegistryStore, toRecord } from './store.ts';
import { agentKey } from './table.ts';

/** Who performs an operator action: an operator (ForbiddenError otherwise). */
export interface OperatorActionOptions {
  /** Trusted code acting as the operator passes LOCAL_OPERATOR, as the embedded runtime does. */
  readonly caller: Caller;
}

/** What a drain left on the agent row. */
export interface DrainMark {
  readonly agentId: string;
  readonly status: 'drained';
  /** When the agent was first drained (a second drain keeps it). */
  readonly drainedAt: string;
  /** The principal that first drained it. */
  readonly drainedBy: string;
}

/**
 * Drains the agent: it reads as `drained` (see health.ts), so planning passes it over, discovery's
 * default query leaves it out and the router refuses new messages to it, while the work it has in
 * flight finishes. The mark is attributes of its own (`drainedAt`, `drainedBy`) that heartbeats and
 * registrations never write, so neither the agent's pings nor its restart undo it, and a drain row
 * TTL does not reach keeps it for the row a registration creates after this one expired
 * (drains.ts): only resume (or deregistration) lifts it. Idempotent: draining a drained agent keeps
 * the first mark (`if_not_exists`, in the same UpdateItem, so two operators draining at once agree
 * on one).
 */
export async function drainAgent(
  store: RegistryStore,
  agentId: string,
  options: OperatorActionOptions,
): Promise<DrainMark> {
  operatorOnly(agentId, options.caller, 'drain');
  const update = new UpdateExpressionBuilder();
  const keepFirst = (attribute: string, value: unknown) =>
    update.setExpression(
      attribute,
      `if_not_exists(${update.name(attribute)}, ${update.value(value)})`,
    );
  keepFirst('drainedAt', store.clock.now());
  keepFirst('drainedBy', options.caller.principal);
  const row = await updateExisting(store, agentId, update);
  if (row.drainedAt === undefined || row.drainedBy === undefined)
    throw new Error(`the drain of ${agentId} left no mark on its row`);
  // The agent row expires when the agent stops heartbeating (stopped for maintenance, say); the
  // drain row keeps the mark for the row its next registration creates (drains.ts).
  let mark = row.drainedAt;
  for (let write = 1; ; write++) {
    const newer = await keepDrain(store, { agentId, drainedAt: mark, drainedBy: row.drainedBy });
    if (newer === undefined || write === MAX_DRAIN_WRITES) break;
    // This drain reached the agent row late (a slow or retried request, its instant taken before
    // another drain or a resume wrote a mark as new): its mark moves past that one, if the agent
    // row still holds it, and is written again. If the row changed meanwhile, its writer keeps the
    // drain row.
    const next = Math.max(store.clock.now(), newer + 1);
    if (!(await remark(store, agentId, mark, next))) break;
    mark = next;
  }
  return {
    agentId,
    status: 'drained',
    drainedAt: new Date(mark).toISOString(),
    drainedBy: row.drainedBy,
  };
}

/** Writes of the drain row one drain makes at most (each retry needs another writer to lose to). */
const MAX_DRAIN_WRITES = 3;

/**
 * Moves the agent row's drain mark from `from` to `to`; false when the row holds neither any more.
 * (`to` already there is the SDK's retry of this same update, whose first answer was lost.)
 */
async function remark(
  store: RegistryStore,
  agentId: string,
  from: number,
  to: number,
): Promise<boolean> {
  const update = new UpdateExpressionBuilder().set('drainedAt', to);
  const marked = update.name('drainedAt');
  update.condition(`${marked} = ${update.value(from)} OR ${marked} = ${update.value(to)}`);
  try {
    await store.client.send(
      new UpdateCommand({ TableName: store.tableName, Key: agentKey(agentId), ...update.build() }),
    );
    return true;
  } catch (error) {
    if (error instanceof ConditionalCheckFailedException) return false;
    throw error;
  }
}

/**
 * Lifts a drain: the agent's status is derived again from its heartbeat, reports and breaker (the
 * record returned says which). Resuming an agent that is not drained changes nothing; an agent that
 * is stopping of its own accord (`draining`) stays so until it starts again.
 */
export async function resumeAgent(
  store: RegistryStore,
  agentId: string,
  options: OperatorActionOptions,
): Promise<AgentRecord> {
  operatorOnly(agentId, options.caller, 'resume');
  const update = new UpdateExpressionBuilder().remove('drainedAt').remove('drainedBy');
  // The row as it was: the mark this resume lifts, which the drain row is told of.
  const {
    drainedAt,
    drainedBy: _,
    ...row
  } = await updateExisting(store, agentId, update, 'ALL_OLD');
  // After the row, so resuming an unknown agent stays a 404 that changes nothing. Resuming an
  // agent that is not drained lifts nothing and writes nothing more.
  if (drainedAt !== undefined) await liftDrain(store, agentId, drainedAt);
  return toRecord(store, row);
}

/**
 * Closes the agent's circuit breaker at once: closed, no consecutive failures, no open or probe
 * instant (the attributes outcomes.ts keeps). Work goes to the agent again without waiting out the
 * cool-down and a probe; failures after the reset count afresh toward the threshold. The agent's
 * metrics are left alone: a recent error rate high enough still reads as unhealthy until the
 * window moves on (see health.ts).
 */
export async function resetCircuit(
  store: RegistryStore,
  agentId: string,
  options: OperatorActionOptions,
): Promise<CircuitView> {
  operatorOnly(agentId, options.caller, 'reset the circuit breaker of');
  const update = new UpdateExpressionBuilder()
    .set('brState', 'closed')
    .set('brFailures', 0)
    .remove('brOpenedAt')
    .remove('brProbeAt');
  const row = await updateExisting(store, agentId, update);
  const { state, consecutiveFailures, openedAt } = circuitOf(row, store.clock.now(), store.breaker);
  return { state, consecutiveFailures, openedAt };
}

function operatorOnly(agentId: string, caller: Caller, action: string): void {
  if (!caller.operator) {
    throw new ForbiddenError(
      `${caller.principal} may not ${action} agent ${agentId}: only operators may.`,
      { agentId, action, caller: caller.principal },
    );
  }
}

/**
 * UpdateItem on the agent row, only if it exists (NotFoundError otherwise), returning the row as
 * written (or, with `ALL_OLD`, as it was): one conditional write, no read before it, so nothing
 * another writer does in between is lost.
 */
async function updateExisting(
  store: RegistryStore,
  agentId: string,
  update: UpdateExpressionBuilder,
  returnValues: 'ALL_NEW' | 'ALL_OLD' = 'ALL_NEW',
): Promise<AgentRow> {
  update.condition('attribute_exists(pk)');
  try {
    const { Attributes } = await store.client.send(
      new UpdateCommand({
        TableName: store.tableName,
        Key: agentKey(agentId),
        ...update.build(),
        ReturnValues: returnValues,
      }),
    );
    return agentRowSchema.parse(Attributes);
  } catch (error) {
    if (error instanceof ConditionalCheckFailedException) throw notFound(agentId);
    throw error;
  }
}
