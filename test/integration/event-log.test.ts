import { randomUUID } from 'node:crypto';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  DeleteCommand,
  type DynamoDBDocumentClient,
  PutCommand,
  QueryCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { createDocumentClient } from '../../functions/core/aws/dynamodb.ts';
import { ManualClock } from '../../functions/core/clock.ts';
import { ensureEventsTable } from '../../functions/core/registry/create-table.ts';
import {
  DynamoEventLog,
  EventTooLargeError,
  GAP_WAIT_MS,
  MAX_ITEM_BYTES,
} from '../../functions/core/streaming/dynamo-event-log.ts';
import { createEventWriter } from '../../functions/core/streaming/event-writer.ts';
import type {
  CoordinationEvent,
  CoordinationEventInput,
} from '../../functions/core/streaming/events.ts';
import { EVENTS_TABLE } from '../../functions/core/streaming/table.ts';
import { type DynamoEngineName, dynamoConfig, ENGINES } from '../support/dynamo.ts';

const chunk = (stepId: string, seq: number, text = `token ${seq} `): CoordinationEventInput => ({
  type: 'step.chunk',
  stepId,
  agentId: 'writer',
  chunk: { seq, text },
});

const finished: CoordinationEventInput = {
  type: 'coordination.finished',
  status: 'succeeded',
  result: { status: 'succeeded' },
};

const started: CoordinationEventInput = {
  type: 'step.started',
  stepId: 's1',
  agentId: 'writer',
  candidate: 0,
};

/** The chunk seqs of `events` whose step is `stepId`, in the order given. */
const seqsOf = (events: readonly CoordinationEvent[], stepId = 's1') =>
  events.flatMap((e) => (e.type === 'step.chunk' && e.stepId === stepId ? [e.chunk.seq] : []));

/** Takes `count` events from a follower, or fails after `ms`: a test never hangs on a follower. */
async function take(
  follower: AsyncGenerator<CoordinationEvent>,
  count: number,
  ms = 10_000,
): Promise<CoordinationEvent[]> {
  const events: CoordinationEvent[] = [];
  const deadline = Date.now() + ms;
  while (events.length < count) {
    const next = await within(follower.next(), deadline - Date.now());
    if (next.done) break;
    events.push(next.value);
  }
  return events;
}

/** Everything a follower yields until it ends, or fails after `ms`. */
const drain = (follower: AsyncGenerator<CoordinationEvent>, ms = 10_000) =>
  take(follower, Number.POSITIVE_INFINITY, ms);

function within<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), Math.max(0, ms));
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

describe.each(ENGINES)('DynamoEventLog on %s', (engine: DynamoEngineName) => {
  let tableName: string;
  let client: DynamoDBDocumentClient;
  let log: DynamoEventLog;
  let id: string;

  beforeAll(async () => {
    tableName = `events-${randomUUID()}`;
    await ensureEventsTable(new DynamoDBClient(dynamoConfig(engine)), tableName);
    client = createDocumentClient(dynamoConfig(engine));
  });

  beforeEach(() => {
    log = new DynamoEventLog({ tableName, client });
    id = `c-${randomUUID()}`;
  });

  afterEach(() => {
    vi.restoreAllMocks();
  });

  /** The coordination's raw items, head first. */
  async function items(coordinationId = id): Promise<Record<string, unknown>[]> {
    const found: Record<string, unknown>[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const page = await client.send(
        new QueryCommand({
          TableName: tableName,
          KeyConditionExpression: 'coordinationId = :id',
          ExpressionAttributeValues: { ':id': coordinationId },
          ExclusiveStartKey: start,
        }),
      );
      found.push(...(page.Items ?? []));
      start = page.LastEvaluatedKey;
    } while (start !== undefined);
    return found;
  }

  describe('append and read', () => {
    it('numbers events 1, 2, 3… in the order appended, across appends', async () => {
      const first = await log.append(id, [started, chunk('s1', 0), chunk('s1', 1)]);
      const second = await log.append(id, [chunk('s1', 2), finished]);
      expect(first.map((e) => e.id)).toEqual([1, 2, 3]);
      expect(second.map((e) => e.id)).toEqual([4, 5]);
      const read = await log.read(id);
      expect(read).toEqual([...first, ...second]);
      expect(read.map((e) => e.type)).toEqual([
        'step.started',
        'step.chunk',
        'step.chunk',
        'step.chunk',
        'coordination.finished',
      ]);
      expect(read.every((e) => e.coordinationId === id && !Number.isNaN(Date.parse(e.time)))).toBe(
        true,
      );
    });

    it('reads after an id in the middle of an append, at most `limit` events', async () => {
      await log.append(
        id,
        [0, 1, 2, 3, 4].map((seq) => chunk('s1', seq)),
      );
      await log.append(
        id,
        [5, 6, 7].map((seq) => chunk('s1', seq)),
      );
      expect((await log.read(id, { after: 2 })).map((e) => e.id)).toEqual([3, 4, 5, 6, 7, 8]);
      expect((await log.read(id, { after: 2, limit: 4 })).map((e) => e.id)).toEqual([3, 4, 5, 6]);
      expect((await log.read(id, { after: 5 })).map((e) => e.id)).toEqual([6, 7, 8]);
      expect(await log.read(id, { after: 8 })).toEqual([]);
      expect(await log.read(`c-${randomUUID()}`)).toEqual([]);
    });

    it('reads no more items than a small limit needs, however long the log', async () => {
      for (let seq = 0; seq < 30; seq++) await log.append(id, [chunk('s1', seq)]);
      const itemsRead: number[] = [];
      const counted = createDocumentClient(dynamoConfig(engine));
      counted.middlewareStack.add(
        (next, context) => async (args) => {
          const result = await next(args);
          if (context.commandName?.startsWith('Query'))
            itemsRead.push(Number((result.output as { Count?: number }).Count));
          return result;
        },
        { step: 'initialize', name: 'count' },
      );
      const reader = new DynamoEventLog({ tableName, client: counted });
      expect((await reader.read(id, { limit: 1 })).map((e) => e.id)).toEqual([1]);
      expect((await reader.read(id, { after: 10, limit: 3 })).map((e) => e.id)).toEqual([
        11, 12, 13,
      ]);
      expect(Math.max(...itemsRead)).toBeLessThanOrEqual(4);
      expect((await reader.read(id, { after: 10 })).map((e) => e.id)).toHaveLength(20);
    });

    it('keeps each coordination apart', async () => {
      const other = `c-${randomUUID()}`;
      await log.append(id, [chunk('s1', 0)]);
      await log.append(other, [chunk('s1', 0), chunk('s1', 1)]);
      expect((await log.read(id)).map((e) => e.id)).toEqual([1]);
      expect((await log.read(other)).map((e) => e.id)).toEqual([1, 2]);
    });

    it('splits a batch too large for one item into several, each with its own ids, in order', async () => {
      const big = 'x'.repeat(200 * 1024);
      const events = [0, 1, 2, 3, 4].map((seq) => chunk('s1', seq, `${seq}${big}`));
      const appended = await log.append(id, events);
      expect(appended.map((e) => e.id)).toEqual([1, 2, 3, 4, 5]);
      const stored = (await items()).filter((item) => item.seq !== 0);
      expect(stored.length).toBeGreaterThanOrEqual(3);
      for (const item of stored)
        expect(Buffer.byteLength(String(item.events))).toBeLessThanOrEqual(MAX_ITEM_BYTES);
      const read = await log.read(id);
      expect(
        read.map((e) => (e.type === 'step.chunk' && 'text' in e.chunk ? e.chunk.text : '')),
      ).toEqual(
        events.map((e) => (e.type === 'step.chunk' && 'text' in e.chunk ? e.chunk.text : '')),
      );
    });

    it('sets expiresAt, a week on, on the head and on every event item', async () => {
      const clock = new ManualClock();
      const timed = new DynamoEventLog({ tableName, client, clock });
      await timed.append(id, [started, chunk('s1', 0)]);
      await timed.countStart(id, 's1#0');
      await timed.append(id, [chunk('s1', 1)]);
      const expected = Math.floor(clock.now() / 1000) + EVENTS_TABLE.retentionSeconds;
      const all = await items();
      expect(all).toHaveLength(3);
      for (const item of all) expect(item.expiresAt).toBe(expected);
      const read = await timed.read(id);
      expect(read.map((e) => e.time)).toEqual(Array(3).fill(new Date(clock.now()).toISOString()));
    });

    it('skips a malformed event or item with a warning, keeping the rest', async () => {
      const warn = vi.spyOn(console, 'warn').mockImplementation(() => undefined);
      await log.append(id, [started]);
      // A writer that did not go through append: one bad event in an item, then a broken item.
      await client.send(
        new UpdateCommand({
          TableName: tableName,
          Key: { coordinationId: id, seq: 0 },
          UpdateExpression: 'ADD head :n',
          ExpressionAttributeValues: { ':n': 3 },
        }),
      );
      await client.send(
        new PutCommand({
          TableName: tableName,
          Item: {
            coordinationId: id,
            seq: 2,
            count: 2,
            time: new Date().toISOString(),
            events: JSON.stringify([{ type: 'step.chunk', stepId: 's1' }, chunk('s1', 1)]),
          },
        }),
      );
      await client.send(
        new PutCommand({ TableName: tableName, Item: { coordinationId: id, seq: 4, events: 7 } }),
      );
      await log.append(id, [chunk('s1', 2), finished]);
      const read = await log.read(id);
      expect(read.map((e) => e.id)).toEqual([1, 3, 5, 6]);
      expect(seqsOf(read)).toEqual([1, 2]);
      expect(warn).toHaveBeenCalledTimes(2);
      warn.mockClear();
      const followed = await drain(log.follow(id));
      expect(followed.map((e) => e.id)).toEqual([1, 3, 5, 6]);
      expect(warn).toHaveBeenCalledTimes(2);
    });
  });

  describe('append under the SDK’s retries', () => {
    /** A client whose first PutItem is written, then answered with a reset connection. */
    function losingFirstAnswer() {
      const sent = { puts: 0 };
      const lossy = createDocumentClient(dynamoConfig(engine));
      lossy.middlewareStack.add(
        (next, context) => async (args) => {
          const result = await next(args);
          if (context.commandName?.startsWith('Put') && sent.puts++ === 0)
            throw Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
          return result;
        },
        // Inside the retry loop: the SDK retries what this throws, as it would a real reset.
        { step: 'deserialize', name: 'loseFirstAnswer' },
      );
      return { lossy, sent };
    }

    it('counts a PutItem written once but answered with an error, then retried, as written', async () => {
      const { lossy, sent } = losingFirstAnswer();
      const appended = await new DynamoEventLog({ tableName, client: lossy }).append(id, [
        started,
        chunk('s1', 0),
      ]);
      expect(sent.puts).toBe(2);
      expect(appended.map((e) => e.id)).toEqual([1, 2]);
      expect((await log.read(id)).map((e) => e.id)).toEqual([1, 2]);
    });

    it('still refuses to overwrite an item someone else wrote under the same id', async () => {
      // What a head removed by TTL before its older items would do: count from 1 again.
      const theirs = JSON.stringify([chunk('old', 0)]);
      await client.send(
        new PutCommand({
          TableName: tableName,
          Item: {
            coordinationId: id,
            seq: 1,
            count: 1,
            time: new Date(0).toISOString(),
            events: theirs,
          },
        }),
      );
      await expect(log.append(id, [started])).rejects.toThrow(/conditional/i);
      const kept = (await items()).find((item) => item.seq === 1);
      expect(kept?.events).toBe(theirs);
    });

    it('still writes coordination.finished when recording its id on the head fails, with a warning', async () => {
      const warn = vi.spyOn(console, 'warn').mockImplementation(() => undefined);
      // Throttled past the SDK's retries: only the UpdateItem recording the finished id fails.
      const throttled = createDocumentClient(dynamoConfig(engine));
      throttled.middlewareStack.add(
        (next, context) => async (args) => {
          const input = args.input as { UpdateExpression?: string };
          if (
            context.commandName?.startsWith('Update') &&
            input.UpdateExpression?.includes('#finished')
          )
            throw Object.assign(new Error('Rate of requests exceeds the allowed throughput'), {
              name: 'ThrottlingException',
            });
          return next(args);
        },
        { step: 'initialize', name: 'throttleMarkFinished' },
      );
      const appended = await new DynamoEventLog({ tableName, client: throttled }).append(id, [
        started,
        finished,
      ]);
      expect(appended.map((e) => e.id)).toEqual([1, 2]);
      expect((await log.read(id)).map((e) => e.type)).toEqual([
        'step.started',
        'coordination.finished',
      ]);
      // A follower still ends on it.
      expect((await drain(log.follow(id), 5_000)).map((e) => e.id)).toEqual([1, 2]);
      expect(await log.finishedId(id)).toBeUndefined();
      expect(warn).toHaveBeenCalledTimes(1);
      expect(warn.mock.calls[0]?.[0]).toMatch(
        new RegExp(
          `could not record coordination ${id}'s finished event \\(id 2\\).*ThrottlingException`,
        ),
      );
    });

    it('refuses an event too large for an item before it takes an id', async () => {
      const huge = chunk('s1', 0, 'x'.repeat(MAX_ITEM_BYTES));
      await expect(log.append(id, [started, huge])).rejects.toThrow(EventTooLargeError);
      expect(await items()).toEqual([]);
    });
  });

  describe('countStart', () => {
    it('counts 1, 2, 3 per key, apart from other keys and from event ids', async () => {
      expect(await log.countStart(id, 's1#0')).toBe(1);
      expect(await log.countStart(id, 's1#0')).toBe(2);
      expect(await log.countStart(id, 's1#1')).toBe(1);
      expect(await log.countStart(id, 's1#0')).toBe(3);
      expect(await log.countStart(id, 'sup#0#r2')).toBe(1);
      expect((await log.append(id, [started])).map((e) => e.id)).toEqual([1]);
      expect(await log.countStart(id, 's1#1')).toBe(2);
    });
  });

  describe('what concurrent steps of one coordination cost', () => {
    /** The log on a client that counts the commands it sends, by name. */
    function countingLog(): { log: DynamoEventLog; sent: string[] } {
      const sent: string[] = [];
      const counted = createDocumentClient(dynamoConfig(engine));
      counted.middlewareStack.add(
        (next, context) => async (args) => {
          sent.push(String(context.commandName));
          return next(args);
        },
        { step: 'initialize', name: 'count-commands' },
      );
      return { log: new DynamoEventLog({ tableName, client: counted }), sent };
    }

    it('appends made in one turn of the event loop share one allocation and one item', async () => {
      const { log: shared, sent } = countingLog();
      const written = await Promise.all(
        Array.from({ length: 20 }, (_, step) =>
          shared.append(id, [chunk(`s${step}`, 0), chunk(`s${step}`, 1)]),
        ),
      );
      expect(sent).toEqual(['UpdateItemCommand', 'PutItemCommand']);
      // Each caller gets its own two events back, contiguous, in its order.
      written.forEach((events, step) => {
        expect(events.map((e) => ('stepId' in e ? e.stepId : ''))).toEqual([
          `s${step}`,
          `s${step}`,
        ]);
        expect(events[1]?.id).toBe((events[0]?.id ?? 0) + 1);
      });
      expect((await log.read(id)).map((e) => e.id)).toEqual(
        Array.from({ length: 40 }, (_, i) => i + 1),
      );
    });

    it('start counts made in one turn share one UpdateItem, and the same key counts on', async () => {
      const { log: shared, sent } = countingLog();
      const counts = await Promise.all([
        ...Array.from({ length: 60 }, (_, step) => shared.countStart(id, `s${step}#0`)),
        shared.countStart(id, 's0#0'),
      ]);
      // 61 calls, 60 keys: two UpdateItems (at most 50 keys each).
      expect(sent).toEqual(['UpdateItemCommand', 'UpdateItemCommand']);
      expect(counts.slice(0, 60)).toEqual(Array.from({ length: 60 }, () => 1));
      expect(counts[60]).toBe(2);
      expect(await shared.countStart(id, 's0#0')).toBe(3);
    });
  });

  describe('writers', () => {
    it('appends one writer’s events in the order pushed', async () => {
      const writer = createEventWriter(log, id);
      await writer.push(started);
      for (let seq = 0; seq < 250; seq++) await writer.push(chunk('s1', seq));
      await writer.push(finished);
      await writer.close();
      const read = await log.read(id);
      expect(read.map((e) => e.id)).toEqual(Array.from({ length: 252 }, (_, i) => i + 1));
      expect(read[0]?.type).toBe('step.started');
      expect(seqsOf(read)).toEqual(Array.from({ length: 250 }, (_, i) => i));
      expect(read.at(-1)?.type).toBe('coordination.finished');
    });

    it('takes 10 000 chunks through one writer: all read back, in order, in a few hundred items at most', async () => {
      const writer = createEventWriter(log, id);
      for (let seq = 0; seq < 10_000; seq++) await writer.push(chunk('s1', seq));
      await writer.close();
      const read = await log.read(id);
      expect(read).toHaveLength(10_000);
      expect(read.map((e) => e.id)).toEqual(Array.from({ length: 10_000 }, (_, i) => i + 1));
      expect(seqsOf(read)).toEqual(Array.from({ length: 10_000 }, (_, i) => i));
      const eventItems = (await items()).length - 1;
      expect(eventItems).toBeGreaterThanOrEqual(10);
      expect(eventItems).toBeLessThanOrEqual(300);
    });

    it('gives two writers at once every event exactly once, each writer’s order kept', async () => {
      const a = createEventWriter(log, id);
      const b = createEventWriter(new DynamoEventLog({ tableName, client }), id);
      const write = async (writer: typeof a, stepId: string) => {
        for (let seq = 0; seq < 1_000; seq++) await writer.push(chunk(stepId, seq));
        await writer.close();
      };
      await Promise.all([write(a, 'a'), write(b, 'b')]);
      const read = await log.read(id);
      expect(read.map((e) => e.id)).toEqual(Array.from({ length: 2_000 }, (_, i) => i + 1));
      expect(seqsOf(read, 'a')).toEqual(Array.from({ length: 1_000 }, (_, i) => i));
      expect(seqsOf(read, 'b')).toEqual(Array.from({ length: 1_000 }, (_, i) => i));
    });
  });

  describe('follow', () => {
    it('replays everything to a late subscriber and ends after coordination.finished', async () => {
      await log.append(id, [started, chunk('s1', 0)]);
      await log.append(id, [chunk('s1', 1), finished]);
      const followed = await drain(log.follow(id));
      expect(followed.map((e) => e.id)).toEqual([1, 2, 3, 4]);
      expect(followed.at(-1)?.type).toBe('coordination.finished');
    });

    it('resumes after `after`, also from the middle of an append', async () => {
      await log.append(id, [started, chunk('s1', 0), chunk('s1', 1)]);
      await log.append(id, [chunk('s1', 2), finished]);
      expect((await drain(log.follow(id, { after: 2 }))).map((e) => e.id)).toEqual([3, 4, 5]);
      expect((await drain(log.follow(id, { after: 3 }))).map((e) => e.id)).toEqual([4, 5]);
    });

    it('ends at once when resumed after the end of a finished coordination', async () => {
      await log.append(id, [started, finished]);
      // After the last event, and from an id the log never reached: nothing to wait for.
      expect(await drain(log.follow(id, { after: 2 }))).toEqual([]);
      expect(await drain(log.follow(id, { after: 50 }))).toEqual([]);
    });

    it('ends at once when resumed after coordination.finished, though events were appended after it', async () => {
      await log.append(id, [started, finished]);
      // An abandoned express step's Lambda streams on after the run ended.
      for (let seq = 0; seq < 3; seq++) await log.append(id, [chunk('late', seq)]);
      // An EventSource reconnecting with the finished event's id, or a little past it.
      expect(await drain(log.follow(id, { after: 2 }), 5_000)).toEqual([]);
      expect(await drain(log.follow(id, { after: 4 }), 5_000)).toEqual([]);
      // A replay still ends with the finished event, never yielding what came after it.
      expect((await drain(log.follow(id), 5_000)).map((e) => e.id)).toEqual([1, 2]);
      expect((await drain(log.follow(id, { after: 1 }), 5_000)).map((e) => e.id)).toEqual([2]);
    });

    it('sees an append in this process at once, without waiting for its next poll', async () => {
      // A poll interval longer than the test's bound: only the in-process wake-up can deliver.
      const follower = new DynamoEventLog({ tableName, client, pollMs: 600_000 }).follow(id);
      await log.append(id, [started]);
      expect((await take(follower, 1)).map((e) => e.type)).toEqual(['step.started']);
      const pending = take(follower, 2);
      const writer = new DynamoEventLog({
        tableName,
        client: createDocumentClient(dynamoConfig(engine)),
      });
      await writer.append(id, [chunk('s1', 0)]);
      await writer.append(id, [finished]);
      expect((await pending).map((e) => e.id)).toEqual([2, 3]);
      expect(await within(follower.next(), 10_000)).toEqual({ done: true, value: undefined });
    });

    it('polls for appends from elsewhere', async () => {
      const follower = new DynamoEventLog({ tableName, client, pollMs: 20 }).follow(id);
      const pending = take(follower, 2);
      // Another table name's wake-ups never reach this follower; only its polls find the events.
      await client.send(
        new UpdateCommand({
          TableName: tableName,
          Key: { coordinationId: id, seq: 0 },
          UpdateExpression: 'ADD head :n',
          ExpressionAttributeValues: { ':n': 2 },
        }),
      );
      await client.send(
        new PutCommand({
          TableName: tableName,
          Item: {
            coordinationId: id,
            seq: 1,
            count: 2,
            time: new Date().toISOString(),
            events: JSON.stringify([started, finished]),
          },
        }),
      );
      expect((await pending).map((e) => e.type)).toEqual(['step.started', 'coordination.finished']);
    });

    it('ends quietly when aborted while it waits', async () => {
      const controller = new AbortController();
      const follower = new DynamoEventLog({ tableName, client, pollMs: 600_000 }).follow(id, {
        signal: controller.signal,
      });
      await log.append(id, [started]);
      expect(await take(follower, 1)).toHaveLength(1);
      const next = follower.next();
      // It has read everything there is: a macrotask later it is waiting for its next poll.
      await new Promise((resolve) => setTimeout(resolve, 50));
      controller.abort();
      expect(await within(next, 10_000)).toEqual({ done: true, value: undefined });
    });

    it('waits for an id taken but not yet written, and yields in id order', async () => {
      // The first writer's PutItem waits at a gate after its ids are taken.
      let reached: () => void = () => undefined;
      const atGate = new Promise<void>((resolve) => {
        reached = resolve;
      });
      let open: () => void = () => undefined;
      const gate = new Promise<void>((resolve) => {
        open = resolve;
      });
      const slow = createDocumentClient(dynamoConfig(engine));
      slow.middlewareStack.add(
        (next, context) => async (args) => {
          if (context.commandName?.startsWith('Put')) {
            reached();
            await gate;
          }
          return next(args);
        },
        { step: 'initialize', name: 'gate' },
      );
      // The follower's reads that began after id 3 was written: each of them saw id 2 missing.
      let watching = false;
      let readsPastGap = 0;
      const watched = createDocumentClient(dynamoConfig(engine));
      watched.middlewareStack.add(
        (next, context) => async (args) => {
          const counts = watching && context.commandName?.startsWith('Query') === true;
          const result = await next(args);
          if (counts) readsPastGap++;
          return result;
        },
        { step: 'initialize', name: 'watch' },
      );
      const warn = vi.spyOn(console, 'warn').mockImplementation(() => undefined);
      await log.append(id, [started]);
      const follower = new DynamoEventLog({ tableName, client: watched, pollMs: 20 }).follow(id);
      expect((await take(follower, 1)).map((e) => e.id)).toEqual([1]);
      const early = new DynamoEventLog({ tableName, client: slow }).append(id, [chunk('s1', 0)]);
      await atGate;
      await log.append(id, [chunk('s1', 1)]);
      watching = true;
      // Id 2 is taken but not written: a plain read shows what exists, a follower waits.
      expect((await log.read(id)).map((e) => e.id)).toEqual([1, 3]);
      const rest = drain(follower);
      for (let i = 0; i < 500 && readsPastGap < 2; i++)
        await new Promise((resolve) => setTimeout(resolve, 10));
      expect(readsPastGap).toBeGreaterThanOrEqual(2);
      open();
      await early;
      // The run finishes once its steps' writes are done (each step awaits its writer).
      await log.append(id, [finished]);
      expect((await rest).map((e) => e.id)).toEqual([2, 3, 4]);
      expect(warn).not.toHaveBeenCalled();
    });

    it('moves past ids whose writer never wrote them after the gap wait, with one warning', async () => {
      const warn = vi.spyOn(console, 'warn').mockImplementation(() => undefined);
      await log.append(id, [started]);
      // A writer that died between taking ids 2 and 3 and writing them.
      await client.send(
        new UpdateCommand({
          TableName: tableName,
          Key: { coordinationId: id, seq: 0 },
          UpdateExpression: 'ADD head :n',
          ExpressionAttributeValues: { ':n': 2 },
        }),
      );
      const beforeLaterWrite = Date.now();
      await log.append(id, [chunk('s1', 0)]);
      const follower = new DynamoEventLog({ tableName, client, pollMs: 20, gapWaitMs: 300 }).follow(
        id,
      );
      expect((await take(follower, 2)).map((e) => e.id)).toEqual([1, 4]);
      await log.append(id, [finished]);
      expect((await drain(follower)).map((e) => e.id)).toEqual([5]);
      // Ids 2 and 3 were missing from the moment id 4 was written.
      expect(Date.now() - beforeLaterWrite).toBeGreaterThanOrEqual(300);
      expect(warn).toHaveBeenCalledTimes(1);
      expect(warn.mock.calls[0]?.[0]).toMatch(
        /events 2…3 of coordination \S+ were not written within 300 ms of their ids being taken; going on from 4/,
      );
    });

    it('moves past ids missing below a coordination.finished it can see at once, with one warning', async () => {
      const warn = vi.spyOn(console, 'warn').mockImplementation(() => undefined);
      await log.append(id, [started]);
      // An abandoned step's writer took ids 2 and 3 and never wrote them; then the run finished.
      // Every step's writer finishes before its result returns, so none of them is still coming.
      await client.send(
        new UpdateCommand({
          TableName: tableName,
          Key: { coordinationId: id, seq: 0 },
          UpdateExpression: 'ADD head :n',
          ExpressionAttributeValues: { ':n': 2 },
        }),
      );
      await log.append(id, [chunk('s1', 0), finished]);
      // A gap wait far longer than the test's bound: only the visible end can cut it short.
      const reader = new DynamoEventLog({ tableName, client, pollMs: 20, gapWaitMs: 600_000 });
      expect((await drain(reader.follow(id), 5_000)).map((e) => e.id)).toEqual([1, 4, 5]);
      expect(warn).toHaveBeenCalledTimes(1);
      expect(warn.mock.calls[0]?.[0]).toMatch(
        /events 2…3 of coordination \S+ were never written and the run has finished since, so their writer had stopped .*; going on from 4/,
      );
    });

    it('says a live log’s missing start expired or was never written, not that it expired', async () => {
      const warn = vi.spyOn(console, 'warn').mockImplementation(() => undefined);
      // The append of the first event took id 1 and failed (or its writer died) before writing it.
      await client.send(
        new UpdateCommand({
          TableName: tableName,
          Key: { coordinationId: id, seq: 0 },
          UpdateExpression: 'ADD head :n',
          ExpressionAttributeValues: { ':n': 1 },
        }),
      );
      await log.append(id, [chunk('s1', 0)]);
      const follower = new DynamoEventLog({ tableName, client, pollMs: 20, gapWaitMs: 300 }).follow(
        id,
      );
      expect((await take(follower, 1)).map((e) => e.id)).toEqual([2]);
      await log.append(id, [finished]);
      expect((await drain(follower)).map((e) => e.id)).toEqual([3]);
      expect(warn).toHaveBeenCalledTimes(1);
      const message = String(warn.mock.calls[0]?.[0]);
      expect(message).toMatch(
        /the start of coordination \S+'s event log expired or was never written: event 1 is missing/,
      );
      expect(message).not.toMatch(/has expired/);
    });

    it(`waits ${GAP_WAIT_MS / 1000} s by default: a write that lands after 2.5 s (throttled, retried) is not skipped`, async () => {
      const warn = vi.spyOn(console, 'warn').mockImplementation(() => undefined);
      let open: () => void = () => undefined;
      const gate = new Promise<void>((resolve) => {
        open = resolve;
      });
      let reached: () => void = () => undefined;
      const atGate = new Promise<void>((resolve) => {
        reached = resolve;
      });
      const slow = createDocumentClient(dynamoConfig(engine));
      slow.middlewareStack.add(
        (next, context) => async (args) => {
          if (context.commandName?.startsWith('Put')) {
            reached();
            await gate;
          }
          return next(args);
        },
        { step: 'initialize', name: 'gate' },
      );
      await log.append(id, [started]);
      const follower = new DynamoEventLog({ tableName, client, pollMs: 50 }).follow(id);
      expect((await take(follower, 1)).map((e) => e.id)).toEqual([1]);
      const late = new DynamoEventLog({ tableName, client: slow }).append(id, [chunk('s1', 0)]);
      await atGate;
      await log.append(id, [chunk('s1', 1)]);
      const rest = drain(follower, 15_000);
      await new Promise((resolve) => setTimeout(resolve, 2_500));
      open();
      await late;
      await log.append(id, [finished]);
      expect((await rest).map((e) => e.id)).toEqual([2, 3, 4]);
      expect(warn).not.toHaveBeenCalled();
    }, 20_000);

    it('replays a log whose start has expired from its first event left, at once, saying so', async () => {
      const warn = vi.spyOn(console, 'warn').mockImplementation(() => undefined);
      // Appended eight days ago; TTL has removed the first item (each item expires on its own).
      const old = new DynamoEventLog({
        tableName,
        client,
        clock: new ManualClock(Date.now() - 8 * 24 * 60 * 60 * 1000),
      });
      await old.append(id, [started, chunk('s1', 0)]);
      await old.append(id, [chunk('s1', 1), finished]);
      await client.send(
        new DeleteCommand({ TableName: tableName, Key: { coordinationId: id, seq: 1 } }),
      );
      // A gap wait far longer than the test's bound: only knowing the start expired can end it.
      const reader = new DynamoEventLog({ tableName, client, pollMs: 20, gapWaitMs: 600_000 });
      expect((await drain(reader.follow(id), 5_000)).map((e) => e.id)).toEqual([3, 4]);
      expect(warn).toHaveBeenCalledTimes(1);
      expect(warn.mock.calls[0]?.[0]).toMatch(
        /the start of coordination \S+'s event log has expired: events 1…2 are gone \(each event is kept 7 days after it was appended\); going on from 3/,
      );
    });
  });
});
