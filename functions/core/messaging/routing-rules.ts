import { createHash } from 'node:crypto';
import type { Audience, Envelope } from './envelope.ts';
import type { EventPattern } from './event-pattern.ts';

/**
 * How broadcasts and events travel over EventBridge, and which rules deliver them. Used by the
 * router (PutEvents, subscriptions), the CDK Agent construct (its broadcast rule) and the embedded
 * runtime's EventBridge adapter, so all three agree on every pattern.
 */
export const EVENT_SOURCE = 'mobius';
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

/** Rule names are ≤ 64 characters: a readable prefix of the agent id plus a hash of all of it. */
export function ruleName(agentId: string, kind: 'broadcast' | 'events'): string {
  const hash = createHash('sha256').update(agentId).digest('hex').slice(0, 8);
  return `mobius-${agentId.slice(0, 36)}-${hash}-${kind}`;
}
