import * as z from 'zod';
import { audienceSchema, createMessage } from '../../core/messaging/envelope.ts';
import { API_SENDER, assertMaySendAs } from '../../core/messaging/sender.ts';
import { identifierSchema } from '../../core/model/agent-card.ts';
import { jsonValueSchema } from '../../core/model/json-value.ts';
import { callerIn } from '../caller.ts';
import type { ApiDependencies } from '../dependencies.ts';
import { type ApiEvent, json, parseBody } from '../http.ts';

const eventTypeSchema = z
  .string()
  .regex(
    /^[A-Za-z][A-Za-z0-9._-]{0,127}$/,
    'event types are dotted names such as "document.indexed"',
  );

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
    /** Seconds to wait for the response (with `wait`). */
    timeout: z.int().min(1).max(25).optional(),
    /** Wait for the agent's response (request-response) instead of queueing (202). */
    wait: z.boolean().default(false),
  })
  .refine((m) => !(m.wait && m.type !== 'request'), {
    message: 'only requests can be waited for',
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

/** POST /messages: 202 queued, or 200 with the response when `wait` is set. */
export const sendMessage = (deps: ApiDependencies) => async (event: ApiEvent) => {
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
