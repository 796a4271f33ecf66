import { coordinationEventInputSchema, isFinal } from '../core/streaming/events.ts';
import { type ReceivedSse, readSse, SSE_CONTENT_TYPE } from '../core/streaming/sse.ts';
import { ApiError, isTransient, statusOfCode } from './api-error.ts';
import type { components, operations } from './api-types.ts';
import type { ApiResponse } from './signed-fetch.ts';

/**
 * Reading the API's server-sent events for the typed client: a coordination's live events (GET
 * /coordinations/{id}/events, POST /coordinations with `Accept: text/event-stream`) and a
 * streamed message's chunks (POST /messages). Every event is checked against its documented
 * shape: what does not match is an error that says so, never a value passed on half-read.
 */

/** The API sent an event this client cannot read: a bug on one side, or a proxy in the way. */
export class EventStreamError extends Error {
  override readonly name = 'EventStreamError';
}

/** A coordination's live event, as docs/openapi.json documents it (events.ts's CoordinationEvent). */
export type CoordinationEvent = components['schemas']['CoordinationEvent'];
/** A piece of a streamed answer, as docs/openapi.json documents it (chunks.ts's StreamChunk). */
export type StreamChunk = components['schemas']['StreamChunk'];

/**
 * A coordination event from one SSE event (`data` is the event, `id` its id). The last one,
 * `coordination.finished`, may have no id: the API sends a result its log does not hold (it could
 * not keep it, or the events have expired); it ends the stream, so nothing is resumed after it.
 */
export function coordinationEventOf(message: ReceivedSse): CoordinationEvent {
  const parsed = coordinationEventInputSchema.safeParse(message.data);
  const meta = message.data as Partial<Record<'id' | 'coordinationId' | 'time', unknown>> | null;
  const id = meta?.id;
  if (
    !parsed.success ||
    !(Number.isSafeInteger(id) || (id === undefined && isFinal(parsed.data))) ||
    typeof meta?.coordinationId !== 'string' ||
    typeof meta.time !== 'string'
  )
    throw new EventStreamError(
      `The API sent a "${message.event}" event that is not a coordination event: ${JSON.stringify(message.data).slice(0, 300)}`,
    );
  const { coordinationId, time } = meta;
  return (
    id === undefined
      ? { ...parsed.data, coordinationId, time }
      : { ...parsed.data, id: id as number, coordinationId, time }
  ) as CoordinationEvent;
}

/**
 * The `error` event that ends a stream the API could not go on with: its data is the API's error
 * body, as the ApiError a JSON answer with that code would have been (the status is the code's).
 */
export function errorEventOf(message: ReceivedSse, operationId: keyof operations): ApiError {
  const { data } = message;
  const error = isRecord(data) && isRecord(data.error) ? data.error : undefined;
  if (typeof error?.code !== 'string' || typeof error.message !== 'string')
    throw new EventStreamError(
      `The API sent an "error" event without its error body ({ error: { code, message, details } }): ${JSON.stringify(data).slice(0, 300)}`,
    );
  return new ApiError(operationId, statusOfCode(error.code), data, { midStream: true });
}

/** What a streamed message (POST /messages with `Accept: text/event-stream`) delivers, in order. */
export type MessageStreamEvent =
  | { readonly event: 'chunk'; readonly data: StreamChunk }
  /** The response envelope, as `MessageReply.response`: the last event of a stream that worked. */
  | { readonly event: 'response'; readonly data: components['schemas']['MessageReply']['response'] }
  /** The API's error body `{ error: { code, message, details } }`: the last event of one that failed. */
  | { readonly event: 'error'; readonly data: components['schemas']['Error'] };

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

function chunkOf(data: unknown): StreamChunk | undefined {
  if (!isRecord(data) || !Number.isInteger(data.seq) || (data.seq as number) < 0) return undefined;
  const keys = Object.keys(data).sort().join(',');
  if (keys === 'seq,text' && typeof data.text === 'string')
    return { seq: data.seq as number, text: data.text };
  if (keys === 'data,seq') return { seq: data.seq as number, data: data.data as never };
  return undefined;
}

/** A streamed message's event from one SSE event. */
export function messageEventOf(message: ReceivedSse): MessageStreamEvent {
  const { event, data } = message;
  if (event === 'chunk') {
    const chunk = chunkOf(data);
    if (chunk !== undefined) return { event, data: chunk };
  } else if (event === 'response' && isRecord(data)) return { event, data };
  else if (event === 'error' && isRecord(data) && isRecord(data.error)) {
    const { code, message: text, details } = data.error;
    if (typeof code === 'string' && typeof text === 'string')
      return {
        event,
        data: { error: { code, message: text, details: isRecord(details) ? details : {} } },
      };
  }
  throw new EventStreamError(
    `The API sent a "${event}" event that a message stream does not have (chunk, response, error), or with data of the wrong shape: ${JSON.stringify(data).slice(0, 300)}`,
  );
}

/** Whether the answer is an event stream (else it is a plain JSON answer). */
export function isEventStream(response: Response): boolean {
  return (response.headers.get('content-type') ?? '').toLowerCase().startsWith(SSE_CONTENT_TYPE);
}

/** The SSE events of an answer, as they arrive. */
export async function* sseOf(response: Response): AsyncGenerator<ReceivedSse> {
  if (response.body === null) return;
  yield* readSse(response.body as AsyncIterable<Uint8Array>);
}

/** Opens one connection to a coordination's events, resuming after `lastEventId` when given. */
export type EventSource = (
  lastEventId: number | undefined,
  signal: AbortSignal,
) => Promise<Response>;

export interface FollowOptions {
  /** Only events after this id (0: from the start). */
  readonly after?: number;
  readonly signal?: AbortSignal;
  /**
   * Failed connections tried again in a row before giving up: one that could not be made, that
   * dropped, or that the API answered with a 5xx (or ended with a 5xx `error` event). A connection
   * the API closes cleanly is not a failure (an API function ends a stream before its 15-minute
   * limit): it is opened again however long the coordination takes. The count starts again once
   * events flow. @default 5
   */
  readonly reconnects?: number;
  /** Wait before the first new connection, doubled for each further failure. @default 250 */
  readonly backoffMs?: number;
  /** The first connection is itself a reconnection (a stream that dropped): retried as one. */
  readonly resuming?: boolean;
  /**
   * GET /coordinations/{id}, asked when QUIET_CLOSES connections in a row closed cleanly without
   * an event: a run whose end was never logged (the append of its `coordination.finished`
   * failed) would otherwise be watched for ever, as would one behind an API or proxy that closes
   * every stream at once. Without it, such streams are reopened for as long as they close.
   */
  readonly state?: StateSource;
}

/** GET /coordinations/{id} for the coordination watched: its status, or its result once over. */
export type StateSource = (signal: AbortSignal) => Promise<ApiResponse>;

/**
 * Clean closes in a row without an event after which the coordination's state is asked. An API
 * function ends a stream at its 15-minute limit, so a quiet step of up to 45 minutes costs no
 * request more, and the state is asked every 45 minutes at most while the run goes on.
 */
export const QUIET_CLOSES = 3;

/** A refusal trying again will not change (404 unknown coordination, 403, 400): thrown at once. */
export type Refusal = (response: Response) => Promise<Error | undefined>;

/**
 * A coordination's events from `open`, in order, each once, until `coordination.finished` (which
 * it yields, then ends). A connection that ends before it is opened again, with the last event id
 * (as EventSource sends `Last-Event-ID`): after `backoffMs` when the API closed it cleanly, after a
 * pause doubled with each failure otherwise, and at most `reconnects` failures in a row. A refusal that asking again
 * will not change (4xx, 503 EVENTS_NOT_CONFIGURED, a 4xx `error` event) is thrown as its
 * ApiError; an aborted `signal` ends it quietly, as does the API's 204 (nothing after `after`: the
 * coordination finished at or before it). After QUIET_CLOSES clean closes in a row that brought
 * no event, `options.state` is asked whether the run is over (see endOfQuietRun).
 */
export async function* followEvents(
  open: EventSource,
  refusal: Refusal,
  options: FollowOptions = {},
): AsyncGenerator<CoordinationEvent> {
  const { reconnects = 5, backoffMs = 250 } = options;
  // Ours too: a consumer that stops early closes the connection it no longer reads.
  const connection = new AbortController();
  const stop = () => connection.abort();
  options.signal?.addEventListener('abort', stop, { once: true });
  let last = options.after ?? 0;
  let connected = options.resuming ?? false;
  /** Connections in a row the API closed cleanly without an event. */
  let quietCloses = 0;
  /** Failed connection attempts in a row, and what the last one met. */
  let failures = 0;
  let lastFailure: Error | undefined;
  let wait = 0;
  const failed = (error: Error) => {
    failures++;
    lastFailure = error;
    wait = backoffMs * 2 ** (failures - 1);
  };
  try {
    for (;;) {
      if (failures > reconnects)
        throw new EventStreamError(
          `The event stream stopped before the coordination finished, and ${reconnects} new connections did not bring it back (${lastFailure?.message}).`,
          { cause: lastFailure },
        );
      if (wait > 0) await pause(wait, connection.signal);
      if (connection.signal.aborted) return;
      let response: Response;
      try {
        response = await open(last > 0 ? last : undefined, connection.signal);
      } catch (error) {
        if (connection.signal.aborted) return;
        // The API unreachable from the start: the caller learns why at once.
        if (!connected) throw error;
        failed(error as Error);
        continue;
      }
      const refused = await refusal(response);
      if (refused !== undefined) {
        if (!isTransient(refused)) throw refused;
        connected = true;
        failed(refused);
        continue;
      }
      // Asked from the end or past it: the coordination finished at or before `last`, nothing follows.
      if (response.status === 204) return;
      if (!isEventStream(response)) {
        const problem = new EventStreamError(
          `The API answered ${response.status} with ${response.headers.get('content-type') ?? 'no content type'} instead of an event stream (is it older than coordination events?).`,
        );
        // At first, an API that does not stream; later, something in the way for a moment.
        if (!connected) throw problem;
        failed(problem);
        continue;
      }
      connected = true;
      /** Whether this connection brought an event (then its close is not a quiet one). */
      let brought = false;
      try {
        for await (const message of sseOf(response)) {
          if (message.event === 'error') throw errorEventOf(message, 'watchCoordination');
          const event = coordinationEventOf(message);
          if (event.id !== undefined) {
            if (event.id <= last) continue; // already delivered before the connection dropped
            last = event.id;
          }
          failures = 0;
          quietCloses = 0;
          brought = true;
          yield event;
          if (isFinal(event)) return;
        }
        // Closed cleanly before the end: not a failure, however often a long run needs it (one
        // pause, not doubled, so that an API that keeps closing at once is not asked in a loop).
        wait = backoffMs;
        // A run whose end was never logged closes quietly for ever: after a few closes in a row
        // without an event, whether it is over is asked instead.
        if (brought) continue;
        quietCloses++;
        if (quietCloses < QUIET_CLOSES || options.state === undefined) continue;
        quietCloses = 0;
        const end = await endOfQuietRun(options.state, connection.signal);
        if (end !== undefined) {
          yield end;
          return;
        }
      } catch (error) {
        if (connection.signal.aborted) return;
        if (error instanceof EventStreamError) throw error;
        if (error instanceof ApiError && !isTransient(error)) throw error;
        failed(error as Error);
      }
    }
  } finally {
    options.signal?.removeEventListener('abort', stop);
    connection.abort();
  }
}

/**
 * The end of a run whose stream keeps closing without an event, from GET /coordinations/{id}:
 * undefined while it runs (watching goes on); once it is over, the `coordination.finished` its
 * result makes, as the API sends a result its log does not hold (without an id). Unknown to the
 * API (404: an express run, whose result is not kept), it ended without its end ever being logged:
 * an EventStreamError says so. Any other refusal is thrown as its ApiError, to be retried or not
 * as a connection's would be.
 */
async function endOfQuietRun(
  state: StateSource,
  signal: AbortSignal,
): Promise<CoordinationEvent | undefined> {
  const { status, body } = await state(signal);
  if (status === 404)
    throw new EventStreamError(
      `The coordination's event stream closed ${QUIET_CLOSES} times in a row without an event, and the API does not know the coordination (GET /coordinations/{id} answered 404): an express run, whose result is not kept, and its end was never logged (its coordination.finished could not be appended). Its logged events are all there is.`,
      { cause: new ApiError('getCoordination', status, body) },
    );
  if (status >= 400) throw new ApiError('getCoordination', status, body);
  if (isRecord(body) && body.status === 'running') return undefined;
  const result = isRecord(body) ? body : {};
  return coordinationEventOf({
    event: 'coordination.finished',
    id: undefined,
    data: {
      type: 'coordination.finished',
      status: result.status,
      result: body,
      coordinationId: result.coordinationId,
      time: new Date().toISOString(),
    },
  });
}

/** Waits `ms`, or less when `signal` aborts. */
function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}
