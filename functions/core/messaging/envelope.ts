import { randomUUID } from 'node:crypto';
import * as z from 'zod';
import { jsonByteLength } from '../canonical-json.ts';
import { PayloadTooLargeError, ProtocolUnsupportedError, ValidationError } from '../errors.ts';
import {
  capabilityNameSchema,
  identifierSchema,
  type Protocol,
  protocolVersionSchema,
} from '../model/agent-card.ts';
import { parseWith } from '../validation.ts';

/** The protocol this code speaks, highest version first. */
export const MOBIUS_PROTOCOL = { name: 'mobius', versions: ['1.0'] } as const;

export const messageTypeSchema = z.enum(['request', 'response', 'event', 'broadcast']);
export type MessageType = z.output<typeof messageTypeSchema>;

/** Who a broadcast is for: every agent, or the holders of one capability. */
export const audienceSchema = z.union([
  z.literal('*'),
  z.strictObject({ capability: capabilityNameSchema }),
]);
export type Audience = z.output<typeof audienceSchema>;

/** Sender or recipient: an agent id, or `mobius` / `api` for the coordinator itself. */
const partySchema = identifierSchema;

export const envelopeSchema = z
  .strictObject({
    messageId: z.uuid('messageId must be a UUID'),
    /** Who the message says it is from: an agent id, or `api` / `mobius`. A claim; see `sender`. */
    from: partySchema,
    /**
     * Who sent it, as the coordinator authenticated them: the caller's IAM principal (role ARN), or
     * `local` in the embedded runtime. The API sets it from the request's signature, never from
     * the caller's body, and admits a `from` naming an agent only when this principal owns that
     * agent or is an operator. Trust it only on messages that came through the API: whoever may
     * write to an agent's queue or the bus directly (IAM `sqs:SendMessage`, `events:PutEvents`)
     * can write any envelope. Absent on messages agents and the coordinator send.
     */
    sender: z.string().min(1).max(2048).optional(),
    /**
     * An agent id for requests and responses; an audience for broadcasts; either for events (an
     * event to one agent goes to its queue, one to an audience over the bus).
     */
    to: z.union([partySchema, audienceSchema]),
    type: messageTypeSchema,
    /** For events and broadcasts: what happened, e.g. `document.indexed`. */
    eventType: z
      .string()
      .regex(
        /^[A-Za-z][A-Za-z0-9._-]{0,127}$/,
        'event types are dotted names such as "document.indexed"',
      )
      .optional(),
    payload: z.json(),
    /** On a response: the messageId of the request it answers. */
    correlationId: z.uuid().optional(),
    conversationId: z.string().min(1).max(128),
    timestamp: z.iso.datetime({ offset: true, message: 'timestamp must be an ISO-8601 date-time' }),
    /** Seconds the sender will wait for a response (requests only). */
    timeout: z.int().min(1).max(900).optional(),
    /** Where to send the response of an asynchronous request (an SQS queue URL). */
    replyTo: z.url().optional(),
    protocol: z.strictObject({ name: z.string().min(1), version: protocolVersionSchema }),
    contentType: z.string().min(1).max(128).default('application/json'),
  })
  .superRefine((message, ctx) => {
    const toAudience = message.to === '*' || typeof message.to === 'object';
    if (message.type === 'broadcast' && !toAudience) {
      ctx.addIssue({
        code: 'custom',
        path: ['to'],
        message: 'broadcasts go to an audience: "*" or { "capability": "…" }',
      });
    }
    if ((message.type === 'request' || message.type === 'response') && toAudience) {
      ctx.addIssue({
        code: 'custom',
        path: ['to'],
        message: 'requests and responses go to one agent id',
      });
    }
    if (message.type === 'event' && message.eventType === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['eventType'],
        message: 'events need an eventType, e.g. "document.indexed"',
      });
    }
    if (message.type === 'response' && message.correlationId === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['correlationId'],
        message: 'a response must carry the correlationId of its request',
      });
    }
  });

export type Envelope = z.output<typeof envelopeSchema>;
export type EnvelopeInput = z.input<typeof envelopeSchema>;

export interface NewMessage {
  readonly from: string;
  readonly sender?: string;
  readonly to: Envelope['to'];
  readonly type: MessageType;
  readonly payload: Envelope['payload'];
  readonly eventType?: string;
  readonly correlationId?: string;
  readonly conversationId?: string;
  readonly timeout?: number;
  readonly replyTo?: string;
  readonly protocolVersion?: string;
}

/** Builds a valid envelope with a fresh id and timestamp; the conversation defaults to the message. */
export function createMessage(fields: NewMessage, now: Date = new Date()): Envelope {
  const messageId = randomUUID();
  return parseWith(
    envelopeSchema,
    {
      messageId,
      from: fields.from,
      ...(fields.sender === undefined ? {} : { sender: fields.sender }),
      to: fields.to,
      type: fields.type,
      payload: fields.payload,
      ...(fields.eventType === undefined ? {} : { eventType: fields.eventType }),
      ...(fields.correlationId === undefined ? {} : { correlationId: fields.correlationId }),
      conversationId: fields.conversationId ?? messageId,
      timestamp: now.toISOString(),
      ...(fields.timeout === undefined ? {} : { timeout: fields.timeout }),
      ...(fields.replyTo === undefined ? {} : { replyTo: fields.replyTo }),
      protocol: {
        name: MOBIUS_PROTOCOL.name,
        version: fields.protocolVersion ?? MOBIUS_PROTOCOL.versions[0],
      },
    },
    'message',
  );
}

/** A response to `request`, in the same conversation. */
export function createResponse(
  request: Envelope,
  from: string,
  payload: Envelope['payload'],
): Envelope {
  return createMessage({
    from,
    to: request.from,
    type: 'response',
    payload,
    correlationId: request.messageId,
    conversationId: request.conversationId,
    protocolVersion: request.protocol.version,
  });
}

/** JSON text of an envelope; deserialize(serialize(m)) equals m, payload key order included. */
export function serialize(message: Envelope): string {
  return JSON.stringify(message);
}

/** Parses and validates an envelope received from a queue, an event or an invocation. */
export function deserialize(text: string): Envelope {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new ValidationError('message', [
      { path: '', message: `body is not JSON: ${(error as Error).message}` },
    ]);
  }
  return parseWith(envelopeSchema, parsed, 'message');
}

/** Throws PayloadTooLargeError when the serialised message exceeds `limitBytes`. */
export function assertFits(message: Envelope, limitBytes: number, channel: string): number {
  const size = jsonByteLength(message);
  if (size > limitBytes) {
    throw new PayloadTooLargeError(
      `Message ${message.messageId} is ${size} bytes; ${channel} accepts at most ${limitBytes} bytes. ` +
        'Store large data elsewhere (e.g. S3) and send a reference.',
      { messageId: message.messageId, sizeBytes: size, limitBytes, channel },
    );
  }
  return size;
}

const compareVersions = (a: string, b: string): number => {
  const [aMajor = 0, aMinor = 0] = a.split('.').map(Number);
  const [bMajor = 0, bMinor = 0] = b.split('.').map(Number);
  return aMajor - bMajor || aMinor - bMinor;
};

/**
 * What a sender may offer for a message written in `protocol`: its own version and, for the Mobius
 * protocol, every earlier version this code also speaks (a newer sender can talk down to an older
 * agent; it cannot talk up).
 */
export function offeredVersions(protocol: { name: string; version: string }): string[] {
  const known: readonly string[] =
    protocol.name === MOBIUS_PROTOCOL.name ? MOBIUS_PROTOCOL.versions : [];
  const earlier = known.filter((v) => compareVersions(v, protocol.version) <= 0);
  return [...new Set([...earlier, protocol.version])];
}

/**
 * The highest version of `protocol` both sides support, or ProtocolUnsupportedError naming what
 * each side offers.
 */
export function negotiateProtocol(
  protocol: string,
  offered: readonly string[],
  receiver: { readonly agentId: string; readonly protocols: readonly Protocol[] },
): string {
  const supported = receiver.protocols.find((p) => p.name === protocol)?.versions ?? [];
  const common = offered.filter((v) => supported.includes(v)).sort(compareVersions);
  const best = common.at(-1);
  if (best === undefined) {
    throw new ProtocolUnsupportedError(
      `Agent ${receiver.agentId} speaks ${protocol} ${supported.length > 0 ? supported.join(', ') : '(not at all)'}; ` +
        `this message offers ${offered.join(', ')}. Upgrade one side or send a version both support.`,
      { agentId: receiver.agentId, protocol, offered, supported },
    );
  }
  return best;
}
