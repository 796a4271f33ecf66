import { EventEmitter } from 'node:events';
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import {
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import * as z from 'zod';
import { sharedDocumentClient } from '../aws/dynamodb.ts';
import { pageOf } from '../aws/dynamodb-batch.ts';
import { type Clock, systemClock } from '../clock.ts';
import type {
  CoordinationEventLog,
  CoordinationListQuery,
  CoordinationPage,
  RunningCount,
} from './event-log.ts';
import {
  type CoordinationEvent,
  type CoordinationEventInput,
  type CoordinationSummary,
  coordinationEventInputSchema,
  coordinationSummarySchema,
  DEFAULT_LIST_LIMIT,
  isFinal,
} from './events.ts';
import { EVENTS_TABLE, LIST_KEY } from './table.ts';

/**
 * The most serialised event bytes one item holds. DynamoDB refuses items over 400 KB; the rest is
 * room for the key, the other attributes and JSON's brackets.
 */
export const MAX_ITEM_BYTES = 350 * 1024;

/** The most serialised bytes one event may have: an item holds at least one, in brackets. */
export const MAX_EVENT_BYTES = MAX_ITEM_BYTES - 2;

/** The most events one item holds, whatever their size, so that reading one item stays cheap. */
export const MAX_EVENTS_PER_ITEM = 1_000;

/**
 * How long a follower waits for a missing event id before it moves past it. Ids are allocated
 * before their item is written, so a reader can see id 12 before 10: usually 10 is a few
 * milliseconds away. But one partition takes at most 1 000 write units a second, and a PutItem
 * that DynamoDB throttled is retried by the SDK with back-off, so a busy coordination's item can
 * land seconds late; a follower that moved on would never yield it. If an id is still missing
 * after this long, its writer died between allocating and writing (or its write failed for good),
 * and the follower goes on with a warning rather than wait for ever.
 */
export const GAP_WAIT_MS = 15_000;

/** An event too large for one item: refused on its own, before it takes an id. */
export class EventTooLargeError extends Error {
  override readonly name = 'EventTooLargeError';
  readonly bytes: number;

  constructor(type: string, bytes: number) {
    super(
      `A ${type} event of ${bytes} bytes cannot be logged: one event holds at most ` +
        `${MAX_EVENT_BYTES} bytes of JSON`,
    );
    this.bytes = bytes;
  }
}

/** An event's size as the log stores it: its JSON, in UTF-8 bytes. */
export function eventBytes(event: CoordinationEventInput): number {
  return Buffer.byteLength(JSON.stringify(event));
}

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
  /** How long follow() waits for an id taken but not written; default GAP_WAIT_MS (15 s). */
  readonly gapWaitMs?: number;
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
/** On the head item: the id of the coordination's coordination.finished (the highest, if several). */
const FINISHED = 'finished';
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
  /** When its ids were taken (epoch ms); undefined when the item is too broken to tell. */
  readonly appendedAt: number | undefined;
  readonly events: readonly CoordinationEvent[];
}

type Warn = (message: string) => void;

interface Waiter<T> {
  readonly resolve: (value: T) => void;
  readonly reject: (error: unknown) => void;
}

/** Callers' appends gathered for one write: each caller's events are `count` from `from`. */
interface PendingAppend {
  readonly events: SerialisedEvent[];
  readonly waiters: (Waiter<readonly CoordinationEvent[]> & {
    readonly from: number;
    readonly count: number;
  })[];
}

/** Start counts one UpdateItem carries: its expression stays far below DynamoDB's 4 KB. */
const MAX_STARTS_PER_UPDATE = 50;

/**
 * The coordination event log on DynamoDB (table layout: table.ts).
 *
 * Appending costs two writes however many events it carries: one UpdateItem `ADD head :n` on the
 * coordination's head item allocates a contiguous range of ids, then one PutItem writes them all
 * as one item (more only when they exceed MAX_ITEM_BYTES or MAX_EVENTS_PER_ITEM). An append that
 * holds coordination.finished pays one more UpdateItem, recording its id on the head item, once
 * per coordination. The allocation of an append that holds coordination.started or
 * coordination.finished also writes the run's summary on the head (table.ts), which list() reads
 * through the `byStart` index: listing costs appends no write of its own. Writers running at
 * once get disjoint ranges, so every event has exactly one id and one writer's events keep their
 * order. Readers query the partition from the item that holds the first id they want, strongly
 * consistent, and parse every event with the same zod schema writers are checked against: the
 * item layout is this class's alone, and a malformed item is skipped with a warning.
 */
export class DynamoEventLog implements CoordinationEventLog {
  readonly #tableName: string;
  readonly #client: DynamoDBDocumentClient;
  readonly #clock: Clock;
  readonly #pollMs: number;
  readonly #gapWaitMs: number;
  /** Appends and start counts waiting for this turn of the event loop to end, by coordination. */
  readonly #pendingAppends = new Map<string, PendingAppend>();
  readonly #pendingStarts = new Map<string, Map<string, Waiter<number>[]>>();

  constructor(options: DynamoEventLogOptions) {
    this.#tableName = options.tableName;
    this.#client = options.client ?? sharedDocumentClient();
    this.#clock = options.clock ?? systemClock;
    this.#pollMs = options.pollMs ?? DEFAULT_POLL_MS;
    this.#gapWaitMs = options.gapWaitMs ?? GAP_WAIT_MS;
  }

  /**
   * Appends that reach this log for one coordination within one turn of the event loop go out
   * together, as one allocation and one item: in one process (the embedded runtime, where a
   * hundred-item Map runs its steps at once) a coordination's concurrent steps cost two writes
   * between them, not two each. Each caller still gets its own events back with their ids, in
   * its order, contiguous; an event too large to log is refused to its own caller, before it can
   * fail the others'.
   */
  append(
    coordinationId: string,
    events: readonly CoordinationEventInput[],
  ): Promise<readonly CoordinationEvent[]> {
    if (events.length === 0) return Promise.resolve([]);
    let serialised: SerialisedEvent[];
    try {
      serialised = events.map(serialise);
    } catch (error) {
      return Promise.reject(error);
    }
    return new Promise((resolve, reject) => {
      let batch = this.#pendingAppends.get(coordinationId);
      if (batch === undefined) {
        const opened: PendingAppend = { events: [], waiters: [] };
        this.#pendingAppends.set(coordinationId, opened);
        setImmediate(() => {
          this.#pendingAppends.delete(coordinationId);
          this.#appendNow(coordinationId, opened.events).then(
            (written) => {
              for (const waiter of opened.waiters)
                waiter.resolve(written.slice(waiter.from, waiter.from + waiter.count));
            },
            (error: unknown) => {
              for (const waiter of opened.waiters) waiter.reject(error);
            },
          );
        });
        batch = opened;
      }
      batch.waiters.push({ from: batch.events.length, count: events.length, resolve, reject });
      batch.events.push(...serialised);
    });
  }

  async #appendNow(
    coordinationId: string,
    events: readonly SerialisedEvent[],
  ): Promise<readonly CoordinationEvent[]> {
    const items = packItems(events);
    const now = this.#clock.now();
    const expiresAt = this.#expiresAt(now);
    // The coordination's summary rides on the allocation: listing costs appends no extra write.
    const summary = summaryUpdate(coordinationId, events, new Date(now).toISOString());
    const { Attributes } = await this.#client.send(
      new UpdateCommand({
        TableName: this.#tableName,
        Key: this.#key(coordinationId, HEAD_SEQ),
        UpdateExpression: `ADD #head :n SET #expiresAt = :expiresAt${summary.set}`,
        ExpressionAttributeNames: {
          '#head': HEAD,
          '#expiresAt': NAMES['#expiresAt'],
          ...summary.names,
        },
        ExpressionAttributeValues: {
          ':n': events.length,
          ':expiresAt': expiresAt,
          ...summary.values,
        },
        ReturnValues: 'UPDATED_NEW',
      }),
    );
    const last = Number(Attributes?.[HEAD]);
    // Read once the ids are taken: an id missing below them was taken earlier still (follow()
    // measures how long a gap has waited from it).
    const time = new Date(this.#clock.now()).toISOString();
    let first = last - events.length + 1;
    const finalAt = events.findLastIndex(({ event }) => isFinal(event));
    if (finalAt >= 0) await this.#markFinished(coordinationId, first + finalAt);
    const result: CoordinationEvent[] = [];
    for (const item of items) {
      await this.#put(coordinationId, first, {
        ...this.#key(coordinationId, first),
        [COUNT]: item.events.length,
        [TIME]: time,
        [EVENTS]: item.json,
        [EVENTS_TABLE.ttlAttribute]: expiresAt,
      });
      item.events.forEach((event, i) => {
        result.push({ ...event, id: first + i, coordinationId, time });
      });
      first += item.events.length;
    }
    appended.emit(this.#wakeKey(coordinationId));
    return result;
  }

  /**
   * Writes one event item, never over another. Ids are never reused, but a head that TTL removed
   * while older items remain would count from 1 again: such an item is refused rather than lost.
   * The ids are this writer's alone, though, so an item already there holding exactly these
   * events is this very write: the SDK retried a PutItem whose first try was written but whose
   * answer was lost (a timeout, a reset connection), and it counts as written.
   */
  async #put(coordinationId: string, first: number, item: Record<string, unknown>): Promise<void> {
    try {
      await this.#client.send(
        new PutCommand({
          TableName: this.#tableName,
          Item: item,
          ConditionExpression: 'attribute_not_exists(#seq)',
          ExpressionAttributeNames: { '#seq': NAMES['#seq'] },
        }),
      );
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
      const { Item: stored } = await this.#client.send(
        new GetCommand({
          TableName: this.#tableName,
          Key: this.#key(coordinationId, first),
          ProjectionExpression: '#events, #time',
          ExpressionAttributeNames: { '#events': EVENTS, '#time': TIME },
          ConsistentRead: true,
        }),
      );
      if (stored?.[EVENTS] !== item[EVENTS] || stored?.[TIME] !== item[TIME]) throw error;
    }
  }

  /**
   * Records the id of coordination.finished on the head item, before the event itself is written,
   * so that a follower resuming after it ends at once — whatever was appended after it (an
   * abandoned step's Lambda can go on streaming after the run ended). The highest id wins.
   *
   * Best effort: the event matters more than the shortcut. Should this write fail for good (throttled
   * past the SDK's retries), the append still writes the event, which every follower reading up to
   * it ends on; only a client resuming after it is not told at once that nothing follows.
   */
  async #markFinished(coordinationId: string, id: number): Promise<void> {
    try {
      await this.#client.send(
        new UpdateCommand({
          TableName: this.#tableName,
          Key: this.#key(coordinationId, HEAD_SEQ),
          UpdateExpression: 'SET #finished = :id',
          ConditionExpression: 'attribute_not_exists(#finished) OR #finished < :id',
          ExpressionAttributeNames: { '#finished': FINISHED },
          ExpressionAttributeValues: { ':id': id },
        }),
      );
    } catch (error) {
      // A later coordination.finished is recorded already, or this very write was (an SDK retry).
      if (error instanceof ConditionalCheckFailedException) return;
      consoleWarn(
        `mobius: could not record coordination ${coordinationId}'s finished event (id ${id}) on ` +
          `its event log's head (${describeError(error)}); the event is written all the same, but a ` +
          'client resuming after it waits for more instead of ending at once',
      );
    }
  }

  /**
   * Counts starts as append coalesces appends: the starts of one coordination counted within one
   * turn of the event loop share one UpdateItem (a hundred parallel steps starting at once cost
   * one write, not a hundred). Two starts of the same key in one batch get consecutive counts.
   */
  countStart(coordinationId: string, key: string): Promise<number> {
    return new Promise((resolve, reject) => {
      let batch = this.#pendingStarts.get(coordinationId);
      if (batch === undefined) {
        const opened = new Map<string, Waiter<number>[]>();
        this.#pendingStarts.set(coordinationId, opened);
        setImmediate(() => {
          this.#pendingStarts.delete(coordinationId);
          void this.#countStartsNow(coordinationId, opened);
        });
        batch = opened;
      }
      const waiters = batch.get(key) ?? [];
      waiters.push({ resolve, reject });
      batch.set(key, waiters);
    });
  }

  async #countStartsNow(
    coordinationId: string,
    starts: ReadonlyMap<string, readonly Waiter<number>[]>,
  ): Promise<void> {
    const entries = [...starts];
    for (let at = 0; at < entries.length; at += MAX_STARTS_PER_UPDATE) {
      const chunk = entries.slice(at, at + MAX_STARTS_PER_UPDATE);
      try {
        const names: Record<string, string> = { '#expiresAt': NAMES['#expiresAt'] };
        const values: Record<string, unknown> = {
          ':expiresAt': this.#expiresAt(this.#clock.now()),
        };
        chunk.forEach(([key, waiters], i) => {
          names[`#s${i}`] = `start#${key}`;
          values[`:s${i}`] = waiters.length;
        });
        const { Attributes } = await this.#client.send(
          new UpdateCommand({
            TableName: this.#tableName,
            Key: this.#key(coordinationId, HEAD_SEQ),
            UpdateExpression: `ADD ${chunk.map((_, i) => `#s${i} :s${i}`).join(', ')} SET #expiresAt = :expiresAt`,
            ExpressionAttributeNames: names,
            ExpressionAttributeValues: values,
            ReturnValues: 'UPDATED_NEW',
          }),
        );
        for (const [key, waiters] of chunk) {
          const total = Number(Attributes?.[`start#${key}`]);
          waiters.forEach((waiter, j) => {
            waiter.resolve(total - waiters.length + 1 + j);
          });
        }
      } catch (error) {
        for (const [, waiters] of chunk) for (const waiter of waiters) waiter.reject(error);
      }
    }
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

  /**
   * A page of coordinations, newest first, from the `byStart` index of head items (table.ts): one
   * Query, `since` a key condition, `status` and `pattern` filters applied to the page DynamoDB
   * read — so a filtered page may hold fewer than `limit` coordinations, even none, while
   * `nextToken` says more may follow. The token is opaque to callers and checked when it comes
   * back (pageOf): one of another listing or filter is refused as a ValidationError naming
   * `nextToken`. The index is eventually consistent: a run started a moment ago may be missing
   * for a moment on AWS (never in dynalite, which updates it with the item).
   */
  async list(query: CoordinationListQuery = {}): Promise<CoordinationPage> {
    const { listIndex } = EVENTS_TABLE;
    const names: Record<string, string> = { '#listKey': listIndex.partitionKey };
    const values: Record<string, unknown> = { ':listKey': LIST_KEY };
    let keyCondition = '#listKey = :listKey';
    if (query.since !== undefined) {
      names['#startedKey'] = listIndex.sortKey;
      // Sort keys start with the ISO 8601 start in UTC: a start at or after `since` sorts after it.
      values[':since'] = new Date(query.since).toISOString();
      keyCondition += ' AND #startedKey >= :since';
    }
    const filters: string[] = [];
    if (query.status !== undefined) {
      names['#status'] = SUMMARY.status;
      values[':status'] = query.status;
      filters.push('#status = :status');
    }
    if (query.pattern !== undefined) {
      names['#pattern'] = SUMMARY.pattern;
      values[':pattern'] = query.pattern;
      filters.push('#pattern = :pattern');
    }
    const page = await pageOf(
      this.#client,
      {
        TableName: this.#tableName,
        IndexName: listIndex.name,
        KeyConditionExpression: keyCondition,
        ...(filters.length > 0 ? { FilterExpression: filters.join(' AND ') } : {}),
        ExpressionAttributeNames: names,
        ExpressionAttributeValues: values,
        ScanIndexForward: false,
        Limit: query.limit ?? DEFAULT_LIST_LIMIT,
      },
      'query',
      query.nextToken,
    );
    const coordinations = page.items.flatMap((item) => parseSummary(item, consoleWarn));
    return page.nextToken === undefined
      ? { coordinations }
      : { coordinations, nextToken: page.nextToken };
  }

  /**
   * Counts the running coordinations in the `byStart` index from `since` on: a Query of the
   * index's one partition from there, `status = running` a filter, Select COUNT so that no item
   * comes back. A filter does not make the read cheaper: each page reads up to 1 MB of summaries
   * (a few thousand runs; fewer with `pageSize`, the most summaries a page reads) whatever their
   * status, so the count stops after `maxPages` and says so.
   * Eventually consistent, as the listing: a run started or ended a moment ago may be missed or
   * counted.
   */
  async countRunning(options: {
    readonly since: string;
    readonly maxPages: number;
    readonly pageSize?: number;
  }): Promise<RunningCount> {
    const { listIndex } = EVENTS_TABLE;
    let count = 0;
    let start: Record<string, unknown> | undefined;
    for (let pages = 0; pages < options.maxPages; pages++) {
      const page = await this.#client.send(
        new QueryCommand({
          TableName: this.#tableName,
          IndexName: listIndex.name,
          KeyConditionExpression: '#listKey = :listKey AND #startedKey >= :since',
          FilterExpression: '#status = :running',
          ExpressionAttributeNames: {
            '#listKey': listIndex.partitionKey,
            '#startedKey': listIndex.sortKey,
            '#status': SUMMARY.status,
          },
          ExpressionAttributeValues: {
            ':listKey': LIST_KEY,
            // Sort keys start with the ISO 8601 start in UTC, as list()'s `since`.
            ':since': new Date(options.since).toISOString(),
            ':running': 'running',
          },
          Select: 'COUNT',
          // Newest first: where the count stops early, it leaves out the oldest runs, which have
          // mostly ended, not the newest, which are nearly all the running ones.
          ScanIndexForward: false,
          ExclusiveStartKey: start,
          Limit: options.pageSize,
        }),
      );
      count += page.Count ?? 0;
      start = page.LastEvaluatedKey;
      if (start === undefined) return { count, truncated: false };
    }
    return { count, truncated: true };
  }

  /**
   * The summary on the coordination's head item: one GetItem, strongly consistent — so it is there
   * from the moment the allocation of its `coordination.started` is, before that event's item is
   * written and whatever the `byStart` index's lag. Undefined when the head holds none (no start
   * logged, or a malformed one: list() warns about those).
   */
  async summary(coordinationId: string): Promise<CoordinationSummary | undefined> {
    const attributes = Object.values(SUMMARY);
    const { Item } = await this.#client.send(
      new GetCommand({
        TableName: this.#tableName,
        Key: this.#key(coordinationId, HEAD_SEQ),
        ProjectionExpression: ['#pk', ...attributes.map((_, i) => `#s${i}`)].join(', '),
        ExpressionAttributeNames: {
          '#pk': NAMES['#pk'],
          ...Object.fromEntries(attributes.map((name, i) => [`#s${i}`, name])),
        },
        ConsistentRead: true,
      }),
    );
    if (Item === undefined || Item[SUMMARY.pattern] === undefined) return undefined;
    return parseSummary(Item, () => undefined)[0];
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
      if (expected > 1 && (await this.#finishedBy(coordinationId, expected - 1, signal))) return;
      while (!signal?.aborted) {
        wake.reset();
        const from = aligned ? expected : await this.#itemHolding(coordinationId, expected, signal);
        let blocked = false;
        reading: for await (const page of this.#pages(coordinationId, from, warn, signal)) {
          for (const [index, item] of page.entries()) {
            if (item.first > expected && !unknownEnd) {
              // Ids are missing: taken, their item not written yet (or expired). They were taken
              // before this item's, so they have been missing at least since it was appended: a
              // live follower gives their writer gapWaitMs, a replay of an old log goes on at once.
              if (gap?.id !== expected)
                gap = { id: expected, since: Math.min(Date.now(), item.appendedAt ?? Date.now()) };
              // Nor is there anything to wait for below a coordination.finished already written:
              // every step's writer is done before its result returns, and the run finishes after
              // its steps' results, so ids below the end still missing belong to writers that
              // stopped (a step abandoned when the run ended, a write that failed for good). One
              // append's items are written in order, so a visible end has its batch-mates before
              // it. Only the page this read fetched anyway is looked at: no read costs more.
              const endSeen = page.slice(index).some((later) => later.events.some(isFinal));
              if (!endSeen && Date.now() - gap.since < this.#gapWaitMs) {
                blocked = true;
                break reading;
              }
              consoleWarn(this.#missingWarning(coordinationId, expected, item, endSeen));
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
            ? Math.min(this.#pollMs, Math.max(1, gap.since + this.#gapWaitMs - Date.now()))
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

  async finishedId(
    coordinationId: string,
    options: { readonly signal?: AbortSignal } = {},
  ): Promise<number | undefined> {
    const { Item } = await this.#client.send(
      new GetCommand({
        TableName: this.#tableName,
        Key: this.#key(coordinationId, HEAD_SEQ),
        ProjectionExpression: '#finished',
        ExpressionAttributeNames: { '#finished': FINISHED },
        ConsistentRead: true,
      }),
      { abortSignal: options.signal },
    );
    const finished = Number(Item?.[FINISHED]);
    return Number.isInteger(finished) ? finished : undefined;
  }

  /**
   * Whether the coordination's coordination.finished has an id at or before `after` — a client
   * resuming after it (or from an id the log never reached) would otherwise wait for ever, and
   * would be handed whatever an abandoned step appended after the end. One read: the head item,
   * where append records the finished id (#markFinished).
   */
  async #finishedBy(coordinationId: string, after: number, signal?: AbortSignal): Promise<boolean> {
    const finished = await this.finishedId(coordinationId, signal === undefined ? {} : { signal });
    return finished !== undefined && finished <= after;
  }

  /**
   * The warning of a follower that moves past ids `from` … `next.first - 1`, which never came,
   * to `next`, the item after them; `endSeen` when a coordination.finished was read after them.
   */
  #missingWarning(coordinationId: string, from: number, next: ReadItem, endSeen: boolean): string {
    const to = next.first;
    if (from === 1) {
      // Each item expires on its own, a week after its append, so a long run's log loses its
      // start first; the head (touched by every append) outlives them. But a young log's start
      // may just never have been written (its append failed, its writer died), so "expired" is
      // said only when the item after it is older than the retention: the start is older still.
      const days = EVENTS_TABLE.retentionSeconds / 86_400;
      const age = next.appendedAt === undefined ? 0 : this.#clock.now() - next.appendedAt;
      if (age > EVENTS_TABLE.retentionSeconds * 1000)
        return (
          `mobius: the start of coordination ${coordinationId}'s event log has expired: events ` +
          `1…${to - 1} are gone (each event is kept ${days} days after it was appended); going on ` +
          `from ${to}`
        );
      const several = to - 1 > 1;
      return (
        `mobius: the start of coordination ${coordinationId}'s event log expired or was never ` +
        `written: ${idsNamed(1, to - 1)} ${several ? 'are' : 'is'} missing (each event is kept ` +
        `${days} days after it was appended, and ids whose writer failed or stopped before ` +
        `writing them stay empty); going on from ${to}`
      );
    }
    if (endSeen) {
      const several = to - 1 > from;
      return (
        `mobius: ${idsNamed(from, to - 1)} of coordination ${coordinationId} ` +
        `${several ? 'were' : 'was'} never written and the run has finished since, so ` +
        `${several ? 'their' : 'its'} writer had stopped (a step abandoned when the run ended, or ` +
        `a write that failed); going on from ${to}`
      );
    }
    return (
      `mobius: events ${from}…${to - 1} of coordination ${coordinationId} were not written ` +
      `within ${formatWait(this.#gapWaitMs)} of their ids being taken; going on from ${to}`
    );
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
 * in order. An event too large for an item on its own makes the whole append fail before any id
 * is taken: an append writes all its events or none, so a caller never has to guess which of them
 * were logged. Refusing only the offending event is the EventWriter's job: it refuses it at push,
 * to the caller that made it, so a batch never holds one (createEventWriter).
 */
function packItems(events: readonly SerialisedEvent[]): PackedItem[] {
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
  for (const { event, json, size } of events) {
    if (current.length >= MAX_EVENTS_PER_ITEM || bytes + size + 1 > MAX_ITEM_BYTES) close();
    current.push(event);
    parts.push(json);
    bytes += size + (current.length > 1 ? 1 : 0);
  }
  close();
  return items;
}

/** An event with its JSON, made once per append: its size is checked and its text stored. */
interface SerialisedEvent {
  readonly event: CoordinationEventInput;
  readonly json: string;
  readonly size: number;
}

/** The event as the log stores it; one too large for an item on its own is refused. */
function serialise(event: CoordinationEventInput): SerialisedEvent {
  const json = JSON.stringify(event);
  const size = Buffer.byteLength(json);
  if (size > MAX_EVENT_BYTES) throw new EventTooLargeError(event.type, size);
  return { event, json, size };
}

/** The summary attributes of the head item (table.ts), by what they hold. */
const SUMMARY = {
  listKey: EVENTS_TABLE.listIndex.partitionKey,
  startedKey: EVENTS_TABLE.listIndex.sortKey,
  pattern: 'pattern',
  mode: 'mode',
  status: 'status',
  startedAt: 'startedAt',
  finishedAt: 'finishedAt',
  totalMs: 'totalMs',
  steps: 'steps',
  agents: 'agents',
} as const satisfies Record<string, string>;

/** What the allocating UpdateItem adds to its SET clause: nothing unless the run starts or ends. */
interface SummaryUpdate {
  /** `, #a = :a, …` (empty when the batch neither starts nor ends the run). */
  readonly set: string;
  readonly names: Record<string, string>;
  readonly values: Record<string, unknown>;
}

/**
 * The summary an append writes on the head item, in the UpdateItem that allocates its ids:
 * `coordination.started` sets what the run was planned as and its status `running` — unless a
 * status is there already, so that an end logged first (it never is, but a writer could) is not
 * undone; `coordination.finished` (the last one, if several) sets how and when it ended, and for a
 * hierarchical run the steps and agents it really ran. The start's own attributes are set once: a
 * second `coordination.started` moves nothing.
 */
function summaryUpdate(
  coordinationId: string,
  events: readonly SerialisedEvent[],
  now: string,
): SummaryUpdate {
  const started = events.find(({ event }) => event.type === 'coordination.started')?.event;
  const finished = events.findLast(({ event }) => event.type === 'coordination.finished')?.event;
  // A hierarchical run is planned as its supervisor alone: the workers and rounds it ran are the
  // supervisor's choice, known from its result. Other patterns keep what they were planned with
  // (a failed sequential run's result lacks the steps it never reached).
  const ran =
    finished?.type === 'coordination.finished' ? hierarchicalRunOf(finished.result) : undefined;
  const clauses: string[] = [];
  const names: Record<string, string> = {};
  const values: Record<string, unknown> = {};
  const set = (attribute: keyof typeof SUMMARY, value: unknown, onlyOnce = false) => {
    // Placeholders of their own (`#sum…`), apart from the allocation's and #markFinished's.
    const name = `#sum${attribute}`;
    const placeholder = `:sum${attribute}`;
    names[name] = SUMMARY[attribute];
    values[placeholder] = value;
    clauses.push(
      onlyOnce ? `${name} = if_not_exists(${name}, ${placeholder})` : `${name} = ${placeholder}`,
    );
  };
  if (started?.type === 'coordination.started') {
    set('listKey', LIST_KEY);
    set('startedKey', `${now}#${coordinationId}`, true);
    set('startedAt', now, true);
    set('pattern', started.pattern);
    set('mode', started.mode);
    // Unless the same append ends it with what it ran (below): one SET per attribute.
    if (ran === undefined) {
      set('steps', started.steps.length);
      set('agents', [...new Set(started.steps.map((step) => step.agentId))]);
    }
    if (finished === undefined) set('status', 'running', true);
  }
  if (finished?.type === 'coordination.finished') {
    set('status', finished.status);
    set('finishedAt', now);
    set('totalMs', totalMsOf(finished.result));
    if (ran !== undefined) {
      set('steps', ran.steps);
      set('agents', ran.agents);
    }
  }
  return { set: clauses.length > 0 ? `, ${clauses.join(', ')}` : '', names, values };
}

/**
 * What a hierarchical run's result says it ran: each supervisor round and worker task a step,
 * and each agent that took one once, in the order they first ran. Undefined for other patterns,
 * and for a result naming no step (a run stopped before its history could be read): the plan
 * is then all that is known.
 */
function hierarchicalRunOf(
  result: unknown,
): { readonly steps: number; readonly agents: string[] } | undefined {
  if (typeof result !== 'object' || result === null) return undefined;
  const { pattern, steps } = result as { pattern?: unknown; steps?: unknown };
  if (pattern !== 'hierarchical' || !Array.isArray(steps) || steps.length === 0) return undefined;
  const agents = new Set<string>();
  for (const step of steps as unknown[]) {
    const agentId = (step as { agentId?: unknown } | null)?.agentId;
    if (typeof agentId === 'string') agents.add(agentId);
  }
  return { steps: steps.length, agents: [...agents] };
}

/** A finished event's `result.timings.totalMs`, or null when its result carries none. */
function totalMsOf(result: unknown): number | null {
  if (typeof result !== 'object' || result === null || !('timings' in result)) return null;
  const { timings } = result as { timings: unknown };
  if (typeof timings !== 'object' || timings === null || !('totalMs' in timings)) return null;
  const { totalMs } = timings as { totalMs: unknown };
  return typeof totalMs === 'number' && Number.isFinite(totalMs) && totalMs >= 0 ? totalMs : null;
}

/** A listed head item as GET /coordinations answers it; a malformed one is left out, with a warning. */
function parseSummary(item: Record<string, unknown>, warn: Warn): CoordinationSummary[] {
  const parsed = coordinationSummarySchema.safeParse({
    coordinationId: item[EVENTS_TABLE.partitionKey],
    pattern: item[SUMMARY.pattern],
    mode: item[SUMMARY.mode],
    status: item[SUMMARY.status],
    startedAt: item[SUMMARY.startedAt],
    finishedAt: item[SUMMARY.finishedAt] ?? null,
    totalMs: item[SUMMARY.totalMs] ?? null,
    steps: item[SUMMARY.steps],
    agents: item[SUMMARY.agents] ?? [],
  });
  if (parsed.success) return [parsed.data];
  warn(
    `mobius: the summary of coordination ${String(item[EVENTS_TABLE.partitionKey])} is malformed ` +
      `and was left out of the listing: ${parsed.error.message}`,
  );
  return [];
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
    return { first, count: undefined, appendedAt: undefined, events: [] };
  }
  const { count, time, events: json } = stored.data;
  const appendedAt = Date.parse(time);
  let values: unknown;
  try {
    values = JSON.parse(json);
  } catch (error) {
    warn(`mobius: event log ${where} holds no JSON and was skipped: ${String(error)}`);
    return { first, count, appendedAt, events: [] };
  }
  if (!Array.isArray(values) || values.length !== count) {
    warn(`mobius: event log ${where} does not hold ${count} events and was skipped`);
    return { first, count, appendedAt, events: [] };
  }
  const events: CoordinationEvent[] = [];
  values.forEach((value, i) => {
    const id = first + i;
    const parsed = coordinationEventInputSchema.safeParse(value);
    if (parsed.success) events.push({ ...parsed.data, id, coordinationId, time });
    else warn(`mobius: event ${id} of coordination ${coordinationId} is malformed and was skipped`);
  });
  return { first, count, appendedAt, events };
}

/** "event 4" or "events 4…6": ids first … last, as a warning names them. */
function idsNamed(first: number, last: number): string {
  return first === last ? `event ${first}` : `events ${first}…${last}`;
}

/** An error as a warning names it: its name and message. */
function describeError(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

/** 15000 → "15 s", 300 → "300 ms". */
function formatWait(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`;
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
