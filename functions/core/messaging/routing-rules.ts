import { createHash } from 'node:crypto';
import * as z from 'zod';
import type { Audience, Envelope } from './envelope.ts';
import { type EventPattern, patternProblem } from './event-pattern.ts';

/**
 * How broadcasts and events travel over EventBridge, and which rules deliver them. Used by the
 * router (PutEvents, subscriptions), the CDK Agent construct (its broadcast rule) and the embedded
 * runtime's EventBridge adapter, so all three agree on every pattern.
 */
export const EVENT_SOURCE = 'mobius';
export const MAX_DECLARED_SUBSCRIPTIONS = 10;
export const BROADCAST_DETAIL_TYPE = 'mobius.broadcast';

/** The `detail` of every Mobius event: routing fields the rules match on, plus the envelope. */
export interface MobiusEventDetail {
  readonly audience: 'all' | 'capability';
  readonly capability?: string;
  readonly message: Envelope;
}

export interface BusEntry {
  readonly Source: string;
  readonly DetailType: string;
  readonly Detail: string;
  readonly EventBusName: string;
}

export function detailOf(message: Envelope): MobiusEventDetail {
  const audience = message.to as Audience;
  return audience === '*'
    ? { audience: 'all', message }
    : { audience: 'capability', capability: audience.capability, message };
}

/** The PutEvents entry for a broadcast or an event. */
export function busEntryOf(message: Envelope, eventBusName: string): BusEntry {
  return {
    Source: EVENT_SOURCE,
    DetailType:
      message.type === 'event' && message.eventType !== undefined
        ? message.eventType
        : BROADCAST_DETAIL_TYPE,
    Detail: JSON.stringify(detailOf(message)),
    EventBusName: eventBusName,
  };
}

/** Reaches an agent when the audience is everyone, or a capability it holds. */
function audienceClause(capabilities: readonly string[]): EventPattern {
  return capabilities.length === 0
    ? { detail: { audience: ['all'] } }
    : {
        $or: [
          { detail: { audience: ['all'] } },
          { detail: { audience: ['capability'], capability: [...capabilities] } },
        ],
      };
}

/** Every agent with a queue has this rule: broadcasts to all, or to a capability it holds. */
export function broadcastPattern(capabilities: readonly string[]): EventPattern {
  return {
    source: [EVENT_SOURCE],
    'detail-type': [BROADCAST_DETAIL_TYPE],
    ...audienceClause(capabilities),
  };
}

/**
 * A subscription: events of the given types (addressed to everyone or to a capability the agent
 * holds), optionally narrowed by a pattern on the event's message (e.g. its payload).
 */
export function subscriptionPattern(
  eventTypes: readonly string[],
  capabilities: readonly string[],
  messageFilter?: EventPattern,
): EventPattern {
  const pattern: Record<string, unknown> = {
    source: [EVENT_SOURCE],
    'detail-type': [...eventTypes],
    ...audienceClause(capabilities),
  };
  if (messageFilter !== undefined) {
    // The audience clause may already constrain `detail` through $or; the filter goes on detail.message.
    if ('$or' in pattern) {
      pattern.$or = (pattern.$or as EventPattern[]).map((alt) => ({
        detail: { ...(alt.detail as EventPattern), message: messageFilter },
      }));
    } else {
      pattern.detail = { ...(pattern.detail as EventPattern), message: messageFilter };
    }
  }
  return pattern;
}

/** What an agent subscribes to: event types, optionally narrowed by a pattern on the message. */
export const subscriptionSchema = z.strictObject({
  eventTypes: z
    .array(
      z
        .string()
        .regex(
          /^[A-Za-z][A-Za-z0-9._-]{0,127}$/,
          'event types are dotted names such as "document.indexed"',
        ),
    )
    .min(1, 'subscribe to at least one event type')
    .max(20),
  /** An EventBridge pattern on the event's message, e.g. { "payload": { "lang": ["en"] } }. */
  filter: z
    .record(z.string(), z.unknown())
    .superRefine((pattern, ctx) => {
      const problem = patternProblem(pattern);
      if (problem) ctx.addIssue({ code: 'custom', message: problem });
    })
    .optional(),
});
export type Subscription = z.input<typeof subscriptionSchema>;

/** Subscriptions an agent declares in its definition; each becomes one rule. */
export const declaredSubscriptionsSchema = z
  .array(subscriptionSchema)
  .max(MAX_DECLARED_SUBSCRIPTIONS, `declare at most ${MAX_DECLARED_SUBSCRIPTIONS} subscriptions`);

/**
 * Which of an agent's rules: its broadcast rule, the one subscription the router manages at run
 * time (`events`), or the n-th subscription declared in its definition (`sub<n>`, from 1). Declared
 * and run-time subscriptions have different names, so a run-time `subscribe` never overwrites a
 * rule CloudFormation owns.
 */
export type RuleKind = 'broadcast' | 'events' | `sub${number}`;

/** The kind of the declared subscription at `index` (0-based). */
export function declaredRuleKind(index: number): RuleKind {
  return `sub${index + 1}`;
}

/**
 * Every rule name of an agent starts with this: `mobius-`, a readable prefix of the agent id and a
 * hash of all of it, so the agent's queue policy can admit exactly its own rules.
 */
export function ruleNamePrefix(agentId: string): string {
  const hash = createHash('sha256').update(agentId).digest('hex').slice(0, 8);
  return `mobius-${agentId.slice(0, 36)}-${hash}-`;
}

/** Rule names are ≤ 64 characters (the prefix is at most 53, a kind at most 9). */
export function ruleName(agentId: string, kind: RuleKind): string {
  return `${ruleNamePrefix(agentId)}${kind}`;
}
