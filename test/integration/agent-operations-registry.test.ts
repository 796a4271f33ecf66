import { DeleteCommand } from '@aws-sdk/lib-dynamodb';
import { beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../functions/core/clock.ts';
import { ForbiddenError, NotFoundError } from '../../functions/core/errors.ts';
import { AgentRegistry } from '../../functions/core/registry/agent-registry.ts';
import { LOCAL_OPERATOR } from '../../functions/core/registry/ownership.ts';
import { agentKey, DRAINED_PARTITION } from '../../functions/core/registry/table.ts';
import { capability, card } from '../support/cards.ts';
import { ENGINES, freshRegistryTable, heldWriteClient, type TestTable } from '../support/dynamo.ts';

const OPS = { principal: 'arn:aws:iam::123456789012:role/Ops', operator: true };
const OTHER_OPS = { principal: 'arn:aws:iam::123456789012:role/OtherOps', operator: true };
const OWNER = { principal: 'arn:aws:iam::123456789012:role/AgentA', operator: false };

/**
 * The registry's operator actions — drain, resume, circuit reset — as conditional writes on the
 * agent row, on both DynamoDB engines: what they leave, what heartbeats and registrations leave of
 * them, and who may perform them.
 */
describe.each(ENGINES)('operator actions on %s', (engine) => {
  let registry: AgentRegistry;
  let clock: ManualClock;
  let table: TestTable;

  /** A registry on this test's table and clock, through `client`. */
  const registryOn = (client: TestTable['client']) =>
    new AgentRegistry({
      tableName: table.tableName,
      client,
      clock,
      breaker: { failureThreshold: 3, cooldownMs: 10_000 },
    });

  beforeEach(async () => {
    table = await freshRegistryTable(engine);
    clock = new ManualClock();
    registry = registryOn(table.client);
    await registry.register(card('a1', { capabilities: [capability('summarize')] }), {
      caller: OWNER,
    });
    await registry.heartbeat('a1');
  });

  const holders = async (statuses?: string[]) =>
    (await registry.discover({ capability: 'summarize', ...(statuses ? { statuses } : {}) })).map(
      (m) => `${m.agentId} ${m.status}`,
    );

  it('drains: the agent reads as drained, and discovery leaves it out unless asked for drained', async () => {
    const mark = await registry.drain('a1', { caller: OPS });
    expect(mark).toEqual({
      agentId: 'a1',
      status: 'drained',
      drainedAt: new Date(clock.now()).toISOString(),
      drainedBy: OPS.principal,
    });
    expect((await registry.get('a1')).status).toBe('drained');
    expect((await registry.list({ status: 'drained' })).agents.map((a) => a.card.agentId)).toEqual([
      'a1',
    ]);
    expect(await holders()).toEqual([]);
    expect(await holders(['healthy', 'degraded', 'initializing', 'unhealthy'])).toEqual([]);
    expect(await holders(['drained'])).toEqual(['a1 drained']);
  });

  it('a second drain keeps the first one’s instant and principal', async () => {
    const first = await registry.drain('a1', { caller: OPS });
    clock.advance(5_000);
    const again = await registry.drain('a1', { caller: OTHER_OPS });
    expect(again).toEqual(first);
    // Two operators at once: one write's mark stands, and both are told the same.
    await registry.resume('a1', { caller: OPS });
    const [x, y] = await Promise.all([
      registry.drain('a1', { caller: OPS }),
      registry.drain('a1', { caller: OTHER_OPS }),
    ]);
    expect(x).toEqual(y);
  });

  it('survives heartbeats (with or without a status), re-registration and an update of the card', async () => {
    await registry.drain('a1', { caller: OPS });
    clock.advance(1_000);
    expect((await registry.heartbeat('a1')).status).toBe('drained');
    expect((await registry.heartbeat('a1', { status: 'healthy', inFlight: 2 })).status).toBe(
      'drained',
    );
    expect((await registry.heartbeat('a1', { status: 'draining' })).status).toBe('drained');
    const again = await registry.register(card('a1', { capabilities: [capability('summarize')] }), {
      caller: OWNER,
    });
    expect(again).toMatchObject({ outcome: 'unchanged', record: { status: 'drained' } });
    const updated = await registry.register(
      card('a1', { description: 'v2', capabilities: [capability('summarize')] }),
      { caller: OWNER, update: true },
    );
    expect(updated).toMatchObject({ outcome: 'updated', record: { status: 'drained' } });
    // The agent's crash mark does not hide it either.
    await registry.markCrashed('a1', clock.now() + 1);
    expect((await registry.get('a1')).status).toBe('drained');
  });

  it('survives the agent row’s deletion by TTL and the agent registering again, until resumed', async () => {
    const mark = await registry.drain('a1', { caller: OPS });
    // Stopped for maintenance: no heartbeat, and TTL deletes the expired row (as it would).
    clock.advance(3_600_000);
    await table.client.send(new DeleteCommand({ TableName: table.tableName, Key: agentKey('a1') }));
    await expect(registry.get('a1')).rejects.toBeInstanceOf(NotFoundError);
    // Nor can a drain or a resume be aimed at an agent with no row.
    await expect(registry.resume('a1', { caller: OPS })).rejects.toBeInstanceOf(NotFoundError);
    await expect(registry.drain('a1', { caller: OTHER_OPS })).rejects.toBeInstanceOf(NotFoundError);

    // Started again: its registration creates a new row, which reads drained, as left.
    const back = await registry.register(card('a1', { capabilities: [capability('summarize')] }), {
      caller: OWNER,
    });
    expect(back).toMatchObject({
      outcome: 'created',
      record: { status: 'drained', drained: { at: mark.drainedAt, by: OPS.principal } },
    });
    await registry.heartbeat('a1', { status: 'healthy' });
    expect((await registry.get('a1')).status).toBe('drained');
    expect(await holders()).toEqual([]);

    expect((await registry.resume('a1', { caller: OPS })).status).toBe('healthy');
    expect(await holders()).toEqual(['a1 healthy']);
    // Resumed, its next row starts undrained.
    await table.client.send(new DeleteCommand({ TableName: table.tableName, Key: agentKey('a1') }));
    const again = await registry.register(card('a1', { capabilities: [capability('summarize')] }));
    expect(again.record.status).toBe('initializing');
    expect(again.record).not.toHaveProperty('drained');
  });

  describe.each([
    ['with no drain before', false],
    ['after an earlier drain and resume', true],
  ])(
    'a drain and a resume at once (%s): the agent row decides what a registration restores',
    (_, before) => {
      beforeEach(async () => {
        if (!before) return;
        // What an earlier drain and resume leave on the drain row: a lifted mark, kept a while.
        await registry.drain('a1', { caller: OPS });
        clock.advance(5);
        await registry.resume('a1', { caller: OPS });
        clock.advance(5);
      });

      /** Another registry on the table, whose first write that `holds` picks waits until let go. */
      const heldAt = (holds: Parameters<typeof heldWriteClient>[1]) => {
        const held = heldWriteClient(engine, holds);
        return { ...held, registry: registryOn(held.client) };
      };
      /** Its first write of the drain row, whatever the write. */
      const heldAtTheDrainRow = () =>
        heldAt(
          (command, input) =>
            /^(Put|Update|Delete)/.test(command) &&
            JSON.stringify(input.Key?.pk ?? input.Item?.pk).includes(DRAINED_PARTITION),
        );
      /** Its first update of the agent row. */
      const heldAtTheAgentRow = () =>
        heldAt(
          (command, input) =>
            command.startsWith('Update') &&
            JSON.stringify(input.Key).includes('AGENT#a1') &&
            !JSON.stringify(input.Key).includes(DRAINED_PARTITION),
        );
      /** The agent registers again after a deregistration: as new, with no drain. */
      const expectRegisteredFresh = async () => {
        const fresh = await registry.register(
          card('a1', { capabilities: [capability('summarize')] }),
        );
        expect(fresh).toMatchObject({ outcome: 'created', record: { status: 'initializing' } });
        expect(fresh.record).not.toHaveProperty('drained');
      };

      /** TTL deletes the agent row; the agent registers again. */
      const comeBack = async () => {
        await table.client.send(
          new DeleteCommand({ TableName: table.tableName, Key: agentKey('a1') }),
        );
        return (
          await registry.register(card('a1', { capabilities: [capability('summarize')] }), {
            caller: OWNER,
          })
        ).record;
      };

      it('resumed after the drain reached the agent row, before it reached the drain row: not drained', async () => {
        const held = heldAtTheDrainRow();
        const draining = held.registry.drain('a1', { caller: OPS });
        await held.reached; // the agent row is drained; the drain row not yet written
        clock.advance(5);
        expect((await registry.resume('a1', { caller: OPS })).status).toBe('healthy');
        held.release();
        await draining;
        expect((await registry.get('a1')).status).toBe('healthy');
        const back = await comeBack();
        expect(back.status).toBe('initializing');
        expect(back).not.toHaveProperty('drained');
      });

      it('drained again after the resume reached the agent row, before it reached the drain row: drained', async () => {
        await registry.drain('a1', { caller: OPS });
        clock.advance(5);
        const held = heldAtTheDrainRow();
        const resuming = held.registry.resume('a1', { caller: OPS });
        await held.reached; // the agent row is resumed; the drain row not yet told
        clock.advance(5);
        const again = await registry.drain('a1', { caller: OTHER_OPS });
        held.release();
        await resuming;
        expect((await registry.get('a1')).status).toBe('drained');
        const back = await comeBack();
        expect(back).toMatchObject({
          status: 'drained',
          drained: { at: again.drainedAt, by: OTHER_OPS.principal },
        });
      });

      it('a drain that reached the agent row late, after another drain and its resume: drained', async () => {
        // Its instant is taken, then its write of the agent row is held (a slow request, a retry).
        const held = heldAtTheAgentRow();
        const late = held.registry.drain('a1', { caller: OPS });
        await held.reached;
        clock.advance(5);
        await registry.drain('a1', { caller: OTHER_OPS });
        clock.advance(5);
        await registry.resume('a1', { caller: OPS });
        clock.advance(5);
        held.release();
        const mark = await late;
        // Its mark, older than the one lifted, moved past it: the drain row agrees with the agent row.
        expect(mark.drainedAt).toBe(new Date(clock.now()).toISOString());
        expect(await registry.get('a1')).toMatchObject({
          status: 'drained',
          drained: { at: mark.drainedAt, by: OPS.principal },
        });
        expect(await comeBack()).toMatchObject({
          status: 'drained',
          drained: { at: mark.drainedAt, by: OPS.principal },
        });
      });

      it('a late drain refused by a newer drain whose resume is still writing: drained', async () => {
        const lateDrain = heldAtTheAgentRow();
        const late = lateDrain.registry.drain('a1', { caller: OPS });
        await lateDrain.reached;
        clock.advance(5);
        await registry.drain('a1', { caller: OTHER_OPS });
        clock.advance(5);
        // The resume of that drain has lifted it from the agent row; its drain-row write is held.
        const slowResume = heldAtTheDrainRow();
        const resuming = slowResume.registry.resume('a1', { caller: OPS });
        await slowResume.reached;
        clock.advance(5);
        lateDrain.release();
        const mark = await late;
        slowResume.release();
        await resuming;
        expect(await registry.get('a1')).toMatchObject({
          status: 'drained',
          drained: { at: mark.drainedAt, by: OPS.principal },
        });
        expect(await comeBack()).toMatchObject({
          status: 'drained',
          drained: { at: mark.drainedAt, by: OPS.principal },
        });
      });

      it('deregistered after a resume lifted a drain whose own drain-row write is still on its way: forgotten', async () => {
        const held = heldAtTheDrainRow();
        const draining = held.registry.drain('a1', { caller: OPS });
        await held.reached;
        clock.advance(5);
        await registry.resume('a1', { caller: OPS });
        clock.advance(5);
        await registry.deregister('a1', { caller: OPS });
        held.release();
        await draining;
        await expectRegisteredFresh();
      });

      it('deregistered after the drain reached the agent row, before it reached the drain row: forgotten', async () => {
        const held = heldAtTheDrainRow();
        const draining = held.registry.drain('a1', { caller: OPS });
        await held.reached;
        clock.advance(5);
        await registry.deregister('a1', { caller: OPS });
        held.release();
        await draining;
        await expectRegisteredFresh();
      });

      it('a drain’s mark that arrives after a newer drain’s is not written over it', async () => {
        const held = heldAtTheDrainRow();
        const first = held.registry.drain('a1', { caller: OPS });
        await held.reached;
        clock.advance(5);
        await registry.resume('a1', { caller: OPS });
        clock.advance(5);
        const second = await registry.drain('a1', { caller: OTHER_OPS });
        held.release();
        await first;
        const back = await comeBack();
        expect(back).toMatchObject({
          status: 'drained',
          drained: { at: second.drainedAt, by: OTHER_OPS.principal },
        });
      });
    },
  );

  it('deregistering forgets the drain with the agent', async () => {
    await registry.drain('a1', { caller: OPS });
    await registry.deregister('a1', { caller: OPS });
    const fresh = await registry.register(card('a1', { capabilities: [capability('summarize')] }));
    expect(fresh).toMatchObject({ outcome: 'created', record: { status: 'initializing' } });
  });

  it('resume lifts the drain: the status is derived from the agent’s own state again', async () => {
    await registry.drain('a1', { caller: OPS });
    const resumed = await registry.resume('a1', { caller: OPS });
    expect(resumed.status).toBe('healthy');
    expect(await holders()).toEqual(['a1 healthy']);
    // Resuming what is not drained changes nothing, and says so.
    expect((await registry.resume('a1', { caller: OPS })).status).toBe('healthy');
    // An agent stopping of its own accord stays so: resume lifts the operator's drain only.
    await registry.heartbeat('a1', { status: 'draining' });
    await registry.drain('a1', { caller: OPS });
    expect((await registry.resume('a1', { caller: OPS })).status).toBe('draining');
    // A drain lifted, the next drain is a new one.
    clock.advance(7_000);
    await registry.resume('a1', { caller: OPS });
    expect((await registry.drain('a1', { caller: OTHER_OPS })).drainedAt).toBe(
      new Date(clock.now()).toISOString(),
    );
  });

  it('resets an open breaker: closed, no failures, no open instant; requests go through again', async () => {
    for (let i = 0; i < 3; i++) await registry.recordOutcome('a1', { ok: false, latencyMs: 5 });
    const open = await registry.get('a1');
    expect(open.circuit).toMatchObject({ state: 'open', consecutiveFailures: 3 });
    expect(await registry.tryAcquire('a1')).toBe(false);

    expect(await registry.resetCircuit('a1', { caller: OPS })).toEqual({
      state: 'closed',
      consecutiveFailures: 0,
      openedAt: null,
    });
    expect((await registry.get('a1')).circuit).toEqual({
      state: 'closed',
      consecutiveFailures: 0,
      openedAt: null,
    });
    expect(await registry.tryAcquire('a1')).toBe(true);
    // Failures after the reset count afresh toward the threshold.
    await registry.recordOutcome('a1', { ok: false, latencyMs: 5 });
    expect((await registry.get('a1')).circuit).toMatchObject({
      state: 'closed',
      consecutiveFailures: 1,
    });
  });

  it('resets a half-open breaker whose probe is out, without waiting for the probe', async () => {
    for (let i = 0; i < 3; i++) await registry.recordOutcome('a1', { ok: false, latencyMs: 5 });
    clock.advance(10_000);
    expect(await registry.tryAcquire('a1')).toBe(true); // this caller holds the probe
    expect(await registry.tryAcquire('a1')).toBe(false); // so nobody else gets through
    await registry.resetCircuit('a1', { caller: OPS });
    expect(await registry.tryAcquire('a1')).toBe(true);
    expect((await registry.get('a1')).circuit.state).toBe('closed');
  });

  it('refuses callers who are not operators, the card’s owner included, and changes nothing', async () => {
    for (const act of [
      () => registry.drain('a1', { caller: OWNER }),
      () => registry.resume('a1', { caller: OWNER }),
      () => registry.resetCircuit('a1', { caller: OWNER }),
    ])
      await expect(act()).rejects.toBeInstanceOf(ForbiddenError);
    expect((await registry.get('a1')).status).toBe('healthy');
  });

  it('answers NotFoundError for an agent nobody registered, and creates no row', async () => {
    for (const act of [
      () => registry.drain('nobody', { caller: LOCAL_OPERATOR }),
      () => registry.resume('nobody', { caller: LOCAL_OPERATOR }),
      () => registry.resetCircuit('nobody', { caller: LOCAL_OPERATOR }),
    ])
      await expect(act()).rejects.toBeInstanceOf(NotFoundError);
    await expect(registry.get('nobody')).rejects.toBeInstanceOf(NotFoundError);
  });
});
