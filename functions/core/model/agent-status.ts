import * as z from 'zod';

export const agentStatusSchema = z.enum([
  'initializing',
  'healthy',
  'degraded',
  'unhealthy',
  'offline',
]);
export type AgentStatus = z.output<typeof agentStatusSchema>;

/** Discovery ranks healthier agents first; lower is better. */
export const STATUS_RANK: Readonly<Record<AgentStatus, number>> = {
  healthy: 0,
  degraded: 1,
  initializing: 2,
  unhealthy: 3,
  offline: 4,
};

/** What an agent may say about itself in a heartbeat; the registry still derives the final status. */
export const reportedStatusSchema = z.enum(['healthy', 'degraded', 'unhealthy']);
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
  /** Requests the agent said it was working on at its last heartbeat. */
  readonly inFlight: number;
  readonly lastHeartbeat: string | null;
  readonly uptimeSeconds: number;
}

export interface CircuitView {
  readonly state: CircuitState;
  readonly consecutiveFailures: number;
  readonly openedAt: string | null;
}
