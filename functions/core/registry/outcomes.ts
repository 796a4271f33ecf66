import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { UpdateExpressionBuilder } from '../aws/update-expression.ts';
import { type AgentLiveState, agentLiveStateSchema } from './agent-row.ts';
import { type CircuitDecision, circuitOf } from './breaker.ts';
import { windowIndex } from './metrics.ts';
import { notFound, type RegistryStore, readLiveState } from './store.ts';
import { agentKey } from './table.ts';

export interface Outcome {
  readonly ok: boolean;
  readonly latencyMs: number;
  /**
   * The message had been delivered before (SQS `ApproximateReceiveCount` > 1). Its failure counts
   * in the metrics but not against the breaker: a message that fails again and again is that
   * message's problem, which the dead-letter queue deals with, not a sign of the agent's health.
   * Redeliveries would otherwise let one poison message open the breaker of an agent that handles
   * everything else. @default false
   */
  readonly redelivered?: boolean;
}

/**
 * Several outcomes of one agent, in the order they happened, summed: what a coalescing recorder
 * flushes in one write. Build it with withOutcome (one fold, used by every recorder).
 */
export interface OutcomeTally {
  readonly requests: number;
  readonly errors: number;
  /** Total latency of the requests. */
  readonly latencyMs: number;
  /**
   * The trailing run of failures the breaker counts: those after the tally's last success (all of
   * them when it holds no success).
   */
  readonly trailingFailures: number;
  /**
   * Whether the tally holds a success the breaker counts. With one, the consecutive-failure count
   * restarts at `trailingFailures`; without, `trailingFailures` are added to the count so far.
   */
  readonly succeeded: boolean;
}

export const EMPTY_TALLY: OutcomeTally = {
  requests: 0,
  errors: 0,
  latencyMs: 0,
  trailingFailures: 0,
  succeeded: false,
};

/** `tally` followed by `outcome`. */
export function withOutcome(tally: OutcomeTally, outcome: Outcome): OutcomeTally {
  const countedFailure = !outcome.ok && outcome.redelivered !== true;
  return {
    requests: tally.requests + 1,
    errors: tally.errors + (outcome.ok ? 0 : 1),
    latencyMs: tally.latencyMs + outcome.latencyMs,
    trailingFailures: outcome.ok ? 0 : tally.trailingFailures + (countedFailure ? 1 : 0),
    succeeded: tally.succeeded || outcome.ok,
  };
}

export const tallyOf = (outcome: Outcome): OutcomeTally => withOutcome(EMPTY_TALLY, outcome);

/**
 * What a tally says about the agent's health, for a half-open breaker: its last outcome the breaker
 * counts failed or succeeded; undefined when it holds none (only failures of redelivered messages).
 */
function verdictOf(tally: OutcomeTally): 'failed' | 'ok' | undefined {
  if (tally.trailingFailures > 0) return 'failed';
  return tally.succeeded ? 'ok' : undefined;
}

/** Optimistic-concurrency loops give up after this many lost races (each one means progress elsewhere). */
const MAX_RACES = 8;

/**
 * Records outcomes (one, or a tally of several): atomic ADDs on the lifetime and windowed
 * counters; the breaker's consecutive-failure count becomes the trailing run of failures (SET to
 * it when the tally holds a success, ADDed to the stored count when it holds only failures, so
 * [fail, ok, fail] leaves 1 and [fail, fail] on top of 3 leaves 5), each in the same UpdateItem;
 * then any breaker transition the new counts call for, as a conditional write. No increment is
 * lost under concurrent callers.
 */
export async function recordOutcomes(
  store: RegistryStore,
  agentId: string,
  tally: OutcomeTally,
): Promise<CircuitDecision> {
  const now = store.clock.now();
  const latency = Math.max(0, Math.round(tally.latencyMs));
  const { requests, errors } = tally;
  let window = windowIndex(now);

  const counters = (update: UpdateExpressionBuilder, includeWindow: boolean) => {
    update.add('reqTotal', requests).add('errTotal', errors).add('latTotal', latency);
    if (includeWindow) update.add('winReq', requests).add('winErr', errors).add('winLat', latency);
    if (tally.succeeded) update.set('brFailures', tally.trailingFailures);
    else if (tally.trailingFailures > 0) update.add('brFailures', tally.trailingFailures);
    return update;
  };

  for (let attempt = 0; attempt < MAX_RACES; attempt++) {
    const update = counters(new UpdateExpressionBuilder(), true);
    update.condition(`attribute_exists(pk) AND ${update.name('win')} = ${update.value(window)}`);
    const updated = await conditionalUpdate(store, agentId, update);
    if (updated !== undefined) return settleCircuit(store, updated, verdictOf(tally), now);

    // The row is missing, or its window is not ours. Roll the window over, guarded by the exact
    // counter values read, so an increment that races with the rollover makes it retry.
    const current = await readLiveState(store, agentId);
    if (current === undefined) throw notFound(agentId);
    if (current.win >= window) {
      window = current.win; // another writer (perhaps with a clock ahead of ours) moved on
      continue;
    }
    const adjacent = current.win === window - 1;
    const rollover = counters(new UpdateExpressionBuilder(), false)
      .set('win', window)
      .set('winReq', requests)
      .set('winErr', errors)
      .set('winLat', latency)
      .set('prevReq', adjacent ? current.winReq : 0)
      .set('prevErr', adjacent ? current.winErr : 0)
      .set('prevLat', adjacent ? current.winLat : 0);
    for (const attribute of ['win', 'winReq', 'winErr', 'winLat'] as const) {
      rollover.condition(`${rollover.name(attribute)} = ${rollover.value(current[attribute])}`);
    }
    const rolled = await conditionalUpdate(store, agentId, rollover);
    if (rolled !== undefined) return settleCircuit(store, rolled, verdictOf(tally), now);
  }
  throw new Error(`recordOutcomes for ${agentId} lost ${MAX_RACES} races in a row`);
}

/**
 * Asks the breaker whether a request may go to `agentId` now. Closed: yes. Open and cooling down:
 * no. Cool-down over: exactly one caller wins the half-open probe (a conditional write); the
 * others are told no until the probe reports through recordOutcome.
 */
export async function tryAcquire(store: RegistryStore, agentId: string): Promise<boolean> {
  const now = store.clock.now();
  const live = await readLiveState(store, agentId);
  if (live === undefined) throw notFound(agentId);
  const circuit = circuitOf(live, now, store.breaker);
  if (!circuit.acceptsRequests) return false;
  if (!circuit.needsProbe) return true;

  const update = new UpdateExpressionBuilder().set('brState', 'half_open').set('brProbeAt', now);
  const state = update.name('brState');
  const cutoff = update.value(now - store.breaker.cooldownMs);
  update.condition(
    `(${state} = ${update.value('open')} AND ${update.name('brOpenedAt')} <= ${cutoff}) OR ` +
      `(${state} = ${update.value('half_open')} AND ${update.name('brProbeAt')} <= ${cutoff})`,
  );
  return (await conditionalUpdate(store, agentId, update)) !== undefined;
}

/**
 * Applies the breaker transition, if any, that freshly updated counters call for. An outcome
 * reported once the cool-down is over is the probe's verdict whether or not its caller claimed the
 * probe (tryAcquire): coordinations and queue-delivered messages report without claiming, and must
 * close (or re-open) the breaker all the same. Outcomes while it cools down change no state (the
 * count still follows them: successes meanwhile restart it, so it no longer says why the breaker
 * opened), and a tally without a verdict changes nothing.
 */
async function settleCircuit(
  store: RegistryStore,
  state: AgentLiveState,
  verdict: 'failed' | 'ok' | undefined,
  now: number,
): Promise<CircuitDecision> {
  const circuit = circuitOf(state, now, store.breaker);
  let next: AgentLiveState | undefined;
  if (verdict === undefined) return circuit;
  const ok = verdict === 'ok';
  if (!ok && state.brState === 'closed' && state.brFailures >= store.breaker.failureThreshold) {
    const open = new UpdateExpressionBuilder().set('brState', 'open').set('brOpenedAt', now);
    open.condition(`${open.name('brState')} = ${open.value('closed')}`);
    next = await conditionalUpdate(store, state.agentId, open);
  } else if (circuit.state === 'half_open') {
    const verdict = ok
      ? new UpdateExpressionBuilder()
          .set('brState', 'closed')
          .set('brFailures', 0)
          .remove('brOpenedAt')
          .remove('brProbeAt')
      : new UpdateExpressionBuilder()
          .set('brState', 'open')
          .set('brOpenedAt', now)
          .remove('brProbeAt');
    const brState = verdict.name('brState');
    verdict.condition(
      `${brState} = ${verdict.value('half_open')} OR ` +
        `(${brState} = ${verdict.value('open')} AND ${verdict.name('brOpenedAt')} <= ${verdict.value(now - store.breaker.cooldownMs)})`,
    );
    next = await conditionalUpdate(store, state.agentId, verdict);
  }
  // A lost transition race means another caller already moved the breaker; report what we saw.
  return circuitOf(next ?? state, now, store.breaker);
}

/** UpdateItem returning the new row, or undefined when the condition did not hold. */
async function conditionalUpdate(
  store: RegistryStore,
  agentId: string,
  update: UpdateExpressionBuilder,
): Promise<AgentLiveState | undefined> {
  try {
    const { Attributes } = await store.client.send(
      new UpdateCommand({
        TableName: store.tableName,
        Key: agentKey(agentId),
        ...update.build(),
        ReturnValues: 'ALL_NEW',
      }),
    );
    return agentLiveStateSchema.parse(Attributes);
  } catch (error) {
    if (error instanceof ConditionalCheckFailedException) return undefined;
    throw error;
  }
}
