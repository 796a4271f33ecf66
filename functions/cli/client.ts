import { fromNodeProviderChain } from '@aws-sdk/credential-providers';
import { isFinal } from '../core/streaming/events.ts';
import { SSE_CONTENT_TYPE } from '../core/streaming/sse.ts';
import { ApiError, isTransient } from './api-error.ts';
import { type components, type JsonValue, operationRoutes, type operations } from './api-types.ts';
import {
  type CoordinationEvent,
  coordinationEventOf,
  EventStreamError,
  errorEventOf,
  type FollowOptions,
  followEvents,
  isEventStream,
  type MessageStreamEvent,
  messageEventOf,
  type StreamChunk,
  sseOf,
} from './event-streams.ts';
import { bodyOf, type CredentialsProvider, callApi, openApi } from './signed-fetch.ts';

export type { CoordinationEvent, JsonValue, MessageStreamEvent, StreamChunk };
export { ApiError, EventStreamError };

/**
 * A typed client for the Mobius HTTP API, deployed (SigV4-signed) or embedded (`mobius dev`):
 * one method per operationId of docs/openapi.json, with request and response types generated from
 * that document (functions/cli/api-types.ts). Requests go through callApi; nothing else is needed
 * at run time.
 *
 * ```ts
 * const mobius = createClient('https://abc123.execute-api.eu-west-1.amazonaws.com/v1');
 * const { body } = await mobius.getAgent({ path: { id: 'summarizer' } });
 * for await (const event of mobius.watchCoordination('c-…')) console.log(event.type);
 * ```
 */

/** The API's schemas by name, e.g. `Schemas['CoordinationRequest']`. */
export type Schemas = components['schemas'];
export type OperationId = keyof operations;

type Operation<K extends OperationId> = operations[K];
type JsonOf<T> = T extends { content: { 'application/json': infer Body } } ? Body : never;
type Present<T> = [Exclude<T, undefined>] extends [never] ? false : true;
/** Keeps only the keys an operation really has (openapi-typescript marks the others `never`). */
type Only<T> = { [P in keyof T as Present<T[P]> extends true ? P : never]: T[P] };

type ParametersOf<K extends OperationId> = Only<Pick<Operation<K>['parameters'], 'path' | 'query'>>;
type BodyOf<K extends OperationId> =
  Present<Operation<K>['requestBody']> extends false
    ? unknown
    : Operation<K> extends { requestBody: infer Body }
      ? { body: JsonOf<Body> }
      : { body?: JsonOf<Operation<K>['requestBody']> };

/** What an operation takes: `path` and `query` parameters and a JSON `body`, where it has them. */
export type RequestOf<K extends OperationId> = ParametersOf<K> & BodyOf<K>;

type Responses<K extends OperationId> = Operation<K>['responses'];
/** What an operation answers when it succeeds (2xx), by status; anything else is an ApiError. */
export type ResponseOf<K extends OperationId> = {
  [S in keyof Responses<K>]: `${S & number}` extends `2${string}`
    ? { readonly status: S; readonly body: JsonOf<Responses<K>[S]> }
    : never;
}[keyof Responses<K>];

/** Operations answered with server-sent events: the client reads them as async iterables. */
export type StreamedOperation = 'watchCoordination';

export interface WatchOptions {
  /**
   * Only events after this id (`?after=`); 0 or absent: the whole log, from the start. At or past
   * the id of `coordination.finished` there is nothing more: the iteration ends at once (204).
   */
  readonly after?: number;
  /** Stops watching: the iteration ends quietly and the connection closes. */
  readonly signal?: AbortSignal;
  /**
   * Failed connections tried again in a row before the coordination finished, each resuming
   * after the last event received: one that could not be made, dropped, or was answered (or
   * ended) with a 5xx error. A connection the API closes cleanly is opened again without being
   * counted, however long the run takes; the count starts again once events flow. @default 5
   */
  readonly reconnects?: number;
  /** Wait before a new connection, doubled for each further failure (ms). @default 250 */
  readonly backoffMs?: number;
}

export interface StreamOptions {
  /** Stops reading: the iteration ends quietly and the connection closes. */
  readonly signal?: AbortSignal;
}

/** The operations whose answers arrive over time, read as they come (server-sent events). */
export interface StreamingMethods {
  /**
   * GET /coordinations/{id}/events: the coordination's live events, replayed from the start (or
   * after `after`), then followed until `coordination.finished`, which is the last one (without
   * an `id` when the API's log does not hold the result). A dropped connection is opened again
   * with `Last-Event-ID` (see WatchOptions.reconnects), so each event arrives once and in order.
   * An unknown id is an ApiError (404), an API without an event log one with the code
   * EVENTS_NOT_CONFIGURED (503); a stream the API ends with an `error` event is resumed when the
   * error is a 5xx, and thrown as its ApiError (`midStream`) when it is a 4xx. After three
   * connections in a row that closed cleanly without an event, GET /coordinations/{id} is asked:
   * a run that is over ends the iteration with the `coordination.finished` its result makes (no
   * `id`: its end was never logged); one the API does not know (an express run, not kept) with an
   * EventStreamError saying its end was never logged; one still running is watched on.
   */
  watchCoordination(id: string, options?: WatchOptions): AsyncIterable<CoordinationEvent>;
  /**
   * POST /messages with `"stream": true`: the agent's chunks as it produces them, then its
   * response (or the error), after which the iteration ends. A request refused before the agent's
   * first chunk, within the API's first few seconds (bad input, unknown agent, open circuit, an
   * agent failing at once), is an ApiError; a later refusal or failure is the `error` event.
   */
  streamMessage(
    body: Schemas['MessageRequest'],
    options?: StreamOptions,
  ): AsyncIterable<MessageStreamEvent>;
  /**
   * POST /coordinations with `Accept: text/event-stream`: starts the coordination and yields its
   * events until `coordination.finished`, which carries the result. A request refused before it
   * starts is an ApiError; a stream that drops is resumed through GET …/events, as is one the API
   * ends with a 5xx `error` event: the log failed under it (the run goes on), or the run failed
   * with an error after it started, whose `coordination.finished` (failed, naming the error) is in
   * the log. A 4xx `error` event is thrown as its ApiError (`midStream`).
   */
  runCoordinationStream(
    body: Schemas['CoordinationRequest'],
    options?: WatchOptions,
  ): AsyncIterable<CoordinationEvent>;
}

export type MobiusClient = {
  readonly [K in Exclude<OperationId, StreamedOperation>]: (
    ...request: object extends RequestOf<K> ? [request?: RequestOf<K>] : [request: RequestOf<K>]
  ) => Promise<ResponseOf<K>>;
} & StreamingMethods;

interface AnyRequest {
  readonly path?: Readonly<Record<string, string | number>>;
  readonly query?: Readonly<Record<string, string | number | boolean | undefined>>;
  readonly body?: unknown;
}

/** `/agents/{id}` with its parameters filled in (encoded), plus the query string. */
function target(template: string, { path = {}, query = {} }: AnyRequest): string {
  const filled = template.replace(/\{([^}]+)\}/g, (_, name: string) => {
    const value = path[name];
    if (value === undefined) throw new TypeError(`${template} needs the path parameter ${name}`);
    return encodeURIComponent(String(value));
  });
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(query))
    if (value !== undefined) search.append(name, String(value));
  const text = search.toString();
  return text === '' ? filled : `${filled}?${text}`;
}

/**
 * The provider's credentials, fetched once and reused until five minutes before they expire
 * (profiles, SSO and instance roles are not asked again for every request).
 */
function reused(provider: CredentialsProvider): CredentialsProvider {
  let current: ReturnType<CredentialsProvider> | undefined;
  return async () => {
    current ??= provider();
    try {
      const identity = await current;
      const expiresAt = identity.expiration?.getTime();
      if (expiresAt !== undefined && expiresAt - Date.now() < 300_000) current = undefined;
      return identity;
    } catch (error) {
      current = undefined; // let the next request try again
      throw error;
    }
  };
}

/** Where the events of a coordination are read (GET /coordinations/{id}/events). */
const EVENTS_PATH = '/coordinations/{id}/events';

/** The ApiError of an answer that is not a success, or undefined for one that is. */
async function refusalOf(
  operationId: OperationId | StreamedOperation,
  response: Response,
): Promise<ApiError | undefined> {
  if (response.status < 400) return undefined;
  return new ApiError(operationId, response.status, await bodyOf(response));
}

/**
 * A client for the API at `baseUrl` (its stage URL, or `http://127.0.0.1:4000` for `mobius dev`).
 * Requests to API Gateway are signed with `credentials`, by default the standard chain
 * (environment, profile, SSO, instance role), resolved once for the client and cached by it.
 */
export function createClient(
  baseUrl: string,
  options: { readonly credentials?: CredentialsProvider } = {},
): MobiusClient {
  const credentials = options.credentials ?? reused(fromNodeProviderChain());
  const call = async (operationId: OperationId, request: AnyRequest = {}) => {
    const { method, path } = operationRoutes[operationId];
    const { status, body } = await callApi(baseUrl, method, target(path, request), request.body, {
      credentials,
    });
    if (status >= 400) throw new ApiError(operationId, status, body);
    return { status, body };
  };
  /** Opens a request whose answer is read as server-sent events. */
  const open = (
    method: string,
    path: string,
    body: unknown,
    signal: AbortSignal | undefined,
    headers: Record<string, string> = {},
  ) =>
    openApi(baseUrl, method, path, body, {
      credentials,
      headers: { accept: SSE_CONTENT_TYPE, ...headers },
      ...(signal === undefined ? {} : { signal }),
    });

  const watch = (id: string, watchOptions: WatchOptions & Pick<FollowOptions, 'resuming'> = {}) =>
    followEvents(
      (lastEventId, signal) =>
        // The first connection asks with `after`; later ones resume as EventSource does.
        lastEventId === undefined || lastEventId === watchOptions.after
          ? open(
              'GET',
              target(EVENTS_PATH, { path: { id }, query: { after: watchOptions.after } }),
              undefined,
              signal,
            )
          : open('GET', target(EVENTS_PATH, { path: { id } }), undefined, signal, {
              'last-event-id': String(lastEventId),
            }),
      (response) => refusalOf('watchCoordination', response),
      {
        ...watchOptions,
        state: (signal) =>
          callApi(
            baseUrl,
            'GET',
            target(operationRoutes.getCoordination.path, { path: { id } }),
            undefined,
            { credentials, signal },
          ),
      },
    );

  async function* streamMessage(
    body: Schemas['MessageRequest'],
    streamOptions: StreamOptions = {},
  ): AsyncGenerator<MessageStreamEvent> {
    const { signal } = streamOptions;
    const response = await open(
      'POST',
      operationRoutes.sendMessage.path,
      { ...body, stream: true },
      signal,
    );
    const refused = await refusalOf('sendMessage', response);
    if (refused !== undefined) throw refused;
    if (!isEventStream(response)) {
      // An API that answered without streaming (it predates it): its response, whole.
      const answer = (await bodyOf(response)) as { response?: unknown } | null;
      if (response.status === 200 && typeof answer?.response === 'object' && answer.response)
        yield messageEventOf({ event: 'response', data: answer.response, id: undefined });
      else
        throw new EventStreamError(
          `The API answered ${response.status} without streaming: ${JSON.stringify(answer).slice(0, 300)}`,
        );
      return;
    }
    let dropped = 'the connection closed';
    try {
      for await (const message of sseOf(response)) {
        const event = messageEventOf(message);
        yield event;
        if (event.event !== 'chunk') return;
      }
    } catch (error) {
      if (signal?.aborted) return;
      if (error instanceof EventStreamError) throw error;
      dropped = (error as Error).message;
    }
    if (signal?.aborted) return;
    throw new EventStreamError(
      `The message stream ended before its response or error (${dropped}). A message cannot be resumed: send it again, or send it with \`wait\` and no stream.`,
    );
  }

  async function* runCoordinationStream(
    body: Schemas['CoordinationRequest'],
    watchOptions: WatchOptions = {},
  ): AsyncGenerator<CoordinationEvent> {
    const { signal } = watchOptions;
    const response = await open('POST', operationRoutes.runCoordination.path, body, signal);
    const refused = await refusalOf('runCoordination', response);
    if (refused !== undefined) throw refused;
    if (!isEventStream(response))
      throw new EventStreamError(
        `The API answered ${response.status} without streaming (it predates coordination events): ${JSON.stringify(await bodyOf(response)).slice(0, 300)}`,
      );
    let last: CoordinationEvent | undefined;
    try {
      for await (const message of sseOf(response)) {
        if (message.event === 'error') {
          const error = errorEventOf(message, 'runCoordination');
          // A 5xx: the log failed under the stream while the run goes on, or the run failed after
          // it started and has logged its end. Either way the log has the rest: it is followed
          // below, as watchCoordination resumes after one. A 4xx is final.
          if (!isTransient(error) || last === undefined) throw error;
          break;
        }
        last = coordinationEventOf(message);
        yield last;
        if (isFinal(last)) return;
      }
    } catch (error) {
      if (signal?.aborted) return;
      if (error instanceof EventStreamError || error instanceof ApiError || last === undefined)
        throw error;
    }
    if (signal?.aborted) return;
    if (last === undefined)
      throw new EventStreamError('The coordination stream closed before the coordination started.');
    // The run goes on without this connection: follow the rest of it from its event log. (Only
    // the final event may lack an id, and it has ended the stream above.)
    yield* watch(last.coordinationId, { ...watchOptions, after: last.id ?? 0, resuming: true });
  }

  const methods = Object.keys(operationRoutes).map((id) => [
    id,
    (request?: AnyRequest) => call(id as OperationId, request),
  ]);
  // The generated route table and the generated types describe the same operations.
  return {
    ...Object.fromEntries(methods),
    watchCoordination: (id: string, watchOptions?: WatchOptions) => watch(id, watchOptions),
    streamMessage,
    runCoordinationStream,
  } as MobiusClient;
}

/** What listAllCoordinations reads at most, unless told otherwise. */
export const MAX_LISTED_COORDINATIONS = 1000;

/**
 * GET /coordinations page after page (following `nextToken`), newest first, until the list ends
 * or `max` coordinations are read (default 1000). The answer has the shape of one page: when it
 * stopped at `max`, or after `maxPages` requests, its `nextToken` continues from there. A filter
 * the API applies to each page it reads may leave some pages short, or empty, while more follow:
 * pages are counted, not only coordinations, so that a filter matching little stays bounded.
 *
 * ```ts
 * const { coordinations } = await listAllCoordinations(mobius, { status: 'failed', since });
 * ```
 */
export async function listAllCoordinations(
  client: Pick<MobiusClient, 'listCoordinations'>,
  query: Omit<NonNullable<RequestOf<'listCoordinations'>['query']>, 'nextToken'> = {},
  options: { readonly max?: number; readonly maxPages?: number } = {},
): Promise<Schemas['CoordinationList']> {
  const max = options.max ?? MAX_LISTED_COORDINATIONS;
  const maxPages = options.maxPages ?? 100;
  const pageSize = query.limit ?? 100;
  const coordinations: Schemas['CoordinationSummary'][] = [];
  let nextToken: string | undefined;
  for (let pages = 0; pages < maxPages && coordinations.length < max; pages++) {
    const limit = Math.min(pageSize, max - coordinations.length);
    const { body } = await client.listCoordinations({
      query: { ...query, limit, ...(nextToken === undefined ? {} : { nextToken }) },
    });
    coordinations.push(...body.coordinations);
    nextToken = body.nextToken;
    if (nextToken === undefined) break;
  }
  return nextToken === undefined ? { coordinations } : { coordinations, nextToken };
}
