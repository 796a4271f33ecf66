import { beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../functions/core/clock.ts';
import { AgentRegistry } from '../../functions/core/registry/agent-registry.ts';
import {
  EMPTY_TALLY,
  type Outcome,
  type OutcomeTally,
  withOutcome,
} from '../../functions/core/registry/outcomes.ts';
import { card } from '../support/cards.ts';
import { ENGINES, freshRegistryTable } from '../support/dynamo.ts';

const fail: Outcome = { ok: false, latencyMs: 5 };
const ok: Outcome = { ok: true, latencyMs: 5 };
const tally = (...outcomes: Outcome[]): OutcomeTally => outcomes.reduce(withOutcome, EMPTY_TALLY);

/**
 * The breaker's consecutive-failure count as DynamoDB keeps it, when outcomes arrive coalesced
 * (the coordination service flushes every agent's outcomes as one tally): it is the trailing run
 * of failures, whatever the batching.
 */
describe.each(ENGINES)('breaker arithmetic on %s', (engine) => {
  let registry: AgentRegistry;
  let clock: ManualClock;

  beforeEach(async () => {
    const table = await freshRegistryTable(engine);
    clock = new ManualClock();
    registry = new AgentRegistry({
      tableName: table.tableName,
      client: table.client,
      clock,
      breaker: { failureThreshold: 5, cooldownMs: 10_000 },
    });
    await registry.register(card('a1'));
    await registry.heartbeat('a1');
  });

  const failures = async () => (await registry.get('a1')).circuit.consecutiveFailures;

  it('a success in the batch restarts the count at the failures after it', async () => {
    await registry.recordOutcomes('a1', tally(fail, fail, fail));
    expect(await failures()).toBe(3);
    await registry.recordOutcomes('a1', tally(fail, ok, fail));
    expect(await failures()).toBe(1);
    await registry.recordOutcomes('a1', tally(ok, fail, fail));
    expect(await failures()).toBe(2);
    await registry.recordOutcomes('a1', tally(fail, fail, ok));
    expect(await failures()).toBe(0);
  });

  it('a batch of failures only adds to the count so far, and opens the breaker at the threshold', async () => {
    await registry.recordOutcomes('a1', tally(fail, fail, fail));
    const circuit = await registry.recordOutcomes('a1', tally(fail, fail));
    expect(circuit).toMatchObject({ state: 'open', consecutiveFailures: 5 });
  });

  it('alternating outcomes never open the breaker, however many a batch holds', async () => {
    const alternating = Array.from({ length: 21 }, (_, i) => (i % 2 === 0 ? fail : ok));
    const circuit = await registry.recordOutcomes('a1', tally(...alternating));
    expect(circuit).toMatchObject({ state: 'closed', consecutiveFailures: 1 });
    expect((await registry.get('a1')).metrics).toMatchObject({
      requestsProcessed: 21,
      errors: 11,
    });
  });

  it('concurrent batches of failures add up atomically', async () => {
    await Promise.all(Array.from({ length: 4 }, () => registry.recordOutcomes('a1', tally(fail))));
    expect(await failures()).toBe(4);
  });

  describe('redelivered messages (item 9: poison messages)', () => {
    const redelivered: Outcome = { ok: false, latencyMs: 5, redelivered: true };

    it('a message failing on every redelivery counts in the metrics, not against the breaker', async () => {
      // One poison message, five receives: its first failure is one failure in a row.
      await registry.recordOutcome('a1', fail);
      for (let i = 0; i < 4; i++) await registry.recordOutcome('a1', redelivered);
      const record = await registry.get('a1');
      expect(record.circuit).toMatchObject({ state: 'closed', consecutiveFailures: 1 });
      expect(record.metrics).toMatchObject({ requestsProcessed: 5, errors: 5 });
    });

    it('redelivery failures neither break a run of failures nor give a half-open breaker a verdict', async () => {
      expect(tally(fail, redelivered, fail)).toMatchObject({
        trailingFailures: 2,
        succeeded: false,
      });
      for (let i = 0; i < 5; i++) await registry.recordOutcome('a1', fail);
      clock.advance(10_000); // cooled down: the next verdict decides
      expect((await registry.recordOutcome('a1', redelivered)).state).toBe('half_open');
      expect((await registry.recordOutcome('a1', ok)).state).toBe('closed');
    });
  });
});
