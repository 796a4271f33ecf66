import type {
  CoordinationEvent,
  CoordinationEventInput,
  CoordinationListQuery,
  CoordinationSummary,
} from './events.ts';

export type { CoordinationListQuery, CoordinationSummary } from './events.ts';

/** A page of GET /coordinations. */
export interface CoordinationPage {
  /** Newest first. */
  readonly coordinations: CoordinationSummary[];
  /** Pass back as `nextToken` for the next page; absent on the last one. */
  readonly nextToken?: string;
}

/** How many coordinations are running, as CoordinationEventLog.countRunning found them. */
export interface RunningCount {
  /** Coordinations started at or after the count's `since` whose summary says `running`. */
  readonly count: number;
  /** True when the count stopped at its last page: more may be running than it says. */
  readonly truncated: boolean;
}

/**
 * Where a coordination's live events are kept, in order, for everyone who watches it: written by
 * the coordination service (started, finished), by agents as they work on its steps (through the
 * agent SDK), and by the monitor when Step Functions reports a standard run's end; read by the
 * API's SSE routes and the CLI. On AWS and in the embedded runtime alike it is a DynamoDB item
 * collection keyed by coordinationId, with TTL (see DynamoEventLog and docs/streaming.md).
 */
export interface CoordinationEventLog {
  /**
   * Appends events in the order given and returns them with their ids. Events appended by one
   * caller keep their order; callers writing at once (parallel steps) interleave. Never drops an
   * event: a failed write throws.
   */
  append(
    coordinationId: string,
    events: readonly CoordinationEventInput[],
  ): Promise<readonly CoordinationEvent[]>;
  /**
   * Counts one more start of `key` (a step's candidate, in a round) and returns the count: 1 for
   * the first start, 2… for retries. Tells `step.retried` from `step.started`.
   */
  countStart(coordinationId: string, key: string): Promise<number>;
  /** The id of the coordination's `coordination.finished`, or undefined while it has none. */
  finishedId(
    coordinationId: string,
    options?: { readonly signal?: AbortSignal },
  ): Promise<number | undefined>;
  /** The events after `after` (an event id; 0 = from the start), oldest first, at most `limit`. */
  read(
    coordinationId: string,
    options?: { readonly after?: number; readonly limit?: number },
  ): Promise<readonly CoordinationEvent[]>;
  /**
   * Coordinations, newest first, from each one's summary (pattern, mode, start, steps and agents
   * from its `coordination.started`; status, end and duration from its `coordination.finished`).
   * `status` and `pattern` filter, `since` starts the listing there; a filtered page may hold
   * fewer than `limit` (see DynamoEventLog.list). Fields are checked by the caller
   * (coordinationListQuerySchema); `nextToken` by the log, a bad one is a ValidationError.
   */
  list(query?: CoordinationListQuery): Promise<CoordinationPage>;
  /**
   * One coordination's summary, as list() gives it, read strongly consistent from where the log
   * keeps it: there as soon as the append of its `coordination.started` has taken its ids, before
   * the event itself can be read. Undefined when the log holds none. Optional: a log without it
   * is asked for the first event instead (DELETE /coordinations/{id} tells express from standard
   * with it).
   */
  summary?(coordinationId: string): Promise<CoordinationSummary | undefined>;
  /**
   * How many coordinations started at or after `since` (ISO 8601) are running by their
   * summaries, every writer's alike, read from at most `maxPages` pages of the listing, each of
   * at most `pageSize` summaries (default: as many as the log reads at once). Optional: a log
   * without it has no count to give (GET /health then says null).
   */
  countRunning?(options: {
    readonly since: string;
    readonly maxPages: number;
    readonly pageSize?: number;
  }): Promise<RunningCount>;
  /**
   * Replays the events after `after`, then follows new ones as they are appended, until
   * `coordination.finished` (which it yields, then ends) or `signal` aborts (then it ends quietly).
   */
  follow(
    coordinationId: string,
    options?: { readonly after?: number; readonly signal?: AbortSignal },
  ): AsyncGenerator<CoordinationEvent>;
}

/**
 * Buffers one writer's events (an agent's step: its chunks come fast) and appends them in batches,
 * in order. `push` resolves once the event is buffered and the buffer is below its bound: a handler
 * that streams faster than the log takes writes waits, so memory stays bounded. `close` appends
 * what is left; an append that failed makes every later push and close reject with its error.
 */
export interface EventWriter {
  push(event: CoordinationEventInput): Promise<void>;
  close(): Promise<void>;
}
