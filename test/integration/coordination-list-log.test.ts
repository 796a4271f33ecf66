import { randomUUID } from 'node:crypto';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { type DynamoDBDocumentClient, GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { createDocumentClient } from '../../functions/core/aws/dynamodb.ts';
import { ManualClock } from '../../functions/core/clock.ts';
import { ValidationError } from '../../functions/core/errors.ts';
import { ensureEventsTable } from '../../functions/core/registry/create-table.ts';
import { DynamoEventLog } from '../../functions/core/streaming/dynamo-event-log.ts';
import type { CoordinationEventInput } from '../../functions/core/streaming/events.ts';
import { EVENTS_TABLE } from '../../functions/core/streaming/table.ts';
import { type DynamoEngineName, dynamoConfig, ENGINES } from '../support/dynamo.ts';

/**
 * The listing side of DynamoEventLog on both DynamoDB engines the project runs on: each run's
 * summary kept on its head item by the appends of its start and end, and the `byStart` index
 * paged through newest first.
 */
const startedOf = (
  pattern: 'sequential' | 'parallel',
  mode: 'express' | 'standard',
  agents: string[],
): CoordinationEventInput => ({
  type: 'coordination.started',
  pattern,
  mode,
  steps: agents.map((agentId, i) => ({ stepId: `step${i + 1}`, agentId })),
});

const finishedOf = (
  status: 'succeeded' | 'failed' | 'cancelled',
  totalMs: number | undefined,
): CoordinationEventInput => ({
  type: 'coordination.finished',
  status,
  result: totalMs === undefined ? { status } : { status, timings: { totalMs } },
});

const step: CoordinationEventInput = {
  type: 'step.started',
  stepId: 'step1',
  agentId: 'a',
};

describe.each(ENGINES)('coordination summaries on %s', (engine: DynamoEngineName) => {
  let tableName: string;
  let client: DynamoDBDocumentClient;
  let clock: ManualClock;
  let log: DynamoEventLog;
  /** Every test lists from its own start on: the table is shared by the file. */
  let since: string;

  beforeAll(async () => {
    tableName = `events-${randomUUID()}`;
    await ensureEventsTable(new DynamoDBClient(dynamoConfig(engine)), tableName);
    client = createDocumentClient(dynamoConfig(engine));
    clock = new ManualClock(Date.parse('2026-12-01T09:00:00.000Z'));
  });

  beforeEach(() => {
    // A day later for each test: one test's runs are never in another's listing.
    clock.advance(86_400_000);
    since = new Date(clock.now()).toISOString();
    log = new DynamoEventLog({ tableName, client, clock });
  });

  afterEach(() => {
    vi.restoreAllMocks();
  });

  const head = async (coordinationId: string) =>
    (
      await client.send(
        new GetCommand({
          TableName: tableName,
          Key: { [EVENTS_TABLE.partitionKey]: coordinationId, [EVENTS_TABLE.sortKey]: 0 },
          ConsistentRead: true,
        }),
      )
    ).Item ?? {};

  /** Starts a run a second after the last one, and returns its id. */
  async function start(event = startedOf('sequential', 'express', ['a'])): Promise<string> {
    clock.advance(1000);
    const id = `c-${randomUUID()}`;
    await log.append(id, [event]);
    return id;
  }

  it('keeps the summary on the head, in the writes appends make anyway', async () => {
    const send = vi.spyOn(client, 'send');
    const id = await start(startedOf('parallel', 'standard', ['a', 'b', 'a']));
    const startedAt = new Date(clock.now()).toISOString();
    // One allocation and one item: the summary costs no write of its own.
    expect(send.mock.calls.map(([command]) => command.constructor.name)).toEqual([
      'UpdateCommand',
      'PutCommand',
    ]);
    expect(await head(id)).toMatchObject({
      listKey: 'coordinations',
      startedKey: `${startedAt}#${id}`,
      pattern: 'parallel',
      mode: 'standard',
      status: 'running',
      startedAt,
      steps: 3,
      agents: ['a', 'b'],
    });
    expect((await log.list({ since })).coordinations).toEqual([
      {
        coordinationId: id,
        pattern: 'parallel',
        mode: 'standard',
        status: 'running',
        startedAt,
        finishedAt: null,
        totalMs: null,
        steps: 3,
        agents: ['a', 'b'],
      },
    ]);
    // The same summary, read from the head itself (what DELETE reads before the index has it).
    expect(await log.summary(id)).toEqual((await log.list({ since })).coordinations[0]);
    expect(await log.summary(`c-${randomUUID()}`)).toBeUndefined();

    // Steps change nothing the listing holds; the end does.
    clock.advance(500);
    await log.append(id, [step]);
    clock.advance(2000);
    send.mockClear();
    await log.append(id, [finishedOf('failed', 2500.5)]);
    expect(send.mock.calls.map(([command]) => command.constructor.name)).toEqual([
      'UpdateCommand',
      'UpdateCommand', // the finished id, as before
      'PutCommand',
    ]);
    expect((await log.list({ since })).coordinations).toEqual([
      expect.objectContaining({
        coordinationId: id,
        status: 'failed',
        finishedAt: new Date(clock.now()).toISOString(),
        totalMs: 2500.5,
        startedAt,
      }),
    ]);
  });

  it('lists newest first, filtered, from since, and pages with a token of its own', async () => {
    const first = await start(startedOf('sequential', 'express', ['a']));
    await log.append(first, [finishedOf('succeeded', 10)]);
    const middle = new Date(clock.now() + 1).toISOString();
    const second = await start(startedOf('parallel', 'express', ['a', 'b']));
    await log.append(second, [finishedOf('failed', 20)]);
    const third = await start(startedOf('sequential', 'standard', ['b']));

    const ids = async (query: Parameters<DynamoEventLog['list']>[0]) =>
      (await log.list({ since, ...query })).coordinations.map((c) => c.coordinationId);
    expect(await ids({})).toEqual([third, second, first]);
    expect(await ids({ since: middle })).toEqual([third, second]);
    expect(await ids({ status: 'running' })).toEqual([third]);
    expect(await ids({ pattern: 'sequential' })).toEqual([third, first]);
    expect(await ids({ pattern: 'sequential', status: 'succeeded' })).toEqual([first]);

    const one = await log.list({ since, limit: 2 });
    expect(one.coordinations.map((c) => c.coordinationId)).toEqual([third, second]);
    expect(one.nextToken).toEqual(expect.any(String));
    const two = await log.list({ since, limit: 2, nextToken: one.nextToken as string });
    expect(two.coordinations.map((c) => c.coordinationId)).toEqual([first]);
    expect(two.nextToken).toBeUndefined();
    // Another listing's token is refused, naming the field.
    const error = await log
      .list({ since, limit: 2, status: 'failed', nextToken: one.nextToken as string })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).issues.map((i) => i.path)).toEqual(['nextToken']);
  });

  it('never sets a run running again, nor moves its start', async () => {
    const id = `c-${randomUUID()}`;
    clock.advance(1000);
    // Its end and its start in one append (a writer batching both): the end wins.
    await log.append(id, [startedOf('sequential', 'standard', ['a']), finishedOf('cancelled', 5)]);
    const startedAt = new Date(clock.now()).toISOString();
    expect((await log.list({ since })).coordinations).toEqual([
      expect.objectContaining({ coordinationId: id, status: 'cancelled', totalMs: 5, startedAt }),
    ]);
    // A second start (never written by Mobius, but possible): status and start stay.
    clock.advance(1000);
    await log.append(id, [startedOf('sequential', 'standard', ['a'])]);
    expect((await log.list({ since })).coordinations).toEqual([
      expect.objectContaining({ coordinationId: id, status: 'cancelled', startedAt }),
    ]);
  });

  it('counts the steps and agents a hierarchical run really ran once it ends, in the end’s own write', async () => {
    // Planned, a hierarchical run is its supervisor alone; the supervisor picks the workers.
    const id = await start({
      type: 'coordination.started',
      pattern: 'hierarchical',
      mode: 'standard',
      steps: [{ stepId: 'supervisor', agentId: 'boss' }],
    });
    expect((await log.list({ since })).coordinations).toEqual([
      expect.objectContaining({ coordinationId: id, steps: 1, agents: ['boss'] }),
    ]);
    const ran = (stepId: string, agentId: string, round: number) => ({
      stepId,
      agentId,
      status: 'succeeded',
      attempt: 0,
      round,
    });
    const send = vi.spyOn(client, 'send');
    await log.append(id, [
      {
        type: 'coordination.finished',
        status: 'succeeded',
        result: {
          pattern: 'hierarchical',
          status: 'succeeded',
          steps: [
            ran('supervisor', 'boss', 1),
            ran('w1', 'writer', 1),
            ran('w2', 'critic', 1),
            ran('supervisor', 'boss', 2),
            ran('w1', 'writer', 2),
            ran('supervisor', 'boss', 3),
          ],
          timings: { totalMs: 40 },
        },
      },
    ]);
    // No write more than any end costs: the allocation, the finished id, the item.
    expect(send.mock.calls.map(([command]) => command.constructor.name)).toEqual([
      'UpdateCommand',
      'UpdateCommand',
      'PutCommand',
    ]);
    expect((await log.list({ since })).coordinations).toEqual([
      expect.objectContaining({
        coordinationId: id,
        status: 'succeeded',
        steps: 6,
        agents: ['boss', 'writer', 'critic'],
      }),
    ]);

    // Started and ended in one append: the end's figures, set once.
    const both = `c-${randomUUID()}`;
    clock.advance(1000);
    await log.append(both, [
      {
        type: 'coordination.started',
        pattern: 'hierarchical',
        mode: 'express',
        steps: [{ stepId: 'supervisor', agentId: 'boss' }],
      },
      {
        type: 'coordination.finished',
        status: 'failed',
        result: {
          pattern: 'hierarchical',
          steps: [ran('supervisor', 'boss', 1), ran('w1', 'writer', 1)],
        },
      },
    ]);
    // Other patterns, and a hierarchical result naming no step, keep what was planned.
    const sequential = await start(startedOf('sequential', 'standard', ['a', 'b']));
    await log.append(sequential, [
      {
        type: 'coordination.finished',
        status: 'failed',
        result: { pattern: 'sequential', steps: [ran('step1', 'a', 1)] },
      },
    ]);
    const stopped = await start({
      type: 'coordination.started',
      pattern: 'hierarchical',
      mode: 'standard',
      steps: [{ stepId: 'supervisor', agentId: 'boss' }],
    });
    await log.append(stopped, [
      {
        type: 'coordination.finished',
        status: 'cancelled',
        result: { pattern: 'hierarchical', steps: [] },
      },
    ]);
    const listed = (await log.list({ since })).coordinations;
    const summaryOf = (coordinationId: string) =>
      listed.find((c) => c.coordinationId === coordinationId);
    expect(summaryOf(both)).toMatchObject({
      status: 'failed',
      steps: 2,
      agents: ['boss', 'writer'],
    });
    expect(summaryOf(sequential)).toMatchObject({ steps: 2, agents: ['a', 'b'] });
    expect(summaryOf(stopped)).toMatchObject({ status: 'cancelled', steps: 1, agents: ['boss'] });
  });

  it('counts the runs still running from since on, every page or at most the pages it may read', async () => {
    // Running, but started before `from`: not counted.
    await start();
    const from = new Date(clock.now() + 1).toISOString();
    const ended = await start(startedOf('parallel', 'standard', ['a', 'b']));
    await log.append(ended, [finishedOf('succeeded', 10)]);
    const running: string[] = [];
    for (let i = 0; i < 4; i++)
      running.push(await start(startedOf('sequential', 'standard', ['a'])));
    expect(await log.countRunning({ since: from, maxPages: 10 })).toEqual({
      count: 4,
      truncated: false,
    });
    // Two pages of two summaries, newest first: the four running read, the ended (oldest) not.
    expect(await log.countRunning({ since: from, maxPages: 2, pageSize: 2 })).toEqual({
      count: 4,
      truncated: true,
    });
    // A run's end takes it out of the count.
    await log.append(running[0] as string, [finishedOf('cancelled', 5)]);
    expect(await log.countRunning({ since: from, maxPages: 10 })).toEqual({
      count: 3,
      truncated: false,
    });
  });

  it('lists a result without timings with no duration, and leaves a malformed summary out, with a warning', async () => {
    const id = await start();
    await log.append(id, [finishedOf('succeeded', undefined)]);
    const broken = await start();
    await client.send(
      new UpdateCommand({
        TableName: tableName,
        Key: { [EVENTS_TABLE.partitionKey]: broken, [EVENTS_TABLE.sortKey]: 0 },
        UpdateExpression: 'SET #status = :status',
        ExpressionAttributeNames: { '#status': 'status' },
        ExpressionAttributeValues: { ':status': 'exploded' },
      }),
    );
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => undefined);
    expect((await log.list({ since })).coordinations).toEqual([
      expect.objectContaining({ coordinationId: id, status: 'succeeded', totalMs: null }),
    ]);
    expect(warn).toHaveBeenCalledTimes(1);
    expect(warn.mock.calls[0]?.[0]).toContain(`summary of coordination ${broken} is malformed`);
  });
});
