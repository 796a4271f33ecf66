import { coordinationEventInputSchema, isFinal } from '../core/streaming/events.ts';
import { type ReceivedSse, readSse, SSE_CONTENT_TYPE } from '../core/streaming/sse.ts';
import type { components } from './api-types.ts';

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

/** A coordination event from one SSE event (`data` is the event, `id` its id). */
export function coordinationEventOf(message: ReceivedSse): CoordinationEvent {
  const parsed = coordinationEventInputSchema.safeParse(message.data);
  const meta = message.data as Partial<Record<'id' | 'coordinationId' | 'time', unknown>> | null;
  if (
    !parsed.success ||
    typeof meta?.id !== 'number' ||
    typeof meta.coordinationId !== 'string' ||
    typeof meta.time !== 'string'
  )
    throw new EventStreamError(
      `The API sent a "${message.event}" event that is not a coordination event: ${JSON.stringify(message.data).slice(0, 300)}`,
    );
  return { ...parsed.data, id: meta.id, coordinationId: meta.coordinationId, time: meta.time };
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
   * Connections tried again after one dropped (or could not be made, or answered 502/503/504)
   * before the coordination finished, each resuming after the last event received; the count
   * starts again once events flow. @default 5
   */
  readonly reconnects?: number;
  /** Wait before the first new connection, doubled for each further one. @default 250 */
  readonly backoffMs?: number;
  /** The first connection is itself a reconnection (a stream that dropped): retried as one. */
  readonly resuming?: boolean;
}

/** A refusal trying again will not change (404 unknown coordination, 403, 400): thrown at once. */
export type Refusal = (response: Response) => Promise<Error | undefined>;

/**
 * A coordination's events from `open`, in order, each once, until `coordination.finished` (which
 * it yields, then ends). A connection that drops is opened again after a pause, with the last
 * event id (as EventSource sends `Last-Event-ID`), at most `reconnects` times in a row; an
 * aborted `signal` ends it quietly.
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
  let failures = 0;
  let connected = options.resuming ?? false;
  let lastProblem = '';
  try {
    for (;;) {
      if (failures > 0) {
        if (failures > reconnects)
          throw new EventStreamError(
            `The event stream stopped before the coordination finished, and ${reconnects} new connections did not bring it back (${lastProblem}).`,
          );
        await pause(backoffMs * 2 ** (failures - 1), connection.signal);
      }
      if (connection.signal.aborted) return;
      let response: Response;
      try {
        response = await open(last > 0 ? last : undefined, connection.signal);
      } catch (error) {
        if (connection.signal.aborted) return;
        // The API unreachable from the start: the caller learns why at once.
        if (!connected) throw error;
        lastProblem = (error as Error).message;
        failures++;
        continue;
      }
      connected = true;
      const refused = await refusal(response);
      if (refused !== undefined) {
        if (![502, 503, 504].includes(response.status)) throw refused;
        lastProblem = refused.message;
        failures++;
        continue;
      }
      if (!isEventStream(response))
        throw new EventStreamError(
          `The API answered ${response.status} with ${response.headers.get('content-type') ?? 'no content type'} instead of an event stream (is it older than coordination events?).`,
        );
      try {
        for await (const message of sseOf(response)) {
          const event = coordinationEventOf(message);
          if (event.id <= last) continue; // already delivered before the connection dropped
          last = event.id;
          failures = 0;
          yield event;
          if (isFinal(event)) return;
        }
        lastProblem = 'the connection closed';
      } catch (error) {
        if (connection.signal.aborted) return;
        if (error instanceof EventStreamError) throw error;
        lastProblem = (error as Error).message;
      }
      failures++;
    }
  } finally {
    options.signal?.removeEventListener('abort', stop);
    connection.abort();
  }
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
