import { EventEmitter } from 'node:events';
import {
  type DynamoDBDocumentClient,
  PutCommand,
  QueryCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import * as z from 'zod';
import { sharedDocumentClient } from '../aws/dynamodb.ts';
import { type Clock, systemClock } from '../clock.ts';
import type { CoordinationEventLog } from './event-log.ts';
import {
  type CoordinationEvent,
  type CoordinationEventInput,
  coordinationEventInputSchema,
  isFinal,
} from './events.ts';
import { EVENTS_TABLE } from './table.ts';

/**
 * The most serialised event bytes one item holds. DynamoDB refuses items over 400 KB; the rest is
 * room for the key, the other attributes and JSON's brackets.
 */
export const MAX_ITEM_BYTES = 350 * 1024;

/** The most events one item holds, whatever their size, so that reading one item stays cheap. */
export const MAX_EVENTS_PER_ITEM = 1_000;

/**
 * How long a follower waits for a missing event id before it moves past it. Ids are allocated
 * before their item is written, so a reader can see id 12 before 10: usually 10 is a few
 * milliseconds away. If it is still missing after this long, its writer died between allocating
 * and writing, and the follower goes on (with a warning) rather than wait forever.
 */
export const GAP_WAIT_MS = 2_000;

/** How often a follower reads the log when no append in this process wakes it first. */
export const DEFAULT_POLL_MS = 250;

export interface DynamoEventLogOptions {
  readonly tableName: string;
  /** Default: the process-wide document client (sharedDocumentClient). */
  readonly client?: DynamoDBDocumentClient;
  /** Event times and `expiresAt`. */
  readonly clock?: Clock;
  /** How often follow() reads again when nothing in this process wakes it; default 250 ms. */
  readonly pollMs?: number;
}

/**
 * Every DynamoEventLog in the process announces its appends here, keyed by table and
 * coordination, so followers in the same process (the embedded runtime; an API function that
 * wrote the event itself) see them at once. Followers elsewhere find them on their next poll.
 */
const appended = new EventEmitter();
appended.setMaxListeners(0);

const HEAD_SEQ = 0;
const HEAD = 'head';
const COUNT = 'count';
const EVENTS = 'events';
const TIME = 'time';

/** Attribute names never appear in expressions themselves (`count` is reserved, for one). */
const NAMES = {
  '#pk': EVENTS_TABLE.partitionKey,
  '#seq': EVENTS_TABLE.sortKey,
  '#expiresAt': EVENTS_TABLE.ttlAttribute,
};

const storedItemSchema = z.object({
  seq: z.int().min(1),
  count: z.int().min(1).max(MAX_EVENTS_PER_ITEM),
  time: z.iso.datetime(),
  events: z.string(),
});

/** One event item as read back: the events that parsed, and the ids it covers. */
interface ReadItem {
  readonly first: number;
  /** Ids first … first + count - 1; undefined when the item is too broken to tell. */
  readonly count: number | undefined;
  readonly events: readonly CoordinationEvent[];
}

type Warn = (message: string) => void;

/**
 * The coordination event log on DynamoDB (table layout: table.ts).
 *
 * Appending costs two writes however many events it carries: one UpdateItem `ADD head :n` on the
 * coordination's head item allocates a contiguous range of ids, then one PutItem writes them all
 * as one item (more only when they exceed MAX_ITEM_BYTES or MAX_EVENTS_PER_ITEM). Writers running
 * at once get disjoint ranges, so every event has exactly one id and one writer's events keep
 * their order. Readers query the partition from the item that holds the first id they want,
 * strongly consistent, and parse every event with the same zod schema writers are checked
 * against: the item layout is this class's alone, and a malformed item is skipped with a warning.
 */
export class DynamoEventLog implements CoordinationEventLog {
  readonly #tableName: string;
  readonly #client: DynamoDBDocumentClient;
  readonly #clock: Clock;
  readonly #pollMs: number;

  constructor(options: DynamoEventLogOptions) {
    this.#tableName = options.tableName;
    this.#client = options.client ?? sharedDocumentClient();
    this.#clock = options.clock ?? systemClock;
    this.#pollMs = options.pollMs ?? DEFAULT_POLL_MS;
  }

  async append(
    coordinationId: string,
    events: readonly CoordinationEventInput[],
  ): Promise<readonly CoordinationEvent[]> {
    if (events.length === 0) return [];
    const items = packItems(events);
    const now = this.#clock.now();
    const expiresAt = this.#expiresAt(now);
    const time = new Date(now).toISOString();
    const { Attributes } = await this.#client.send(
      new UpdateCommand({
        TableName: this.#tableName,
        Key: this.#key(coordinationId, HEAD_SEQ),
        UpdateExpression: 'ADD #head :n SET #expiresAt = :expiresAt',
        ExpressionAttributeNames: { '#head': HEAD, '#expiresAt': NAMES['#expiresAt'] },
        ExpressionAttributeValues: { ':n': events.length, ':expiresAt': expiresAt },
        ReturnValues: 'UPDATED_NEW',
      }),
    );
    const last = Number(Attributes?.[HEAD]);
    let first = last - events.length + 1;
    const result: CoordinationEvent[] = [];
    for (const item of items) {
      await this.#client.send(
        new PutCommand({
          TableName: this.#tableName,
          Item: {
            ...this.#key(coordinationId, first),
            [COUNT]: item.events.length,
            [TIME]: time,
            [EVENTS]: item.json,
            [EVENTS_TABLE.ttlAttribute]: expiresAt,
          },
          // Ids are never reused. A head that TTL removed while older items remain would count
          // from 1 again: refuse to overwrite rather than lose events.
          ConditionExpression: 'attribute_not_exists(#seq)',
          ExpressionAttributeNames: { '#seq': NAMES['#seq'] },
        }),
      );
      item.events.forEach((event, i) => {
        result.push({ ...event, id: first + i, coordinationId, time });
      });
      first += item.events.length;
    }
    appended.emit(this.#wakeKey(coordinationId));
    return result;
  }

  async countStart(coordinationId: string, key: string): Promise<number> {
    const name = `start#${key}`;
    const { Attributes } = await this.#client.send(
      new UpdateCommand({
        TableName: this.#tableName,
        Key: this.#key(coordinationId, HEAD_SEQ),
        UpdateExpression: 'ADD #count :one SET #expiresAt = :expiresAt',
        ExpressionAttributeNames: { '#count': name, '#expiresAt': NAMES['#expiresAt'] },
        ExpressionAttributeValues: {
          ':one': 1,
          ':expiresAt': this.#expiresAt(this.#clock.now()),
        },
        ReturnValues: 'UPDATED_NEW',
      }),
    );
    return Number(Attributes?.[name]);
  }

  async read(
    coordinationId: string,
    options: { readonly after?: number; readonly limit?: number } = {},
  ): Promise<readonly CoordinationEvent[]> {
    const after = options.after ?? 0;
    const limit = options.limit ?? Number.POSITIVE_INFINITY;
    const result: CoordinationEvent[] = [];
    if (limit <= 0) return result;
    const from = await this.#itemHolding(coordinationId, after + 1);
    // Every item holds at least one event: `limit` items (and the one `after` may fall inside) are
    // enough, so a small read is never charged for a whole page of a long log.
    const items = Number.isFinite(limit) ? Math.ceil(limit) + 1 : undefined;
    for await (const page of this.#pages(coordinationId, from, consoleWarn, undefined, items)) {
      for (const item of page) {
        for (const event of item.events) {
          if (event.id <= after) continue;
          result.push(event);
          if (result.length >= limit) return result;
        }
      }
    }
    return result;
  }

  async *follow(
    coordinationId: string,
    options: { readonly after?: number; readonly signal?: AbortSignal } = {},
  ): AsyncGenerator<CoordinationEvent> {
    const { signal } = options;
    const wake = new WakeUp(appended, this.#wakeKey(coordinationId));
    const warn = onceEach(consoleWarn);
    /** The next id to yield. */
    let expected = (options.after ?? 0) + 1;
    /** True once `expected` is known to start an item (not to fall inside one). */
    let aligned = expected === 1;
    /** True after an item too broken to tell its ids: the next item starts where it ended. */
    let unknownEnd = false;
    /** The missing id being waited for, and since when (real time: this is a real wait). */
    let gap: { readonly id: number; readonly since: number } | undefined;
    try {
      // A resume after the last event of a finished coordination has nothing left to wait for.
      if (expected > 1 && (await this.#finishedBy(coordinationId, expected - 1, warn, signal)))
        return;
      while (!signal?.aborted) {
        wake.reset();
        const from = aligned ? expected : await this.#itemHolding(coordinationId, expected, signal);
        let blocked = false;
        reading: for await (const page of this.#pages(coordinationId, from, warn, signal)) {
          for (const item of page) {
            if (item.first > expected && !unknownEnd) {
              // An id is missing: allocated, its item not written yet. Wait for it, then give up.
              if (gap?.id !== expected) gap = { id: expected, since: Date.now() };
              if (Date.now() - gap.since < GAP_WAIT_MS) {
                blocked = true;
                break reading;
              }
              consoleWarn(
                `mobius: events ${expected}…${item.first - 1} of coordination ${coordinationId} ` +
                  `were never written (their writer stopped after taking their ids); going on ` +
                  `from ${item.first}`,
              );
            }
            gap = undefined;
            if (item.first > expected) expected = item.first;
            for (const event of item.events) {
              if (event.id < expected) continue;
              yield event;
              if (isFinal(event)) return;
            }
            unknownEnd = item.count === undefined;
            expected = Math.max(expected, item.first + (item.count ?? 1));
            aligned = !unknownEnd;
          }
        }
        const waitMs =
          blocked && gap !== undefined
            ? Math.min(this.#pollMs, Math.max(1, gap.since + GAP_WAIT_MS - Date.now()))
            : this.#pollMs;
        await wake.wait(waitMs, signal);
      }
    } catch (error) {
      // Aborting cancels the pending query; the follower ends quietly, as promised.
      if (signal?.aborted) return;
      throw error;
    } finally {
      wake.dispose();
    }
  }

  /**
   * Whether the coordination's log ends with coordination.finished at or before id `after` — a
   * client resuming after it (or from an id the log never reached) would otherwise wait for ever.
   * One query: the newest item.
   */
  async #finishedBy(
    coordinationId: string,
    after: number,
    warn: Warn,
    signal?: AbortSignal,
  ): Promise<boolean> {
    const { Items } = await this.#client.send(
      new QueryCommand({
        TableName: this.#tableName,
        KeyConditionExpression: '#pk = :pk AND #seq >= :one',
        ExpressionAttributeNames: { '#pk': NAMES['#pk'], '#seq': NAMES['#seq'] },
        ExpressionAttributeValues: { ':pk': coordinationId, ':one': 1 },
        ScanIndexForward: false,
        Limit: 1,
        ConsistentRead: true,
      }),
      { abortSignal: signal },
    );
    const newest = Items?.[0];
    if (newest === undefined) return false;
    const last = parseItem(coordinationId, newest, warn).events.at(-1);
    return last !== undefined && isFinal(last) && last.id <= after;
  }

  /**
   * The sort key to query from to read id `id` onwards: the item holding it when `id` falls
   * inside an item (a resume from the middle of a batch), else `id` itself.
   */
  async #itemHolding(coordinationId: string, id: number, signal?: AbortSignal): Promise<number> {
    if (id <= 1) return 1;
    const { Items } = await this.#client.send(
      new QueryCommand({
        TableName: this.#tableName,
        KeyConditionExpression: '#pk = :pk AND #seq BETWEEN :one AND :id',
        ProjectionExpression: '#seq, #count',
        ExpressionAttributeNames: { '#pk': NAMES['#pk'], '#seq': NAMES['#seq'], '#count': COUNT },
        ExpressionAttributeValues: { ':pk': coordinationId, ':one': 1, ':id': id },
        ScanIndexForward: false,
        Limit: 1,
        ConsistentRead: true,
      }),
      { abortSignal: signal },
    );
    const item = Items?.[0];
    const first = Number(item?.[NAMES['#seq']]);
    const count = Number(item?.[COUNT]);
    return Number.isInteger(first) && Number.isInteger(count) && first + count > id ? first : id;
  }

  /** The event items from sort key `from` on, one query page at a time, oldest first. */
  async *#pages(
    coordinationId: string,
    from: number,
    warn: Warn,
    signal?: AbortSignal,
    pageItems?: number,
  ): AsyncGenerator<readonly ReadItem[]> {
    let start: Record<string, unknown> | undefined;
    do {
      const page = await this.#client.send(
        new QueryCommand({
          TableName: this.#tableName,
          KeyConditionExpression: '#pk = :pk AND #seq >= :from',
          ExpressionAttributeNames: { '#pk': NAMES['#pk'], '#seq': NAMES['#seq'] },
          ExpressionAttributeValues: { ':pk': coordinationId, ':from': Math.max(1, from) },
          ConsistentRead: true,
          ExclusiveStartKey: start,
          Limit: pageItems,
        }),
        { abortSignal: signal },
      );
      yield (page.Items ?? []).map((item) => parseItem(coordinationId, item, warn));
      start = page.LastEvaluatedKey;
    } while (start !== undefined);
  }

  #key(coordinationId: string, seq: number): Record<string, unknown> {
    return { [EVENTS_TABLE.partitionKey]: coordinationId, [EVENTS_TABLE.sortKey]: seq };
  }

  #expiresAt(nowMs: number): number {
    return Math.floor(nowMs / 1000) + EVENTS_TABLE.retentionSeconds;
  }

  #wakeKey(coordinationId: string): string {
    return `${this.#tableName}/${coordinationId}`;
  }
}

interface PackedItem {
  readonly events: readonly CoordinationEventInput[];
  /** The events as one JSON array, as the item stores them. */
  readonly json: string;
}

/**
 * Splits a batch into items of at most MAX_ITEM_BYTES of JSON and MAX_EVENTS_PER_ITEM events,
 * in order. An event too large for an item on its own is refused before any id is taken.
 */
function packItems(events: readonly CoordinationEventInput[]): PackedItem[] {
  const items: PackedItem[] = [];
  let current: CoordinationEventInput[] = [];
  let parts: string[] = [];
  let bytes = 2; // the brackets
  const close = () => {
    if (current.length === 0) return;
    items.push({ events: current, json: `[${parts.join(',')}]` });
    current = [];
    parts = [];
    bytes = 2;
  };
  for (const event of events) {
    const json = JSON.stringify(event);
    const size = Buffer.byteLength(json);
    if (size + 2 > MAX_ITEM_BYTES)
      throw new Error(
        `A ${event.type} event of ${size} bytes cannot be logged: one event holds at most ` +
          `${MAX_ITEM_BYTES - 2} bytes of JSON`,
      );
    if (current.length >= MAX_EVENTS_PER_ITEM || bytes + size + 1 > MAX_ITEM_BYTES) close();
    current.push(event);
    parts.push(json);
    bytes += size + (current.length > 1 ? 1 : 0);
  }
  close();
  return items;
}

/**
 * An item as readers get it. The layout is checked as strictly as what writers may append: what
 * does not parse is left out with a warning, so one bad item cannot stop every reader.
 */
function parseItem(coordinationId: string, item: Record<string, unknown>, warn: Warn): ReadItem {
  const first = Number(item[EVENTS_TABLE.sortKey]);
  const where = `item ${first} of coordination ${coordinationId}`;
  const stored = storedItemSchema.safeParse(item);
  if (!stored.success) {
    warn(`mobius: event log ${where} is malformed and was skipped: ${stored.error.message}`);
    return { first, count: undefined, events: [] };
  }
  const { count, time, events: json } = stored.data;
  let values: unknown;
  try {
    values = JSON.parse(json);
  } catch (error) {
    warn(`mobius: event log ${where} holds no JSON and was skipped: ${String(error)}`);
    return { first, count, events: [] };
  }
  if (!Array.isArray(values) || values.length !== count) {
    warn(`mobius: event log ${where} does not hold ${count} events and was skipped`);
    return { first, count, events: [] };
  }
  const events: CoordinationEvent[] = [];
  values.forEach((value, i) => {
    const id = first + i;
    const parsed = coordinationEventInputSchema.safeParse(value);
    if (parsed.success) events.push({ ...parsed.data, id, coordinationId, time });
    else warn(`mobius: event ${id} of coordination ${coordinationId} is malformed and was skipped`);
  });
  return { first, count, events };
}

function consoleWarn(message: string): void {
  console.warn(message);
}

/** A warning said once, however often a follower reads the item again while it waits. */
function onceEach(warn: Warn): Warn {
  const said = new Set<string>();
  return (message) => {
    if (said.has(message)) return;
    said.add(message);
    warn(message);
  };
}

/**
 * A follower's wake-up: set by an append in this process since the last reset, so an append that
 * lands while the follower reads is not missed; waiting ends on it, on the poll interval or on
 * abort, whichever comes first.
 */
class WakeUp {
  #woken = false;
  #notify: (() => void) | undefined;
  readonly #listener = () => {
    this.#woken = true;
    this.#notify?.();
  };

  readonly #emitter: EventEmitter;
  readonly #key: string;

  constructor(emitter: EventEmitter, key: string) {
    this.#emitter = emitter;
    this.#key = key;
    emitter.on(key, this.#listener);
  }

  reset(): void {
    this.#woken = false;
  }

  wait(ms: number, signal?: AbortSignal): Promise<void> {
    if (this.#woken || signal?.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', done);
        this.#notify = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      signal?.addEventListener('abort', done, { once: true });
      this.#notify = done;
    });
  }

  dispose(): void {
    this.#emitter.off(this.#key, this.#listener);
    this.#notify?.();
  }
}
