import * as z from 'zod';
import { ValidationError } from '../../core/errors.ts';
import { audienceSchema, createMessage, type Envelope } from '../../core/messaging/envelope.ts';
import type { ReplyStream, StreamedReply } from '../../core/messaging/router.ts';
import { API_SENDER, assertMaySendAs } from '../../core/messaging/sender.ts';
import { identifierSchema } from '../../core/model/agent-card.ts';
import { jsonValueSchema } from '../../core/model/json-value.ts';
import { formatSse, wantsEventStream } from '../../core/streaming/sse.ts';
import { callerIn } from '../caller.ts';
import type { ApiDependencies } from '../dependencies.ts';
import { type ApiEvent, type ApiResult, json, parseBody } from '../http.ts';
import { sseErrorEvent, sseResult } from '../sse-stream.ts';

const eventTypeSchema = z
  .string()
  .regex(
    /^[A-Za-z][A-Za-z0-9._-]{0,127}$/,
    'event types are dotted names such as "document.indexed"',
  );

/** The longest wait for an answer that is not streamed: within API Gateway's 29 s integration timeout. */
export const MAX_WAIT_TIMEOUT_SECONDS = 25;
/**
 * The longest streamed answer. The API function runs for 15 minutes at most and ends every stream
 * STREAM_END_MARGIN_MS (5 s) before that with no event (see api/stream-entry.ts); the message's
 * own deadline must come first, so that a stream cut short ends in an `error` event (TIMEOUT)
 * the client can read. 880 s leaves 15 s for looking the agent up and starting its invocation.
 */
export const MAX_STREAM_TIMEOUT_SECONDS = 880;
/**
 * How long a streamed request may wait for the agent's first frame before the answer starts
 * (200, SSE) anyway. Until the first frame nothing is sent, so that a request refused early (an
 * unknown, unreachable or busy agent, an open breaker, an agent failing at once) is a plain JSON
 * error with its status; but a silent answer is closed by API Gateway's edge endpoints after
 * 30 s, and a model may think for longer than that before its first token. Past this wait the
 * answer starts, keep-alives flow, and a later refusal or failure is an `error` event.
 */
export const FIRST_FRAME_WAIT_MS = 5_000;

/** What a test may shorten: the waits of a streamed answer. */
export interface SendMessageOptions {
  /** @default FIRST_FRAME_WAIT_MS */
  readonly firstFrameWaitMs?: number;
  /** Silence after which a streamed answer sends a keep-alive comment. @default KEEPALIVE_MS */
  readonly keepAliveMs?: number;
}

export const messageRequestSchema = z
  .strictObject({
    to: identifierSchema,
    payload: jsonValueSchema,
    /** `api`, or an agent the caller owns (operators: any); the caller is the message's `sender`. */
    from: identifierSchema.default(API_SENDER),
    /** A request (the agent's handler answers it) or an event (a notification to this one agent). */
    type: z.enum(['request', 'event']).default('request'),
    eventType: eventTypeSchema.optional(),
    conversationId: z.string().min(1).max(128).optional(),
    /**
     * Seconds to wait for the response (with `wait` or `stream`): at most 25 when the answer is not
     * streamed (API Gateway's integration timeout is 29 s), up to 880 when it is (`stream`, or
     * `wait` with `Accept: text/event-stream`): the API function's 15 minutes, less its margins.
     */
    timeout: z.int().min(1).max(MAX_STREAM_TIMEOUT_SECONDS).optional(),
    /** Wait for the agent's response (request-response) instead of queueing (202). */
    wait: z.boolean().default(false),
    /**
     * Stream the answer as server-sent events: the agent's chunks as it produces them, then its
     * response (implies `wait`). `Accept: text/event-stream` with `wait` asks for the same.
     */
    stream: z.boolean().optional(),
  })
  .refine((m) => !((m.wait || m.stream === true) && m.type !== 'request'), {
    message: 'only requests can be waited for or streamed',
    path: ['wait'],
  })
  .refine((m) => m.type !== 'event' || m.eventType !== undefined, {
    message: 'an event needs an eventType, such as "document.indexed"',
    path: ['eventType'],
  });

export const broadcastRequestSchema = z.strictObject({
  to: audienceSchema.default('*'),
  payload: jsonValueSchema,
  from: identifierSchema.default(API_SENDER),
  /** Set for an event (delivered to subscribers of this type); omit for a broadcast. */
  eventType: eventTypeSchema.optional(),
});

/**
 * POST /messages: 202 queued, or 200 with the response when `wait` is set, or 200 with the answer
 * streamed as server-sent events when `stream` is set or the caller accepts `text/event-stream`
 * (a request; `"stream": false` opts out whatever the header says).
 */
export const sendMessage =
  (deps: ApiDependencies, options: SendMessageOptions = {}) =>
  async (event: ApiEvent): Promise<ApiResult> => {
    const caller = callerIn(deps, event);
    const body = parseBody(event, messageRequestSchema, 'message');
    const streamed = body.stream ?? (body.type === 'request' && wantsEventStream(event.headers));
    assertTimeoutFits(body.timeout, streamed);
    await assertMaySendAs(deps.registry, body.from, caller);
    const message = createMessage({
      from: body.from,
      sender: caller.principal,
      to: body.to,
      type: body.type,
      payload: body.payload,
      ...(body.eventType ? { eventType: body.eventType } : {}),
      ...(body.conversationId ? { conversationId: body.conversationId } : {}),
      ...(body.timeout ? { timeout: body.timeout } : {}),
    });
    if (streamed) return streamAnswer(deps, event, message, options);
    if (body.wait) return json(200, { response: await deps.router.request(message) });
    const receipt = await deps.router.send(message);
    return json(202, {
      messageId: receipt.messageId,
      agentId: receipt.agentId,
      conversationId: message.conversationId,
    });
  };

/**
 * A timeout above MAX_WAIT_TIMEOUT_SECONDS only for an answer that is streamed, whichever way it
 * was asked for (`stream`, or `wait` with `Accept: text/event-stream`): the schema cannot see the
 * headers, so the rule is checked here.
 */
function assertTimeoutFits(timeout: number | undefined, streamed: boolean): void {
  if (timeout === undefined || timeout <= MAX_WAIT_TIMEOUT_SECONDS || streamed) return;
  throw new ValidationError('message', [
    {
      path: 'timeout',
      message: `a timeout above ${MAX_WAIT_TIMEOUT_SECONDS} s needs a streamed answer ("stream": true, or "wait": true with Accept: text/event-stream; up to ${MAX_STREAM_TIMEOUT_SECONDS} s); an answer that is not streamed must arrive within ${MAX_WAIT_TIMEOUT_SECONDS} s`,
    },
  ]);
}

/** POST /broadcasts: a broadcast, or an event when `eventType` is set. */
export const broadcast = (deps: ApiDependencies) => async (event: ApiEvent) => {
  const caller = callerIn(deps, event);
  const body = parseBody(event, broadcastRequestSchema, 'broadcast');
  await assertMaySendAs(deps.registry, body.from, caller);
  const message = createMessage({
    from: body.from,
    sender: caller.principal,
    to: body.to,
    type: body.eventType ? 'event' : 'broadcast',
    payload: body.payload,
    ...(body.eventType ? { eventType: body.eventType } : {}),
  });
  await deps.router.publish([message]);
  return json(202, { messageId: message.messageId, to: message.to, type: message.type });
};

/**
 * The agent's answer as server-sent events: `chunk` events (id = seq, data = the chunk) as the
 * agent produces them, then `response` (data = the response envelope) or `error` (data = the API's
 * error body, as a JSON answer would carry it), then the stream ends.
 *
 * Nothing is sent until the agent's first frame, for FIRST_FRAME_WAIT_MS at most: a request refused
 * within that time (unknown agent, breaker open, unreachable or busy agent, an agent failing before
 * it streamed anything) answers as a plain JSON error, with its status code. Past it, the answer
 * starts (200, keep-alive comments while the agent is silent), and a refusal or failure still to
 * come is an `error` event. A client that goes away ends the agent's invocation: the agent's next
 * chunk fails, which stops its handler (see the agent SDK's streaming entry); nothing else stops.
 */
async function streamAnswer(
  deps: ApiDependencies,
  event: ApiEvent,
  message: Envelope,
  options: SendMessageOptions,
): Promise<ApiResult> {
  const requestId = event.requestContext?.requestId ?? 'unknown';
  const invocation = new AbortController();
  const opening = firstFrameOf(deps, message, invocation.signal);
  // Handled below or by the stream; never an unhandled rejection while nobody awaits it.
  opening.catch(() => undefined);
  if (await settlesWithin(opening, options.firstFrameWaitMs ?? FIRST_FRAME_WAIT_MS)) {
    try {
      await opening;
    } catch (error) {
      invocation.abort();
      throw error;
    }
  }
  return sseResult((signal) => {
    signal.addEventListener(
      'abort',
      () => {
        invocation.abort();
        // A client that left before its stream began never starts sseOf, whose finally would
        // close the frames: close them here, or the reply's timer and breaker outcome would wait.
        void opening.then(
          (opened) => opened.frames.return?.(),
          () => undefined,
        );
      },
      { once: true },
    );
    return sseOf(opening, signal, requestId, deps);
  }, options.keepAliveMs);
}

/** A started streamed request: its first frame (or its end), and the frames after it. */
interface OpenedReply {
  readonly first: IteratorResult<StreamedReply>;
  readonly frames: AsyncIterator<StreamedReply>;
}

async function firstFrameOf(
  deps: ApiDependencies,
  message: Envelope,
  signal: AbortSignal,
): Promise<OpenedReply> {
  const reply: ReplyStream = await deps.router.requestStream(message, { signal });
  const frames = reply.frames[Symbol.asyncIterator]();
  return { first: await frames.next(), frames };
}

/** Whether `work` settles (either way) within `ms`. */
async function settlesWithin(work: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const settled = await Promise.race([
    work.then(
      () => true,
      () => true,
    ),
    new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), ms);
    }),
  ]);
  clearTimeout(timer);
  return settled;
}

async function* sseOf(
  opening: Promise<OpenedReply>,
  signal: AbortSignal,
  requestId: string,
  deps: ApiDependencies,
): AsyncGenerator<string> {
  let frames: AsyncIterator<StreamedReply> | undefined;
  try {
    const opened = await opening;
    frames = opened.frames;
    for (let next = opened.first; next.done !== true; next = await frames.next()) {
      const frame = next.value;
      if ('chunk' in frame)
        yield formatSse({ event: 'chunk', id: frame.chunk.seq, data: frame.chunk });
      else yield formatSse({ event: 'response', data: frame.response });
    }
  } catch (error) {
    // A reader that left has nobody to tell (its invocation was ended on purpose).
    if (!signal.aborted) yield sseErrorEvent(error, requestId, deps.logger);
  } finally {
    await frames?.return?.();
  }
}
