import * as z from 'zod';
import { audienceSchema, createMessage, type Envelope } from '../../core/messaging/envelope.ts';
import type { ReplyStream, StreamedReply } from '../../core/messaging/router.ts';
import { API_SENDER, assertMaySendAs } from '../../core/messaging/sender.ts';
import { identifierSchema } from '../../core/model/agent-card.ts';
import { jsonValueSchema } from '../../core/model/json-value.ts';
import { formatSse, wantsEventStream } from '../../core/streaming/sse.ts';
import { callerIn } from '../caller.ts';
import type { ApiDependencies } from '../dependencies.ts';
import { type ApiEvent, type ApiResult, json, parseBody, type StreamingResult } from '../http.ts';
import { sseErrorEvent, sseResult } from '../sse-stream.ts';

const eventTypeSchema = z
  .string()
  .regex(
    /^[A-Za-z][A-Za-z0-9._-]{0,127}$/,
    'event types are dotted names such as "document.indexed"',
  );

/** The longest wait for an answer that is not streamed: within API Gateway's 29 s integration timeout. */
export const MAX_WAIT_TIMEOUT_SECONDS = 25;
/** The longest streamed answer: Lambda's longest run, and API Gateway's for a streamed response. */
export const MAX_STREAM_TIMEOUT_SECONDS = 900;

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
     * Seconds to wait for the response (with `wait` or `stream`): at most 25 without streaming (API
     * Gateway's integration timeout is 29 s), up to 900 with `stream` (Lambda's longest run).
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
  .refine(
    (m) => m.timeout === undefined || m.timeout <= MAX_WAIT_TIMEOUT_SECONDS || m.stream === true,
    {
      message: `a timeout above ${MAX_WAIT_TIMEOUT_SECONDS} s needs "stream": true (up to ${MAX_STREAM_TIMEOUT_SECONDS} s); an answer that is not streamed must arrive within ${MAX_WAIT_TIMEOUT_SECONDS} s`,
      path: ['timeout'],
    },
  )
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
 * streamed as server-sent events when `stream` is set (or `wait` with `Accept: text/event-stream`).
 */
export const sendMessage =
  (deps: ApiDependencies) =>
  async (event: ApiEvent): Promise<ApiResult> => {
    const caller = callerIn(deps, event);
    const body = parseBody(event, messageRequestSchema, 'message');
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
    const streamed = body.stream ?? (body.wait && wantsEventStream(event.headers));
    if (streamed) return streamAnswer(deps, event, message);
    if (body.wait) return json(200, { response: await deps.router.request(message) });
    const receipt = await deps.router.send(message);
    return json(202, {
      messageId: receipt.messageId,
      agentId: receipt.agentId,
      conversationId: message.conversationId,
    });
  };

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
 * error body, as a JSON answer would carry it), then the stream ends. Nothing is sent until the
 * agent's first frame: a request refused before it (unknown agent, breaker open, unreachable or
 * busy agent, an agent failing before it streamed anything) answers as a plain JSON error, with its
 * status code. A client that goes away ends the agent's invocation, and nothing else.
 */
async function streamAnswer(
  deps: ApiDependencies,
  event: ApiEvent,
  message: Envelope,
): Promise<StreamingResult> {
  const requestId = event.requestContext?.requestId ?? 'unknown';
  const invocation = new AbortController();
  const reply: ReplyStream = await deps.router.requestStream(message, {
    signal: invocation.signal,
  });
  const frames = reply.frames[Symbol.asyncIterator]();
  let first: IteratorResult<StreamedReply>;
  try {
    first = await frames.next();
  } catch (error) {
    invocation.abort();
    throw error;
  }
  return sseResult((signal) => {
    signal.addEventListener('abort', () => invocation.abort(), { once: true });
    return sseOf(first, frames, requestId, deps);
  });
}

async function* sseOf(
  first: IteratorResult<StreamedReply>,
  frames: AsyncIterator<StreamedReply>,
  requestId: string,
  deps: ApiDependencies,
): AsyncGenerator<string> {
  try {
    for (let next = first; next.done !== true; next = await frames.next()) {
      const frame = next.value;
      if ('chunk' in frame)
        yield formatSse({ event: 'chunk', id: frame.chunk.seq, data: frame.chunk });
      else yield formatSse({ event: 'response', data: frame.response });
    }
  } catch (error) {
    yield sseErrorEvent(error, requestId, deps.logger);
  } finally {
    await frames.return?.();
  }
}
