import * as z from 'zod';
import { type AgentCard, agentCardSchema } from '../model/agent-card.ts';
import { circuitStateSchema, reportedStatusSchema } from '../model/agent-status.ts';
import { queueFiguresSchema, utilisationReportSchema } from '../model/utilisation.ts';

const count = z.number().default(0);

/**
 * Cards are validated in full when registered; rows read back are the registry's own writes, so
 * reads check the card's shape cheaply instead of re-running every refinement (semver, sizes) on
 * each discovery and planning read.
 */
const storedCardSchema = z.custom<AgentCard>(
  (value) =>
    value !== null &&
    typeof value === 'object' &&
    typeof (value as { agentId?: unknown }).agentId === 'string' &&
    Array.isArray((value as { capabilities?: unknown }).capabilities),
  { message: 'stored card is malformed' },
);

/**
 * The agent row as stored. Parsed on read (rather than cast) so a row written by an older version
 * of the code, or by hand, fails loudly instead of producing NaN statuses.
 */
export const agentRowSchema = z.object({
  agentId: z.string(),
  agentType: z.string(),
  card: storedCardSchema,
  cardHash: z.string(),
  /**
   * Who may change the card besides operators (see ownership.ts): the principal that registered
   * it through the API, or the stack that deployed it (its CloudFormation stack id). Absent on rows
   * written before ownership existed and on rows the agent SDK registered itself: operators only.
   */
  owner: z.string().optional(),
  registeredAt: z.number(),
  updatedAt: z.number(),
  hbIntervalSec: z.number(),
  hbTimeoutSec: z.number(),
  /** TTL attribute, epoch seconds: the heartbeat deadline. Past it the agent reads as offline. */
  expiresAt: z.number(),
  lastHeartbeatAt: z.number().optional(),
  startedAt: z.number().optional(),
  reportedStatus: reportedStatusSchema.optional(),
  /**
   * An operator drained the agent at this instant (epoch ms; see operator-actions.ts): it reads as
   * `drained` until one resumes it. Heartbeats and registrations never remove it, so, unlike the
   * agent's own `draining`, no restart of the agent undoes it; a registration that creates the row
   * anew copies it from the drain row, which TTL does not delete while the drain stands
   * (drains.ts).
   */
  drainedAt: z.number().optional(),
  /** The principal that drained it. */
  drainedBy: z.string().optional(),
  inFlight: count,
  /** The agent's own figures from its last heartbeat that carried them (see model/utilisation.ts). */
  util: utilisationReportSchema.optional(),
  /** Its queue's figures, as the health monitor last read them. */
  queue: queueFiguresSchema.optional(),
  // lifetime counters
  reqTotal: count,
  errTotal: count,
  latTotal: count,
  // the current and previous metrics windows (see metrics.ts)
  win: count,
  winReq: count,
  winErr: count,
  winLat: count,
  prevReq: count,
  prevErr: count,
  prevLat: count,
  // circuit breaker (see breaker.ts)
  brState: circuitStateSchema.default('closed'),
  brFailures: count,
  brOpenedAt: z.number().optional(),
  brProbeAt: z.number().optional(),
});

export type AgentRow = z.output<typeof agentRowSchema>;

/** The live-state attributes discovery needs; everything but the card. */
export const LIVE_STATE_ATTRIBUTES = Object.keys(agentRowSchema.shape).filter(
  (name) => name !== 'card',
);

export const agentLiveStateSchema = agentRowSchema.omit({ card: true });
export type AgentLiveState = z.output<typeof agentLiveStateSchema>;

/** A capability row: one per capability version an agent declares, under `CAP#<name>`. */
export const capabilityRowSchema = z.object({
  agentId: z.string(),
  agentType: z.string(),
  description: z.string(),
  cardHash: z.string(),
  capability: agentCardSchema.shape.capabilities.element,
  endpoint: agentCardSchema.shape.endpoint,
  maxConcurrency: z.number().optional(),
  /** Every capability name the agent declares, so a match says all it can do without a card read. */
  capabilityNames: z.array(z.string()).default([]),
});

export type CapabilityRow = z.output<typeof capabilityRowSchema>;

export function capabilityRowsOf(card: AgentCard, cardHash: string): CapabilityRow[] {
  const capabilityNames = [...new Set(card.capabilities.map((c) => c.name))];
  return card.capabilities.map((capability) => ({
    agentId: card.agentId,
    agentType: card.agentType,
    description: card.description,
    cardHash,
    capability,
    endpoint: card.endpoint,
    ...(card.maxConcurrency === undefined ? {} : { maxConcurrency: card.maxConcurrency }),
    capabilityNames,
  }));
}
