import { MetricUnit } from '@aws-lambda-powertools/metrics';
import * as z from 'zod';
import { isTaskLogKey } from '../../a2a/task-log.ts';
import { CoordinationShedError } from '../../coordination/admission.ts';
import { finishedEvent } from '../../coordination/live-events.ts';
import { recordCoordinationOutcome } from '../../coordination/outcome-metrics.ts';
import type { CoordinationResult } from '../../coordination/result.ts';
import type { CoordinationResponse } from '../../coordination/service.ts';
import { annotate } from '../../core/aws/tracing.ts';
import { withDeadline } from '../../core/deadline.ts';
import {
  CapacityExceededError,
  EventsNotConfiguredError,
  NotFoundError,
  TimeoutError,
  ValidationError,
} from '../../core/errors.ts';
import type { CoordinationEventLog } from '../../core/streaming/event-log.ts';
import {
  type CoordinationEvent,
  coordinationListQuerySchema,
  coordinationSummarySchema,
  isFinal,
} from '../../core/streaming/events.ts';
import { formatSse, wantsEventStream } from '../../core/streaming/sse.ts';
import { parseWith } from '../../core/validation.ts';
import { callerIn, requireOperator } from '../caller.ts';
import type { ApiDependencies } from '../dependencies.ts';
import {
  type ApiEvent,
  type ApiResult,
  json,
  parseBody,
  pathParameter,
  query,
  type StreamingResult,
} from '../http.ts';
import { type ErrorBody, statusOf } from '../http-errors.ts';
import { sseErrorEvent, sseResult } from '../sse-stream.ts';

/**
 * POST /coordinations: express runs answer 200 with the result (502/504 when it failed, the
 * result in `error.details`); standard runs answer 202 with the id to poll. With
 * `Accept: text/event-stream`, the run's live events instead (see runWithEvents).
 */
export const runCoordination = (deps: ApiDependencies) => async (event: ApiEvent) => {
  const body = parseBody(event, z.unknown(), 'coordination request');
  if (wantsEventStream(event.headers)) return runWithEvents(deps, event, body);
  return respond(await measured(deps, started(deps, body)), true);
};

/**
 * The run, held to the API's response deadline (syncWaitMs) where it has one — for a JSON answer
 * only: it sends nothing until the result is ready, and API Gateway closes a request that stays
 * silent for 30 s. An SSE answer sends its events and keep-alives as it goes, so its express run is
 * bounded by Step Functions (StartSyncExecution: 5 minutes) instead.
 */
function started(
  deps: ApiDependencies,
  body: unknown,
  onStarted?: (coordinationId: string) => void,
): Promise<CoordinationResponse> {
  const limit = onStarted === undefined ? deps.syncWaitMs : undefined;
  const options = onStarted === undefined ? {} : { onStarted };
  return limit === undefined
    ? deps.coordinations.run(body, options)
    : withDeadline(
        (signal) => deps.coordinations.run(body, { ...options, signal }),
        limit,
        () =>
          new TimeoutError(
            `No result within ${limit / 1000} s, the longest this API waits for an express ` +
              'coordination in JSON (API Gateway closes a request that sends nothing for 30 s). The ' +
              'run may still finish in Step Functions, but its result cannot be returned: ask for ' +
              'it with Accept: text/event-stream to watch it to its end, or send long work with ' +
              '"mode": "standard" and poll GET /coordinations/{id}.',
            { waitedMs: limit },
          ),
      );
}

/**
 * The run's response, with the coordination metrics every run counts, however it is answered
 * (JSON or events).
 */
async function measured(
  deps: ApiDependencies,
  run: Promise<CoordinationResponse>,
): Promise<CoordinationResponse> {
  let response: CoordinationResponse;
  try {
    response = await run;
  } catch (error) {
    // Shed by admission control: nothing was planned or started, so it is neither started nor
    // failed (the failure rate stays about coordinations that ran); the dashboard and its alarm
    // watch CoordinationsShed instead.
    if (error instanceof CoordinationShedError) {
      deps.metrics?.addMetric('CoordinationsShed', MetricUnit.Count, 1);
      throw error;
    }
    // A refused request (4xx: invalid, unknown agent, too large) started nothing. A 5xx (no agent
    // available, Step Functions at capacity, no result in time, our bug) is a coordination that
    // failed, and the failure-rate alarm must see it.
    if (statusOf(error) >= 500) {
      deps.metrics?.addMetric('CoordinationsStarted', MetricUnit.Count, 1);
      deps.metrics?.addMetric('CoordinationsFailed', MetricUnit.Count, 1);
    }
    // Step Functions refused the start (quota or throttling), whichever machine: its own alarm.
    if (error instanceof CapacityExceededError)
      deps.metrics?.addMetric('CoordinationsThrottled', MetricUnit.Count, 1);
    throw error;
  }
  // Started counts every run; express outcomes are recorded here, standard ones when Step
  // Functions reports them (functions/monitor/coordination-events.ts).
  deps.metrics?.addMetric('CoordinationsStarted', MetricUnit.Count, 1);
  if (response.state === 'completed' && deps.metrics)
    recordCoordinationOutcome(deps.metrics, response.result);
  return response;
}

/**
 * POST /coordinations with `Accept: text/event-stream`: starts the run, then streams its events
 * (SSE) until `coordination.finished`, whichever the mode — an express run's own answer ends with
 * it, a standard run's comes when the engine (or on AWS the monitor) logs its end. A request
 * refused before the run starts (invalid, forbidden, too large, no agent, shed) is answered as
 * without SSE, in JSON. A run that fails with an error after it started (the API's response
 * deadline) ends the stream with an `error` event carrying the API's error body. A client that
 * goes away stops only its own stream: the coordination runs on.
 */
async function runWithEvents(
  deps: ApiDependencies,
  event: ApiEvent,
  body: unknown,
): Promise<ApiResult> {
  const events = deps.events;
  // Refused before anything runs: a run nobody could watch is not started.
  if (events === undefined) eventsNotConfigured();
  let announce: (coordinationId: string) => void = () => undefined;
  const announced = new Promise<string>((resolve) => {
    announce = resolve;
  });
  const run = measured(
    deps,
    started(deps, body, (id) => announce(id)),
  );
  // Whatever becomes of the run once nobody streams it, it never becomes an unhandled rejection.
  run.catch(() => undefined);
  // Rejects when the run is refused before it starts: the usual JSON error.
  const coordinationId = await Promise.race([announced, run.then(() => undefined)]);
  // A service that never announces its runs: answer as without SSE.
  if (coordinationId === undefined) return respond(await run, true);
  return endingWith(
    sseResult((signal) =>
      followCoordination(events, coordinationId, { after: 0, signal, run, deps, event }),
    ),
    run,
  );
}

/**
 * The answer, whose stream ends (`return()`, which its writer calls when the stream is done or its
 * reader left) only once `run` has settled. A reader that leaves must not end the request while
 * the run it started goes on: on Lambda the function would return with StartSyncExecution still
 * pending and its environment frozen, and the run's `coordination.finished` and metrics would be
 * lost, or come late as a false failure. The wait is bounded by the writer (the API's Lambda entry
 * stops waiting just before the function's deadline).
 */
function endingWith(result: StreamingResult, run: Promise<unknown>): StreamingResult {
  return {
    ...result,
    stream: {
      [Symbol.asyncIterator]() {
        const inner = result.stream[Symbol.asyncIterator]();
        return {
          next: () => inner.next(),
          return: async () => {
            try {
              await inner.return?.(undefined);
            } finally {
              await run.catch(() => undefined);
            }
            return { done: true, value: undefined };
          },
        };
      },
    },
  };
}

/**
 * GET /coordinations/{id}/events: the coordination's live events (SSE), replayed from the start —
 * or after the `Last-Event-ID` header's id, or `?after=<id>` — and followed until
 * `coordination.finished`, which ends the stream. 404 when no such coordination is known.
 */
export const coordinationEventStream = (deps: ApiDependencies) => async (event: ApiEvent) => {
  const coordinationId = coordinationIdIn(event);
  const after = resumePoint(event);
  const events = deps.events;
  if (events === undefined) eventsNotConfigured();
  const finished = await events.finishedId(coordinationId);
  // A resume after the end: 204, which is what stops a browser's EventSource from reconnecting
  // (any 200, even an empty stream, makes it reconnect with the same Last-Event-ID for ever).
  if (finished !== undefined && after >= finished)
    return { statusCode: 204, headers: {}, body: '' };
  if (finished === undefined) {
    const known = await coordinationState(deps, coordinationId);
    // Nothing logged and not known: the 404 of GET /coordinations/{id}.
    if (known.state === 'unknown' && (await events.read(coordinationId, { limit: 1 })).length === 0)
      throw known.error;
    // Over, without its end in the log (its events expired after 7 days, or the append of its
    // coordination.finished failed): nothing more will be appended, so the stream sends what was
    // logged and the end told from the result, rather than following until the API's time is up
    // and being reopened for ever.
    if (known.state === 'completed')
      return sseResult((signal) =>
        endOfUnfinishedLog(events, coordinationId, {
          after,
          signal,
          result: known.result,
          deps,
          event,
        }),
      );
  }
  return sseResult((signal) =>
    followCoordination(events, coordinationId, { after, signal, deps, event }),
  );
};

/**
 * The path's coordination id. The event log also keeps A2A tasks, each its sender's (see
 * a2a/task-log.ts), under ids of their own: those are no coordination, and these routes, which
 * check no sender, answer 404 for them as for any id they do not know.
 */
function coordinationIdIn(event: ApiEvent): string {
  const coordinationId = pathParameter(event, 'id');
  annotate({ coordinationId });
  if (isTaskLogKey(coordinationId))
    throw new NotFoundError(`No coordination ${coordinationId}.`, { coordinationId });
  return coordinationId;
}

/**
 * What GET /coordinations/{id} knows of the coordination. Unknown is not an error here: express
 * runs are not kept, and one that logged events is followed through its log all the same.
 */
async function coordinationState(
  deps: ApiDependencies,
  coordinationId: string,
): Promise<CoordinationResponse | { readonly state: 'unknown'; readonly error: NotFoundError }> {
  try {
    return await deps.coordinations.get(coordinationId);
  } catch (error) {
    if (error instanceof NotFoundError) return { state: 'unknown', error };
    throw error;
  }
}

/**
 * The SSE text of a finished coordination whose log has no `coordination.finished`: the events
 * logged after `after`, then its end built from `result` (without an id). Should its end have
 * been logged since the log was asked, that one is sent instead.
 */
async function* endOfUnfinishedLog(
  events: CoordinationEventLog,
  coordinationId: string,
  options: {
    readonly after: number;
    readonly signal: AbortSignal;
    readonly result: CoordinationResult;
    readonly deps: ApiDependencies;
    readonly event: ApiEvent;
  },
): AsyncGenerator<string> {
  try {
    for await (const logged of loggedAfter(events, coordinationId, options.after)) {
      if (options.signal.aborted) return;
      yield formatSse({ event: logged.type, id: logged.id, data: logged });
      if (isFinal(logged)) return;
    }
    if (options.signal.aborted) return;
    yield unloggedFinished(coordinationId, options.result);
  } catch (error) {
    // As for a follower: the log failed under the reader, and the stream says so in its end.
    if (options.signal.aborted) return;
    yield errorEvent(error, options);
  }
}

/** Where a reader resumes: `Last-Event-ID` (what EventSource sends on reconnecting) or `?after`. */
function resumePoint(event: ApiEvent): number {
  const header = Object.entries(event.headers ?? {}).find(
    ([name]) => name.toLowerCase() === 'last-event-id',
  );
  const [field, raw] =
    header?.[1] !== undefined && header[1] !== ''
      ? ['Last-Event-ID', header[1]]
      : ['after', query(event).after];
  if (raw === undefined) return 0;
  const after = /^\d{1,15}$/.test(raw.trim()) ? Number(raw.trim()) : Number.NaN;
  if (Number.isSafeInteger(after)) return after;
  throw new ValidationError('event stream position', [
    {
      path: field,
      message: `"${raw.slice(0, 40)}" is not an event id: send the id of the last event you received (a whole number, 0 for the start)`,
    },
  ]);
}

/** 503 naming the setting: this deployment keeps no event log. */
function eventsNotConfigured(): never {
  throw new EventsNotConfiguredError(
    'Live coordination events are not available here: the API has no coordination event log. ' +
      'Set MOBIUS_EVENTS_TABLE on the API function to the events table (the Mobius CDK stack ' +
      'does), or run the embedded runtime, which keeps one.',
    { missing: 'MOBIUS_EVENTS_TABLE' },
  );
}

/** What ended the wait for a coordination's next event. */
type Wake =
  | { readonly kind: 'event'; readonly next: IteratorResult<CoordinationEvent> }
  | {
      readonly kind: 'run';
      readonly end:
        | { readonly ok: true; readonly response: CoordinationResponse }
        | { readonly ok: false; readonly error: unknown };
    };

/**
 * The SSE text of a coordination's events after `after`, until `coordination.finished` or the
 * reader leaves (`signal`). (sseResult adds the keep-alive comments.)
 *
 * With `run` (POST with SSE), the run's own end is watched too. An express run has logged its
 * last event by the time it ends, so the log is read to the end and the stream closes: with its
 * `coordination.finished`, or — when the run threw — with an `error` event instead. A result the
 * log could not take (a failed append) is still sent, without an id.
 */
async function* followCoordination(
  events: CoordinationEventLog,
  coordinationId: string,
  options: {
    readonly after: number;
    readonly signal: AbortSignal;
    readonly run?: Promise<CoordinationResponse>;
    readonly deps?: ApiDependencies;
    readonly event?: ApiEvent;
  },
): AsyncGenerator<string> {
  const { signal } = options;
  const following = new AbortController();
  const stopFollowing = () => following.abort();
  signal.addEventListener('abort', stopFollowing, { once: true });
  const log = events
    .follow(coordinationId, { after: options.after, signal: following.signal })
    [Symbol.asyncIterator]();
  let last = options.after;
  let next: Promise<Wake> = log.next().then((result) => ({ kind: 'event', next: result }));
  let runEnd: Promise<Wake> | undefined = options.run?.then(
    (response) => ({ kind: 'run', end: { ok: true, response } }),
    (error: unknown) => ({ kind: 'run', end: { ok: false, error } }),
  );
  const sse = (event: CoordinationEvent) => {
    last = event.id;
    return formatSse({ event: event.type, id: event.id, data: event });
  };
  try {
    while (!signal.aborted) {
      const wake = await Promise.race([next, ...(runEnd ? [runEnd] : [])]);
      if (signal.aborted) return;
      if (wake.kind === 'event') {
        if (wake.next.done === true) return;
        const event = wake.next.value;
        // The end of a run this stream started: wait for the run itself, which may have thrown.
        if (isFinal(event) && runEnd !== undefined) {
          const settled = await runEnd;
          if (settled.kind === 'run' && !settled.end.ok) {
            yield errorEvent(settled.end.error, options);
            return;
          }
        }
        yield sse(event);
        if (isFinal(event)) return;
        next = log.next().then((result) => ({ kind: 'event', next: result }));
        continue;
      }
      runEnd = undefined;
      // A standard run has only started: its end comes through the log.
      if (wake.end.ok && wake.end.response.state === 'running') continue;
      // An express run (or any run that threw) is over: what it logged is in the log now.
      following.abort();
      const pending = await next;
      let final: CoordinationEvent | undefined;
      if (pending.kind === 'event' && pending.next.done !== true) {
        const event = pending.next.value;
        if (isFinal(event)) final = event;
        else if (event.id > last) yield sse(event);
      }
      if (final === undefined)
        for await (const event of loggedAfter(events, coordinationId, last)) {
          if (isFinal(event)) {
            final = event;
            break;
          }
          yield sse(event);
        }
      if (!wake.end.ok) {
        yield errorEvent(wake.end.error, options);
        return;
      }
      const response = wake.end.response;
      if (final !== undefined) yield sse(final);
      else if (response.state === 'completed')
        // The log refused the result (see appendFinished): the reader still gets it, without an id.
        yield unloggedFinished(coordinationId, response.result);
      return;
    }
  } catch (error) {
    // The log failed under a reader (DynamoDB unavailable): the stream says so and ends, in the
    // API's error format, rather than being cut off mid-stream.
    if (signal.aborted) return;
    yield errorEvent(error, options);
  } finally {
    signal.removeEventListener('abort', stopFollowing);
    following.abort();
    await log.return?.(undefined);
  }
}

/** The most events one read of the log takes when it is read to its end rather than followed. */
const READ_PAGE = 500;

/**
 * The events logged after `after`, up to `coordination.finished` if the log holds it, read page by
 * page, each page given out before the next is read: a heavily streaming run read by a slow reader
 * may have logged far more than the function should hold at once.
 */
async function* loggedAfter(
  events: CoordinationEventLog,
  coordinationId: string,
  after: number,
): AsyncGenerator<CoordinationEvent> {
  let position = after;
  for (;;) {
    const page = await events.read(coordinationId, { after: position, limit: READ_PAGE });
    for (const event of page) {
      if (event.id <= position) continue;
      position = event.id;
      yield event;
      if (isFinal(event)) return;
    }
    if (page.length < READ_PAGE) return;
  }
}

/**
 * `coordination.finished` for a result the log does not hold: built as the service would have
 * logged it, sent without an id (there is no position in the log to resume from).
 */
function unloggedFinished(coordinationId: string, result: CoordinationResult): string {
  return formatSse({
    event: 'coordination.finished',
    data: { ...finishedEvent(result), coordinationId, time: new Date().toISOString() },
  });
}

/** The API's error body for a run that threw after it started, as an SSE `error` event. */
function errorEvent(
  error: unknown,
  options: { readonly deps?: ApiDependencies; readonly event?: ApiEvent },
): string {
  return sseErrorEvent(
    error,
    options.event?.requestContext?.requestId ?? 'unknown',
    options.deps?.logger,
  );
}

/** The body of GET /coordinations: a page of coordinations, newest first. */
export const coordinationListSchema = z.object({
  coordinations: z.array(coordinationSummarySchema),
  /** Pass back as `nextToken` for the next page; absent on the last one. */
  nextToken: z.string().optional(),
});
export type CoordinationList = z.output<typeof coordinationListSchema>;

/** The body of DELETE /coordinations/{id}. */
export const coordinationCancelledSchema = z.object({
  coordinationId: z.string(),
  status: z.literal('cancelled'),
});

/**
 * GET /coordinations?status=&pattern=&since=&limit=&nextToken=: recent coordinations, express and
 * standard, newest first (kept 7 days, as their event logs). A bad field is a 400 naming it.
 */
export const listCoordinations = (deps: ApiDependencies) => async (event: ApiEvent) => {
  const filter = parseWith(coordinationListQuerySchema, query(event), 'coordination list query');
  const page: CoordinationList = await deps.coordinations.list(filter);
  return json(200, page);
};

/**
 * DELETE /coordinations/{id}: cancels a running standard coordination (operators only): 200 once
 * it is stopped, 404 unknown, 409 when it has ended or is express.
 */
export const cancelCoordination = (deps: ApiDependencies) => async (event: ApiEvent) => {
  const caller = callerIn(deps, event);
  requireOperator(caller, 'cancel coordinations');
  const coordinationId = pathParameter(event, 'id');
  annotate({ coordinationId });
  const body: z.output<typeof coordinationCancelledSchema> = await deps.coordinations.cancel(
    coordinationId,
    { by: caller.principal },
  );
  return json(200, body);
};

/** GET /coordinations/{id}: 200 with the status or the result, whatever the result says. */
export const getCoordination = (deps: ApiDependencies) => async (event: ApiEvent) => {
  const coordinationId = coordinationIdIn(event);
  return respond(await deps.coordinations.get(coordinationId), false);
};

function respond(response: CoordinationResponse, failuresAreErrors: boolean) {
  if (response.state === 'running') {
    return json(failuresAreErrors ? 202 : 200, {
      coordinationId: response.coordinationId,
      status: 'running',
      startedAt: response.startedAt,
      links: { self: `/coordinations/${encodeURIComponent(response.coordinationId)}` },
    });
  }
  const { result } = response;
  if (!failuresAreErrors || result.status !== 'failed') return json(200, result);
  const first = result.errors[0];
  const timedOut =
    first?.error === 'Mobius.CoordinationTimeout' || first?.error === 'States.Timeout';
  const body: ErrorBody = {
    error: {
      code: timedOut ? 'TIMEOUT' : 'AGENT_FAILED',
      message: first
        ? `Coordination ${result.coordinationId} failed: ${first.agentId ? `agent ${first.agentId} at step ${first.stepId}: ` : ''}${first.error}${first.cause ? ` (${first.cause})` : ''}`
        : `Coordination ${result.coordinationId} failed.`,
      details: { result },
    },
  };
  return json(timedOut ? 504 : 502, body);
}
