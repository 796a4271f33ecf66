/**
 * Calls the Mobius API from the page, by relative path: the page is served by the API itself
 * (`mobius dev`) or by `mobius console`, which forwards these calls signed to a deployed stack.
 * Failures become ApiFailure with the API's own message, so the page can show it as is.
 */
import { readSse } from '../../functions/core/streaming/sse.ts';
import { sessionHeaders } from './session.ts';

export class ApiFailure extends Error {
  readonly status: number;
  readonly code: string;
  /** The API has no such route (yet): an older API, or a route still being built. */
  readonly routeMissing: boolean;

  constructor(message: string, status: number, code: string, routeMissing: boolean) {
    super(message);
    this.name = 'ApiFailure';
    this.status = status;
    this.code = code;
    this.routeMissing = routeMissing;
  }
}

interface ErrorBody {
  readonly error?: { readonly code?: unknown; readonly message?: unknown };
  /** API Gateway's own answers (no such resource, a bad signature) carry `message` alone. */
  readonly message?: unknown;
}

/** What an error answer says, in the API's words where it has any. */
export function failureOf(method: string, path: string, status: number, body: unknown): ApiFailure {
  const parsed = (typeof body === 'object' && body !== null ? body : {}) as ErrorBody;
  const code = typeof parsed.error?.code === 'string' ? parsed.error.code : `HTTP_${status}`;
  const said =
    typeof parsed.error?.message === 'string'
      ? parsed.error.message
      : typeof parsed.message === 'string'
        ? parsed.message
        : typeof body === 'string' && body.length > 0
          ? body.slice(0, 300)
          : `${method} ${path} answered ${status}`;
  // The embedded API's router says "No route …"; API Gateway answers an unknown resource with
  // 403 "Missing Authentication Token".
  const routeMissing =
    (status === 404 && code === 'NOT_FOUND' && said.startsWith('No route')) ||
    (status === 403 && said === 'Missing Authentication Token');
  const message = routeMissing
    ? `This API has no route ${method} ${path.split('?')[0]} (it answered ${status}): it is older than this console.`
    : said;
  return new ApiFailure(message, status, code, routeMissing);
}

async function bodyOf(response: Response): Promise<unknown> {
  const text = await response.text();
  if (text.length === 0) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

/** One API call; resolves with the JSON body of a 2xx answer, rejects with ApiFailure. */
export async function call<T>(
  method: 'GET' | 'POST' | 'DELETE',
  path: string,
  body?: unknown,
  signal?: AbortSignal,
): Promise<T> {
  let response: Response;
  try {
    response = await fetch(path, {
      method,
      headers: {
        accept: 'application/json',
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        ...sessionHeaders(),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      ...(signal === undefined ? {} : { signal }),
    });
  } catch (error) {
    if (signal?.aborted) throw error;
    throw new ApiFailure(
      `Cannot reach the API (${(error as Error).message}): is \`mobius dev\` (or \`mobius console\`) still running?`,
      0,
      'UNREACHABLE',
      false,
    );
  }
  const parsed = await bodyOf(response);
  if (!response.ok) throw failureOf(method, path, response.status, parsed);
  return parsed as T;
}

export const messageOf = (error: unknown): string =>
  error instanceof Error ? error.message : String(error);

/** A path segment: agent and coordination ids go into paths percent-encoded. */
export const segment = (id: string): string => encodeURIComponent(id);

/**
 * Starts a coordination and resolves with its id as soon as the API announces it: the request is
 * sent with `Accept: text/event-stream`, whose first event (coordination.started) names the run
 * before an express run has finished; then the stream is let go (the run goes on: the run page
 * follows it on GET /coordinations/{id}/events). An API answering JSON (a standard run's 202, a
 * result) is read as such; a refusal is an ApiFailure with the API's message.
 */
export async function startCoordination(request: unknown): Promise<string> {
  const controller = new AbortController();
  let response: Response;
  try {
    response = await fetch('/coordinations', {
      method: 'POST',
      headers: {
        accept: 'text/event-stream',
        'content-type': 'application/json',
        ...sessionHeaders(),
      },
      body: JSON.stringify(request),
      signal: controller.signal,
    });
  } catch (error) {
    throw new ApiFailure(`Cannot reach the API (${messageOf(error)}).`, 0, 'UNREACHABLE', false);
  }
  const type = response.headers.get('content-type') ?? '';
  if (!response.ok || !type.startsWith('text/event-stream') || response.body === null) {
    const body = await bodyOf(response);
    if (!response.ok) throw failureOf('POST', '/coordinations', response.status, body);
    const id = (body as { coordinationId?: unknown } | undefined)?.coordinationId;
    if (typeof id !== 'string')
      throw new ApiFailure('The API did not name the run.', 0, 'BAD_ANSWER', false);
    return id;
  }
  try {
    return await firstCoordinationId(response.body);
  } finally {
    controller.abort();
  }
}

/** An event stream opened, or the answer that was not one (status 0: no answer at all). */
export type Opened =
  | { readonly stream: ReadableStream<Uint8Array> }
  | { readonly status: number; readonly failure: ApiFailure };

/**
 * Opens a coordination's events (GET …/events, `?after=` the last event seen), answered with its
 * body to read as it arrives, or with the answer that was not an event stream. Aborting `signal`
 * closes the connection.
 */
export async function openEvents(
  path: string,
  after: number,
  signal: AbortSignal,
): Promise<Opened> {
  const url = after > 0 ? `${path}?after=${after}` : path;
  let response: Response;
  try {
    response = await fetch(url, {
      headers: { accept: 'text/event-stream', ...sessionHeaders() },
      signal,
    });
  } catch (error) {
    const failure = new ApiFailure(
      `Cannot reach the API (${messageOf(error)}).`,
      0,
      'UNREACHABLE',
      false,
    );
    return { status: 0, failure };
  }
  const type = response.headers.get('content-type') ?? '';
  if (response.status === 200 && type.startsWith('text/event-stream') && response.body !== null)
    return { stream: response.body };
  const body = await bodyOf(response).catch(() => undefined);
  return { status: response.status, failure: failureOf('GET', path, response.status, body) };
}

/**
 * The coordinationId of the first event of an SSE body (or its error event's message), read with
 * the project's one SSE reader (functions/core/streaming/sse.ts).
 */
async function firstCoordinationId(body: ReadableStream<Uint8Array>): Promise<string> {
  for await (const message of readSse(chunksOf(body))) {
    if (message.event === 'error') throw failureOf('POST', '/coordinations', 500, message.data);
    const id = (message.data as { coordinationId?: unknown } | null)?.coordinationId;
    if (typeof id === 'string') return id;
  }
  throw new ApiFailure('The event stream ended before the run was named.', 0, 'BAD_ANSWER', false);
}

/** A fetch body as an async iterable (not every browser iterates ReadableStream itself). */
export async function* chunksOf(body: ReadableStream<Uint8Array>): AsyncGenerator<Uint8Array> {
  const reader = body.getReader();
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      yield value;
    }
  } finally {
    reader.releaseLock();
  }
}
