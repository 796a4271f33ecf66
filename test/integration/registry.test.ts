import { randomUUID } from 'node:crypto';
import {
  DescribeTableCommand,
  DescribeTimeToLiveCommand,
  DynamoDBClient,
} from '@aws-sdk/client-dynamodb';
import { DynamoDBStreamsClient, ListStreamsCommand } from '@aws-sdk/client-dynamodb-streams';
import { ScanCommand } from '@aws-sdk/lib-dynamodb';
import { beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../functions/core/clock.ts';
import {
  ConflictError,
  ForbiddenError,
  NotFoundError,
  ValidationError,
} from '../../functions/core/errors.ts';
import { AgentRegistry } from '../../functions/core/registry/agent-registry.ts';
import { ensureRegistryTable } from '../../functions/core/registry/create-table.ts';
import { REGISTRY_TABLE } from '../../functions/core/registry/table.ts';
import { capability, card } from '../support/cards.ts';
import {
  type DynamoEngineName,
  dynamoConfig,
  ENGINES,
  freshRegistryTable,
  slowIndexingClient,
  type TestTable,
} from '../support/dynamo.ts';
import { readStream } from '../support/streams.ts';

describe.each(ENGINES)('AgentRegistry on %s', (engine) => {
  let table: TestTable;
  let clock: ManualClock;
  let registry: AgentRegistry;

  beforeEach(async () => {
    table = await freshRegistryTable(engine);
    clock = new ManualClock();
    registry = new AgentRegistry({
      tableName: table.tableName,
      client: table.client,
      clock,
      breaker: { failureThreshold: 3, cooldownMs: 10_000 },
    });
  });

  async function itemCount(): Promise<number> {
    const { Items } = await table.client.send(new ScanCommand({ TableName: table.tableName }));
    return Items?.length ?? 0;
  }

  /** Registers and heartbeats so the agent reads as healthy. */
  async function live(agentId: string, overrides: Parameters<typeof card>[1] = {}) {
    await registry.register(card(agentId, overrides));
    return registry.heartbeat(agentId);
  }

  describe('utilisation and draining', () => {
    it('stores the utilisation a heartbeat carries, to a hundredth (DynamoDB refuses 1e-308)', async () => {
      await registry.register(card('u1', { maxConcurrency: 8 }));
      const readAt = clock.now();
      const record = await registry.heartbeat('u1', {
        inFlight: 3,
        utilisation: {
          durationP50Ms: 12.3456,
          durationP99Ms: 80,
          durationSamples: 40,
          memoryUsedMB: 91.5,
          // schemathesis found this one: a 500 from DynamoDB's number range before rounding
          memorySizeMB: 2.2250738585072014e-308,
        },
        queue: { depth: 5, inFlight: 1, deadLetters: 2, readAt },
      });
      expect(record.metrics.utilisation).toMatchObject({
        inFlight: 3,
        maxConcurrency: 8,
        durationP50Ms: 12.35,
        memorySizeMB: 0,
        queueDepth: 5,
        deadLetterDepth: 2,
      });
      // A heartbeat without figures keeps the last ones; the monitor's write replaces the queue's.
      await registry.heartbeat('u1');
      await registry.recordQueue('u1', { depth: 9, inFlight: 0, readAt });
      expect((await registry.get('u1')).metrics.utilisation).toMatchObject({
        durationP99Ms: 80,
        queueDepth: 9,
        deadLetterDepth: null,
      });
      await expect(
        registry.recordQueue('nobody', { depth: 1, inFlight: 0, readAt }),
      ).rejects.toBeInstanceOf(NotFoundError);
    });

    it('reads a draining agent as draining, which discovery and listings by default pass over', async () => {
      await live('d1', { capabilities: [capability('drainable')] });
      await live('d2', { capabilities: [capability('drainable')] });
      await registry.heartbeat('d2', { status: 'draining' });
      expect((await registry.get('d2')).status).toBe('draining');
      const ids = async (query: object) =>
        (await registry.discover({ capability: 'drainable', ...query })).map((m) => m.agentId);
      expect(await ids({})).toEqual(['d1']);
      expect(await ids({ statuses: ['healthy', 'degraded', 'initializing', 'unhealthy'] })).toEqual(
        ['d1'],
      );
      expect(await ids({ statuses: ['draining'] })).toEqual(['d2']);
      // A new process heartbeats without a status: the agent is back.
      await registry.heartbeat('d2');
      expect((await registry.get('d2')).status).toBe('healthy');
    });
  });

  describe('registration', () => {
    it('stores metadata nested as deep as a card may hold, and refuses deeper before DynamoDB would', async () => {
      const nested = (levels: number) => {
        let value: Record<string, unknown> = { leaf: true };
        for (let i = 1; i < levels; i++) value = { n: value };
        return value;
      };
      const deepest = card('deep-ok', {
        capabilities: [capability('summarize', '1.0.0', { metadata: nested(24) })],
      });
      await registry.register(deepest);
      expect((await registry.get('deep-ok')).card.capabilities[0]?.metadata).toEqual(nested(24));
      await expect(
        registry.register(
          card('too-deep', {
            capabilities: [capability('summarize', '1.0.0', { metadata: nested(25) })],
          }),
        ),
      ).rejects.toMatchObject({
        code: 'VALIDATION_FAILED',
        issues: [
          {
            path: `capabilities.0.metadata.${Array(24).fill('n').join('.')}`,
            message: expect.stringContaining('nested deeper than 24 levels'),
          },
        ],
      });
    });

    it('creates an agent that is initializing until its first heartbeat', async () => {
      const result = await registry.register(card('a1'));
      expect(result.outcome).toBe('created');
      expect(result.record.status).toBe('initializing');
      expect(result.record.card.capabilities[0]).toMatchObject({
        name: 'summarize',
        priority: 0,
        metadata: {},
      });
      expect(result.record.card.healthCheck).toEqual({
        heartbeatIntervalSeconds: 30,
        heartbeatTimeoutSeconds: 90,
      });

      const fetched = await registry.get('a1');
      expect(fetched.card).toEqual(result.record.card);
    });

    it('is idempotent for an identical card, whatever the key order', async () => {
      await registry.register(card('a1'));
      const reordered = Object.fromEntries(Object.entries(card('a1')).reverse());
      const again = await registry.register(reordered);
      expect(again.outcome).toBe('unchanged');
      expect((await registry.list()).agents).toHaveLength(1);
    });

    it('rejects a different card for a taken id unless it is an update of the same type', async () => {
      await registry.register(card('a1'));
      const changed = card('a1', { description: 'changed' });
      await expect(registry.register(changed)).rejects.toBeInstanceOf(ConflictError);
      await expect(
        registry.register({ ...changed, agentType: 'other' }, { update: true }),
      ).rejects.toThrow(/must keep the agent type/);
      expect((await registry.get('a1')).card.description).toBe('test agent a1');

      const updated = await registry.register(changed, { update: true });
      expect(updated.outcome).toBe('updated');
      expect((await registry.get('a1')).card.description).toBe('changed');
    });

    it('moves capability index rows when an update changes capabilities', async () => {
      await live('a1', { capabilities: [capability('summarize'), capability('translate')] });
      await registry.register(
        card('a1', { capabilities: [capability('summarize'), capability('classify')] }),
        {
          update: true,
        },
      );
      expect(await registry.discover({ capability: 'translate' })).toEqual([]);
      expect((await registry.discover({ capability: 'classify' })).map((m) => m.agentId)).toEqual([
        'a1',
      ]);
    });

    it('rejects bad cards naming the field, and writes nothing', async () => {
      const attempts: [unknown, string][] = [
        [{ ...card('a1'), agentType: undefined }, 'agentType'],
        [card('a1', { capabilities: [capability('summarize', 'one')] }), 'capabilities.0.version'],
        [
          card('a1', { capabilities: [capability('x', '1.0.0', { priority: 1.5 })] }),
          'capabilities.0.priority',
        ],
        [
          card('a1', {
            capabilities: [capability('x', '1.0.0', { metadata: { blob: 'x'.repeat(5000) } })],
          }),
          'capabilities.0.metadata',
        ],
        [card('bad id!'), 'agentId'],
        [card('a1', { endpoint: {} }), 'endpoint'],
        [{ ...card('a1'), surprise: true }, ''],
      ];
      for (const [input, path] of attempts) {
        const error = await registry.register(input).catch((e: unknown) => e);
        expect(error, JSON.stringify(input).slice(0, 80)).toBeInstanceOf(ValidationError);
        expect((error as ValidationError).issues.map((i) => i.path)).toContain(path);
      }
      expect(await itemCount()).toBe(0);
    });

    it('deregisters, removing the agent and its capability rows', async () => {
      await live('a1');
      const removed = await registry.deregister('a1');
      expect(removed.card.agentId).toBe('a1');
      await expect(registry.get('a1')).rejects.toBeInstanceOf(NotFoundError);
      await expect(registry.deregister('a1')).rejects.toBeInstanceOf(NotFoundError);
      expect(
        await registry.discover({ capability: 'summarize', statuses: ['healthy', 'initializing'] }),
      ).toEqual([]);
      // only the catalog row (capability names ever seen) remains
      expect(await itemCount()).toBe(1);
    });
  });

  describe('ownership', () => {
    const alice = { principal: 'arn:aws:iam::123456789012:role/Alice', operator: false };
    const bob = { principal: 'arn:aws:iam::123456789012:role/Bob', operator: false };
    const operator = { principal: 'arn:aws:iam::123456789012:role/Ops', operator: true };

    it("keeps a deployed agent's id its stack's while its row is gone: nobody else may register it", async () => {
      const stack = 'arn:aws:cloudformation:us-east-1:123456789012:stack/Mobius/1';
      await registry.register(card('deployed'), { update: true, owner: stack });
      await registry.recordDeployment(card('deployed'), stack);
      // The row expires (TTL) or is deregistered; the deployment row has no TTL.
      await registry.deregister('deployed');
      const squat = await registry
        .register(card('deployed', { description: 'squatter' }), { caller: bob })
        .catch((e: unknown) => e);
      expect(squat).toBeInstanceOf(ForbiddenError);
      expect((squat as ForbiddenError).message).toContain(stack);
      await expect(registry.get('deployed')).rejects.toBeInstanceOf(NotFoundError);
      // An operator may; so may the agent's own code (no caller), as on its next cold start.
      await registry.register(card('deployed'), { caller: operator });
      await registry.forgetDeployment('deployed');
    });

    it('records the registering caller as owner; others may not update, heartbeat or deregister', async () => {
      const { record } = await registry.register(card('owned'), { caller: alice });
      expect(record.owner).toBe(alice.principal);
      const before = await itemCount();
      const hijack = card('owned', { description: 'hijacked' });
      await expect(registry.register(hijack, { update: true, caller: bob })).rejects.toBeInstanceOf(
        ForbiddenError,
      );
      await expect(
        registry.heartbeat('owned', { status: 'unhealthy' }, { caller: bob }),
      ).rejects.toBeInstanceOf(ForbiddenError);
      await expect(registry.deregister('owned', { caller: bob })).rejects.toBeInstanceOf(
        ForbiddenError,
      );
      // Refused changes leave everything as it was.
      expect(await itemCount()).toBe(before);
      const row = await registry.get('owned');
      expect(row).toMatchObject({
        card: { description: 'test agent owned' },
        status: 'initializing',
      });

      await registry.heartbeat('owned', {}, { caller: alice });
      await expect(registry.heartbeat('missing', {}, { caller: bob })).rejects.toBeInstanceOf(
        NotFoundError,
      );
      // An operator's update, or trusted code's (no caller), keeps the owner.
      await registry.register(hijack, { update: true, caller: operator });
      await registry.register(card('owned', { description: 'v3' }), { update: true });
      expect(await registry.get('owned')).toMatchObject({
        owner: alice.principal,
        card: { description: 'v3' },
      });
      await registry.deregister('owned', { caller: alice });
      await expect(registry.get('owned')).rejects.toBeInstanceOf(NotFoundError);
    });

    it('lets trusted code claim a card for an owner (the deploying stack), even an unchanged one', async () => {
      await registry.register(card('legacy'));
      expect((await registry.get('legacy')).owner).toBeUndefined();
      await expect(registry.deregister('legacy', { caller: alice })).rejects.toBeInstanceOf(
        ForbiddenError,
      );
      const stack = 'arn:aws:cloudformation:us-east-1:123456789012:stack/S/1';
      const claimed = await registry.register(card('legacy'), { owner: stack });
      expect(claimed.outcome).toBe('unchanged');
      expect((await registry.get('legacy')).owner).toBe(stack);
    });
  });

  describe('heartbeats and status', () => {
    it('is healthy after a heartbeat and offline the instant the heartbeat expires', async () => {
      await registry.register(
        card('a1', { healthCheck: { heartbeatIntervalSeconds: 10, heartbeatTimeoutSeconds: 30 } }),
      );
      const beat = await registry.heartbeat('a1');
      expect(beat.status).toBe('healthy');
      expect(new Date(beat.expiresAt).getTime()).toBe(clock.now() + 30_000);

      clock.advance(25_000); // late (more than 2 × interval) but within the timeout
      expect((await registry.get('a1')).status).toBe('degraded');
      clock.advance(5_000);
      expect((await registry.get('a1')).status).toBe('offline');
      expect(
        (await registry.list({ status: 'offline' })).agents.map((a) => a.card.agentId),
      ).toEqual(['a1']);

      await registry.heartbeat('a1');
      expect((await registry.get('a1')).status).toBe('healthy');
    });

    it('an agent that never beats goes offline after its timeout', async () => {
      await registry.register(card('a1'));
      clock.advance(90_000);
      expect((await registry.get('a1')).status).toBe('offline');
    });

    it('takes the agent’s own report into account and clears it on the next plain heartbeat', async () => {
      await registry.register(card('a1'));
      expect((await registry.heartbeat('a1', { status: 'degraded', inFlight: 3 })).status).toBe(
        'degraded',
      );
      const cleared = await registry.heartbeat('a1');
      expect(cleared.status).toBe('healthy');
      expect(cleared.metrics.inFlight).toBe(3);
    });

    it('derives degraded and unhealthy from the recent error rate', async () => {
      await live('a1');
      for (let i = 0; i < 9; i++) await registry.recordOutcome('a1', { ok: true, latencyMs: 100 });
      await registry.recordOutcome('a1', { ok: false, latencyMs: 100 });
      const record = await registry.get('a1');
      expect(record.metrics).toMatchObject({
        requestsProcessed: 10,
        errors: 1,
        errorRate: 0.1,
        averageResponseTimeMs: 100,
      });
      expect(record.status).toBe('degraded');

      // two windows later the errors are history
      clock.advance(120_000);
      await registry.heartbeat('a1');
      expect((await registry.get('a1')).status).toBe('healthy');
      expect((await registry.get('a1')).metrics.requestsProcessed).toBe(10);
    });

    it('rejects heartbeats for unknown agents and bad reports', async () => {
      await expect(registry.heartbeat('ghost')).rejects.toBeInstanceOf(NotFoundError);
      await registry.register(card('a1'));
      await expect(registry.heartbeat('a1', { inFlight: -1 })).rejects.toThrow(/inFlight/);
    });
  });

  describe('metrics under concurrency', () => {
    it('50 concurrent registrations and 50 concurrent updates lose nothing', async () => {
      const ids = Array.from({ length: 50 }, (_, i) => `agent-${i}`);
      const results = await Promise.all(ids.map((id) => registry.register(card(id))));
      expect(results.every((r) => r.outcome === 'created')).toBe(true);
      await Promise.all(ids.map((id) => registry.heartbeat(id)));
      expect((await registry.list({ limit: 1000 })).agents).toHaveLength(50);

      await Promise.all(
        Array.from({ length: 50 }, (_, i) =>
          registry.recordOutcome('agent-0', { ok: i % 10 !== 0, latencyMs: 20 }),
        ),
      );
      const metrics = (await registry.get('agent-0')).metrics;
      expect(metrics.requestsProcessed).toBe(50);
      expect(metrics.errors).toBe(5);
      expect(metrics.averageResponseTimeMs).toBe(20);
    });

    it('concurrent card updates leave the index of the card that won', async () => {
      const cards = {
        base: card('shifty', {
          capabilities: [capability('shared', '1.0.0'), capability('gone', '1.0.0')],
        }),
        // Drops both: its late indexing would delete the rows the winner wrote again.
        early: card('shifty', { capabilities: [capability('other', '1.0.0')] }),
        // Brings both back, one with a new priority (the same row keys as the base card's).
        late: card('shifty', {
          capabilities: [
            capability('shared', '1.0.0', { priority: 9 }),
            capability('gone', '1.0.0'),
          ],
        }),
      };
      await registry.register(cards.base);
      await registry.heartbeat('shifty');
      // The first update commits, then indexes slowly; the second commits after it and indexes first.
      const slow = new AgentRegistry({
        tableName: table.tableName,
        client: slowIndexingClient(engine, 400),
      });
      const first = slow.register(cards.early, { update: true });
      await new Promise((resolve) => setTimeout(resolve, 150));
      expect((await registry.register(cards.late, { update: true })).outcome).toBe('updated');
      await first;
      for (const name of ['shared', 'gone']) {
        const found = await registry.discover({ capability: name });
        expect(
          found.map((m) => m.agentId),
          name,
        ).toEqual(['shifty']);
      }
      expect(await registry.discover({ capability: 'other' })).toEqual([]);
    });

    it('records a tally of outcomes in one write', async () => {
      await live('a1');
      await registry.recordOutcomes('a1', {
        requests: 10,
        errors: 4,
        latencyMs: 500,
        trailingFailures: 4,
        succeeded: false,
      });
      const record = await registry.get('a1');
      expect(record.metrics).toMatchObject({
        requestsProcessed: 10,
        errors: 4,
        averageResponseTimeMs: 50,
      });
      expect(record.circuit).toMatchObject({ state: 'open', consecutiveFailures: 4 });
    });

    it('keeps counting across a window boundary with concurrent writers', async () => {
      await live('a1');
      await Promise.all(
        Array.from({ length: 10 }, () => registry.recordOutcome('a1', { ok: true, latencyMs: 10 })),
      );
      clock.advance(60_000);
      await Promise.all(
        Array.from({ length: 20 }, () =>
          registry.recordOutcome('a1', { ok: false, latencyMs: 30 }),
        ),
      );
      const metrics = (await registry.get('a1')).metrics;
      expect(metrics.requestsProcessed).toBe(30);
      expect(metrics.errorRate).toBeCloseTo(20 / 30, 3);
      expect(metrics.averageResponseTimeMs).toBeCloseTo((10 * 10 + 20 * 30) / 30, 1);
    });

    it('concurrent identical registrations of one id all succeed, exactly one creates', async () => {
      const results = await Promise.all(
        Array.from({ length: 10 }, () => registry.register(card('same'))),
      );
      expect(results.filter((r) => r.outcome === 'created')).toHaveLength(1);
      expect(results.filter((r) => r.outcome === 'unchanged')).toHaveLength(9);
    });
  });

  describe('circuit breaker', () => {
    it('opens after the threshold, lets one probe through after the cool-down, closes on success', async () => {
      await live('a1');
      for (let i = 0; i < 2; i++) await registry.recordOutcome('a1', { ok: false, latencyMs: 5 });
      expect((await registry.get('a1')).circuit.state).toBe('closed');
      const opened = await registry.recordOutcome('a1', { ok: false, latencyMs: 5 });
      expect(opened.state).toBe('open');
      expect((await registry.get('a1')).status).toBe('unhealthy');
      expect(await registry.tryAcquire('a1')).toBe(false);
      expect(
        await registry.discover({
          capability: 'summarize',
          statuses: ['healthy', 'degraded', 'unhealthy'],
        }),
      ).toEqual([]);

      clock.advance(10_000);
      const probes = await Promise.all(Array.from({ length: 5 }, () => registry.tryAcquire('a1')));
      expect(probes.filter(Boolean)).toHaveLength(1);
      expect((await registry.get('a1')).circuit.state).toBe('half_open');

      const closed = await registry.recordOutcome('a1', { ok: true, latencyMs: 5 });
      expect(closed.state).toBe('closed');
      expect(await registry.tryAcquire('a1')).toBe(true);
    });

    it('re-opens when the probe fails, and frees a probe that never reported', async () => {
      await live('a1');
      for (let i = 0; i < 3; i++) await registry.recordOutcome('a1', { ok: false, latencyMs: 5 });
      clock.advance(10_000);
      expect(await registry.tryAcquire('a1')).toBe(true);
      expect((await registry.recordOutcome('a1', { ok: false, latencyMs: 5 })).state).toBe('open');
      expect(await registry.tryAcquire('a1')).toBe(false);

      clock.advance(10_000);
      expect(await registry.tryAcquire('a1')).toBe(true); // probe claimed, then lost
      expect(await registry.tryAcquire('a1')).toBe(false);
      clock.advance(10_000);
      expect(await registry.tryAcquire('a1')).toBe(true);
    });

    it('closes or re-opens on outcomes reported after the cool-down without claiming the probe', async () => {
      // Coordinations and queue-delivered messages report outcomes; only the router claims probes.
      await live('a1');
      for (let i = 0; i < 3; i++) await registry.recordOutcome('a1', { ok: false, latencyMs: 5 });
      clock.advance(5_000);
      expect((await registry.recordOutcome('a1', { ok: true, latencyMs: 5 })).state).toBe('open');
      clock.advance(5_000);
      expect((await registry.recordOutcome('a1', { ok: false, latencyMs: 5 })).state).toBe('open');
      expect(await registry.tryAcquire('a1')).toBe(false); // the cool-down started again
      clock.advance(10_000);
      expect((await registry.recordOutcome('a1', { ok: true, latencyMs: 5 })).state).toBe('closed');
      expect((await registry.get('a1')).circuit.state).toBe('closed');
    });

    it('a success resets the consecutive failure count', async () => {
      await live('a1');
      for (const ok of [false, false, true, false, false])
        await registry.recordOutcome('a1', { ok, latencyMs: 5 });
      expect((await registry.get('a1')).circuit).toMatchObject({
        state: 'closed',
        consecutiveFailures: 2,
      });
    });
  });

  describe('discovery', () => {
    beforeEach(async () => {
      await live('sum-old', { capabilities: [capability('summarize', '1.2.0', { priority: 5 })] });
      await live('sum-new', { capabilities: [capability('summarize', '2.1.0', { priority: 1 })] });
      await live('sum-text', { capabilities: [capability('text-summarization', '1.0.0')] });
      await live('polyglot', {
        agentType: 'linguist',
        capabilities: [
          capability('translate', '3.0.0'),
          capability('summarize', '1.5.0'),
          capability('sentiment', '1.0.0'),
        ],
      });
      await registry.register(
        card('sleepy', { capabilities: [capability('summarize', '1.9.0', { priority: 100 })] }),
      );
    });

    it('finds exact names, healthy only by default, ranked by priority', async () => {
      const matches = await registry.discover({ capability: 'summarize' });
      expect(matches.map((m) => m.agentId)).toEqual(['sum-old', 'sum-new', 'polyglot']);
      expect(matches[0]).toMatchObject({
        score: 1,
        priority: 5,
        status: 'healthy',
        circuit: 'closed',
      });
      const withInitializing = await registry.discover({
        capability: 'summarize',
        statuses: ['healthy', 'initializing'],
      });
      expect(withInitializing[0]?.agentId).toBe('sleepy');
    });

    it('filters by semver range', async () => {
      const ids = async (version: string) =>
        (await registry.discover({ capability: 'summarize', version }))
          .map((m) => m.agentId)
          .sort();
      expect(await ids('^1.2')).toEqual(['polyglot', 'sum-old']);
      expect(await ids('>=2 <3')).toEqual(['sum-new']);
      expect(await ids('~1.2.0')).toEqual(['sum-old']);
      expect(await ids('^4')).toEqual([]);
    });

    it('matches fuzzily with a score and ranks equal names first', async () => {
      const matches = await registry.discover({ capability: 'Summarise', match: 'fuzzy' });
      const byId = Object.fromEntries(matches.map((m) => [m.agentId, m.score]));
      expect(Object.keys(byId).sort()).toEqual(['polyglot', 'sum-new', 'sum-old', 'sum-text']);
      expect(byId['sum-old']).toBeGreaterThan(byId['sum-text'] ?? 1);
      expect(matches.at(-1)?.agentId).toBe('sum-text');
      expect(await registry.discover({ capability: 'SUMMARIZE', match: 'fuzzy' })).toHaveLength(4);
      expect(await registry.discover({ capability: 'summarize' })).toHaveLength(3);
      expect(
        await registry.discover({ capability: 'translate-to-klingon-now', match: 'fuzzy' }),
      ).toEqual([]);
    });

    it('finds agents holding all of several capabilities', async () => {
      const matches = await registry.discover({
        capabilities: [
          { name: 'summarize', version: '^1' },
          { name: 'Sentiment', match: 'fuzzy' },
        ],
      });
      expect(matches.map((m) => m.agentId)).toEqual(['polyglot']);
      expect(matches[0]?.matched.map((m) => m.capability.name)).toEqual(['summarize', 'sentiment']);
    });

    it('filters by agent type and honours the limit', async () => {
      expect(
        (await registry.discover({ capability: 'summarize', agentType: 'linguist' })).map(
          (m) => m.agentId,
        ),
      ).toEqual(['polyglot']);
      expect(await registry.discover({ capability: 'summarize', limit: 1 })).toHaveLength(1);
    });

    it('ranks by health, then load, when score and priority tie', async () => {
      await live('busy', { capabilities: [capability('rank-me')], maxConcurrency: 4 });
      await live('idle', { capabilities: [capability('rank-me')], maxConcurrency: 4 });
      await live('sick', { capabilities: [capability('rank-me')] });
      await registry.heartbeat('busy', { inFlight: 3 });
      await registry.heartbeat('idle', { inFlight: 1 });
      await registry.heartbeat('sick', { status: 'degraded' });
      const matches = await registry.discover({
        capability: 'rank-me',
        statuses: ['healthy', 'degraded'],
      });
      expect(matches.map((m) => [m.agentId, m.load])).toEqual([
        ['idle', 0.25],
        ['busy', 0.75],
        ['sick', 0],
      ]);
    });

    it('rejects malformed queries naming the field', async () => {
      await expect(registry.discover({ capability: 'x', version: 'one' })).rejects.toThrow(
        /version/,
      );
      await expect(registry.discover({})).rejects.toThrow(/capability/);
      await expect(
        registry.discover({ capabilities: [{ name: 'x' }], version: '^1' }),
      ).rejects.toThrow(/inside each entry/);
    });
  });

  describe('listing', () => {
    it('lists by type, by capability and pages through everything', async () => {
      for (let i = 0; i < 5; i++) await registry.register(card(`w${i}`));
      await registry.register(
        card('p0', { agentType: 'planner', capabilities: [capability('plan')] }),
      );
      expect(
        (await registry.list({ agentType: 'planner' })).agents.map((a) => a.card.agentId),
      ).toEqual(['p0']);
      expect(
        (await registry.list({ capability: 'plan' })).agents.map((a) => a.card.agentId),
      ).toEqual(['p0']);

      const seen: string[] = [];
      let nextToken: string | undefined;
      for (let page = 0; page < 10; page++) {
        const result = await registry.list({ limit: 2, ...(nextToken ? { nextToken } : {}) });
        seen.push(...result.agents.map((a) => a.card.agentId));
        nextToken = result.nextToken;
        if (nextToken === undefined) break;
      }
      expect(seen.sort()).toEqual(['p0', 'w0', 'w1', 'w2', 'w3', 'w4']);
      await expect(registry.list({ nextToken: 'garbage' })).rejects.toThrow(/nextToken/);
    });
  });
});

/**
 * What each engine offers beyond the requests the registry makes. The registry never depends on
 * TTL deletion or on the stream (reads judge expiry themselves; TTL and the stream's clean-up are
 * garbage collection), so an engine without them still runs every test above. Where one lacks a
 * feature, the test says so and asserts the refusal.
 */
describe('TTL and the stream, engine by engine', () => {
  /** A client on `engine` that notes each request's outcome: its name and `ok`, or the error's name. */
  function recordingClient(engine: DynamoEngineName) {
    const calls: string[] = [];
    const client = new DynamoDBClient(dynamoConfig(engine));
    client.middlewareStack.add(
      (next, context) => async (args) => {
        try {
          const result = await next(args);
          calls.push(`${context.commandName} ok`);
          return result;
        } catch (error) {
          calls.push(`${context.commandName} ${(error as Error).name}`);
          throw error;
        }
      },
      { step: 'initialize', name: 'recordOutcomes' },
    );
    return { client, calls };
  }

  const ttlOf = async (client: DynamoDBClient, tableName: string) =>
    (await client.send(new DescribeTimeToLiveCommand({ TableName: tableName })))
      .TimeToLiveDescription;

  it('moto takes the TTL attribute ensureRegistryTable sets: expiresAt, enabled', async () => {
    const { client, calls } = recordingClient('moto');
    const tableName = `registry-${randomUUID()}`;
    await ensureRegistryTable(client, tableName);
    expect(calls).toContain('UpdateTimeToLiveCommand ok');
    expect(await ttlOf(client, tableName)).toEqual({
      AttributeName: REGISTRY_TABLE.ttlAttribute,
      TimeToLiveStatus: 'ENABLED',
    });
  });

  it('dynalite lacks UpdateTimeToLive: the call is refused and ensureRegistryTable carries on', async () => {
    const { client, calls } = recordingClient('dynalite');
    const tableName = `registry-${randomUUID()}`;
    await ensureRegistryTable(client, tableName);
    expect(calls.at(-1)).toBe('UpdateTimeToLiveCommand UnknownOperationException');
    expect(await ttlOf(client, tableName)).toEqual({ TimeToLiveStatus: 'DISABLED' });
    const { Table } = await client.send(new DescribeTableCommand({ TableName: tableName }));
    expect(Table?.TableStatus).toBe('ACTIVE');
  });

  it('moto keeps the registry table’s stream of old images, as the stack does', async () => {
    const table = await freshRegistryTable('moto');
    const { Table } = await table.raw.send(
      new DescribeTableCommand({ TableName: table.tableName }),
    );
    expect(Table?.StreamSpecification).toEqual({
      StreamEnabled: true,
      StreamViewType: REGISTRY_TABLE.streamViewType,
    });
    const registry = new AgentRegistry({ tableName: table.tableName, client: table.client });
    await registry.register(card('streamed'));
    await registry.deregister('streamed');
    const { records } = await readStream('moto', table.tableName);
    const agentRow = records.filter((r) => r.dynamodb?.Keys?.pk?.S === 'AGENT#streamed');
    expect(agentRow.map((r) => r.eventName)).toEqual(['INSERT', 'REMOVE']);
    expect(agentRow[1]?.dynamodb?.OldImage?.agentId).toEqual({ S: 'streamed' });
    expect(agentRow[1]?.dynamodb?.NewImage).toBeUndefined();
  });

  it('dynalite lacks streams: it accepts the table’s stream specification, keeps none, and refuses the streams API', async () => {
    const table = await freshRegistryTable('dynalite');
    const { Table } = await table.raw.send(
      new DescribeTableCommand({ TableName: table.tableName }),
    );
    expect(Table?.LatestStreamArn).toBeUndefined();
    expect(Table?.StreamSpecification).toBeUndefined();
    const streams = new DynamoDBStreamsClient(dynamoConfig('dynalite'));
    await expect(streams.send(new ListStreamsCommand({}))).rejects.toMatchObject({
      name: 'UnknownOperationException',
    });
    await expect(readStream('dynalite', table.tableName)).rejects.toThrow(/has no stream/);
  });
});
