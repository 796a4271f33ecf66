import * as z from 'zod';
import type { AgentUtilisation } from './utilisation.ts';

export const agentStatusSchema = z.enum([
  'initializing',
  'healthy',
  'degraded',
  'unhealthy',
  'draining',
  'drained',
  'offline',
]);
export type AgentStatus = z.output<typeof agentStatusSchema>;

/** Discovery ranks healthier agents first; lower is better. */
export const STATUS_RANK: Readonly<Record<AgentStatus, number>> = {
  healthy: 0,
  degraded: 1,
  initializing: 2,
  unhealthy: 3,
  draining: 4,
  drained: 5,
  offline: 6,
};

/**
 * Statuses that take no new work: planning passes such an agent over while it finishes what it
 * has, and discovery returns it only to a query that asks for its status (planning never does).
 * `draining`: the agent is stopping (its own `stop()`); `drained`: an operator drained it
 * (POST /agents/{id}/drain) until one resumes it, and the router refuses new messages to it too
 * (messaging/recipients.ts); `offline`: its heartbeat deadline passed.
 */
const NO_NEW_WORK: ReadonlySet<AgentStatus> = new Set(['draining', 'drained', 'offline']);

/** May new work be planned for, or discovered at, an agent with this status? */
export function takesNewWork(status: AgentStatus): boolean {
  return !NO_NEW_WORK.has(status);
}

/**
 * What an agent may say about itself in a heartbeat; the registry still derives the final status.
 * `draining`: the agent is stopping (the SDK's `stop()`): it finishes what it has, and discovery
 * and planning pass it over until a heartbeat without it (the agent started again) withdraws it.
 */
export const reportedStatusSchema = z.enum(['healthy', 'degraded', 'unhealthy', 'draining']);
export type ReportedStatus = z.output<typeof reportedStatusSchema>;

export const circuitStateSchema = z.enum(['closed', 'open', 'half_open']);
export type CircuitState = z.output<typeof circuitStateSchema>;

/** The seed's AgentMetrics, computed by the registry from atomic counters. */
export interface AgentMetrics {
  /** Requests handled since registration (successes and failures). */
  readonly requestsProcessed: number;
  readonly errors: number;
  /** Mean latency over the recent window (see WINDOW_MS in registry/metrics.ts). */
  readonly averageResponseTimeMs: number;
  /** Errors / requests over the recent window, 0 when there were none. */
  readonly errorRate: number;
  /** Requests and errors in the recent window (what errorRate is a rate of). */
  readonly recentRequests: number;
  readonly recentErrors: number;
  /** Requests the agent said it was working on at its last heartbeat. */
  readonly inFlight: number;
  readonly lastHeartbeat: string | null;
  readonly uptimeSeconds: number;
  /** In flight against the maximum, handler durations, memory, queue: see model/utilisation.ts. */
  readonly utilisation: AgentUtilisation;
}

export interface CircuitView {
  readonly state: CircuitState;
  readonly consecutiveFailures: number;
  readonly openedAt: string | null;
}
