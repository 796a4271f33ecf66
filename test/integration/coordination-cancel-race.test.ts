import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CoordinationEngine } from '../../functions/coordination/engine.ts';
import { CoordinationService } from '../../functions/coordination/service.ts';
import { createDocumentClient } from '../../functions/core/aws/dynamodb.ts';
import { ConflictError } from '../../functions/core/errors.ts';
import { AgentRegistry } from '../../functions/core/registry/agent-registry.ts';
import { ensureEventsTable } from '../../functions/core/registry/create-table.ts';
import { DynamoEventLog } from '../../functions/core/streaming/dynamo-event-log.ts';
import type { CoordinationSummary } from '../../functions/core/streaming/events.ts';
import { EmbeddedEngine } from '../../functions/embedded/embedded-engine.ts';
import { AgentFleet } from '../compiler/agents.ts';
import { dynamoConfig, freshRegistryTable } from '../support/dynamo.ts';

/**
 * DELETE /coordinations/{id} right after GET /coordinations listed the run, before its
 * coordination.started can be read: the append that logs a start writes the run's summary on its
 * head item (what the listing reads) a moment before the item holding the event, and the engine
 * is asked to start the run only after both. The event log on dynalite, whose PutItem of the
 * started event the test holds; the embedded engine running the compiled machine; SDK agents.
 */
const lambda = (id: string) => `arn:aws:lambda:us-east-1:123456789012:function:${id}`;

/** PutItems wait here while a hold is set: the next event item is written when the test says. */
let hold: Promise<void> | undefined;
let release: () => void = () => undefined;
function holdNextEventItem(): void {
  hold = new Promise((resolve) => {
    release = () => {
      hold = undefined;
      resolve();
    };
  });
}

let service: CoordinationService;
let log: DynamoEventLog;
let engine: EmbeddedEngine;
/** Resolves when the engine has been asked about a run it did not know. */
let askedUnknown: Promise<void> = Promise.resolve();
let markAskedUnknown: () => void = () => undefined;
const since = new Date().toISOString();

beforeAll(async () => {
  const config = dynamoConfig('dynalite');
  const tableName = `events-${randomUUID()}`;
  await ensureEventsTable(new DynamoDBClient(config), tableName);
  const client = createDocumentClient(config);
  client.middlewareStack.add(
    (next, context) => async (args) => {
      if (context.commandName?.startsWith('Put') && hold !== undefined) await hold;
      return next(args);
    },
    { step: 'initialize', name: 'holdEventItem' },
  );
  log = new DynamoEventLog({ tableName, client });
  const registryTable = await freshRegistryTable('dynalite');
  const registry = new AgentRegistry({
    tableName: registryTable.tableName,
    client: registryTable.client,
  });
  // Standard runs hand their tasks to a queue: the slow agent has one (the fleet answers them).
  const endpoints = {
    quick: { lambdaArn: lambda('quick') },
    slow: { queueUrl: 'https://sqs.us-east-1.amazonaws.com/123456789012/slow' },
  };
  for (const [agentId, endpoint] of Object.entries(endpoints)) {
    await registry.register({
      agentId,
      agentType: 'test',
      description: `agent ${agentId}`,
      capabilities: [{ name: `cap-${agentId}`, version: '1.0.0' }],
      endpoint,
    });
    await registry.heartbeat(agentId);
  }
  engine = new EmbeddedEngine(new AgentFleet({ slow: { delayMs: 3000 } }).invoke, { events: log });
  const watched: CoordinationEngine = {
    runSync: (machine, input) => engine.runSync(machine, input),
    start: (machine, input) => engine.start(machine, input),
    describe: async (coordinationId) => {
      const status = await engine.describe(coordinationId);
      if (status === undefined) markAskedUnknown();
      return status;
    },
    stop: (coordinationId, reason) => engine.stop(coordinationId, reason),
  };
  service = new CoordinationService({ registry, engine: watched, events: log });
}, 30_000);

afterAll(async () => {
  release();
  await engine?.drain();
  await service?.close();
});

/** The run the listing shows first once it shows one more than `known` (bounded). */
async function listedRun(known: ReadonlySet<string>): Promise<CoordinationSummary> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const listed = (await log.list({ since })).coordinations.find(
      (c) => !known.has(c.coordinationId),
    );
    if (listed !== undefined) return listed;
    await sleep(10);
  }
  throw new Error('the run was never listed');
}

const seen = new Set<string>();

describe('cancelling a run the listing shows before its start can be read', () => {
  it('refuses an express run with the 409 of any express run, not a 404', async () => {
    holdNextEventItem();
    askedUnknown = new Promise((resolve) => {
      markAskedUnknown = resolve;
    });
    const running = service.run({ pattern: 'sequential', agents: ['quick'] });
    const listed = await listedRun(seen);
    seen.add(listed.coordinationId);
    expect(listed).toMatchObject({ mode: 'express', status: 'running' });
    // The race: listed, but its started event is not in the log yet.
    expect(await log.read(listed.coordinationId)).toEqual([]);

    const error = await service.cancel(listed.coordinationId).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConflictError);
    expect((error as ConflictError).details).toEqual({
      coordinationId: listed.coordinationId,
      mode: 'express',
    });
    release();
    const response = await running;
    expect(response.state === 'completed' && response.result.status).toBe('succeeded');
  });

  it('cancels a standard run once its execution exists', async () => {
    holdNextEventItem();
    askedUnknown = new Promise((resolve) => {
      markAskedUnknown = resolve;
    });
    const running = service.run({
      pattern: 'sequential',
      agents: ['slow'],
      mode: 'standard',
    });
    const listed = await listedRun(seen);
    seen.add(listed.coordinationId);
    const id = listed.coordinationId;
    expect(listed).toMatchObject({ mode: 'standard', status: 'running' });
    expect(await log.read(id)).toEqual([]);

    const cancelled = service.cancel(id, { by: 'ops' });
    // The engine has been asked and does not know the run yet; now let its start go on.
    await askedUnknown;
    release();
    expect(await cancelled).toEqual({ coordinationId: id, status: 'cancelled' });
    expect((await running).state).toBe('running');
    const response = await service.get(id);
    expect(response.state === 'completed' && response.result).toMatchObject({
      status: 'cancelled',
      errors: [
        expect.objectContaining({
          error: 'Mobius.CoordinationCancelled',
          cause: expect.stringContaining('cancelled by ops'),
        }),
      ],
    });
    expect((await log.read(id)).map((event) => event.type)).toContain('coordination.finished');
    expect(await log.summary(id)).toMatchObject({ status: 'cancelled' });
  });
});
