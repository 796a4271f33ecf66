import type { AgentMetrics } from '../model/agent-status.ts';
import type { AgentLiveState } from './agent-row.ts';

/**
 * Metrics are kept as atomic counters (UpdateItem ADD), so concurrent updates from any number of
 * Lambdas never lose an increment. Besides lifetime totals, the row keeps two fixed windows of
 * METRICS_WINDOW_MS: "recent" figures (error rate, average latency) cover the current and the
 * previous window, i.e. the last one to two minutes, so an agent recovers its status once it is
 * healthy again instead of carrying old errors forever.
 */
export const METRICS_WINDOW_MS = 60_000;

export const windowIndex = (nowMs: number): number => Math.floor(nowMs / METRICS_WINDOW_MS);

export interface RecentFigures {
  readonly requests: number;
  readonly errors: number;
  readonly latencyMs: number;
}

export function recentFigures(row: AgentLiveState, nowMs: number): RecentFigures {
  const current = windowIndex(nowMs);
  if (row.win === current) {
    return {
      requests: row.winReq + row.prevReq,
      errors: row.winErr + row.prevErr,
      latencyMs: row.winLat + row.prevLat,
    };
  }
  if (row.win === current - 1) {
    return { requests: row.winReq, errors: row.winErr, latencyMs: row.winLat };
  }
  return { requests: 0, errors: 0, latencyMs: 0 };
}

export function metricsOf(row: AgentLiveState, nowMs: number, offline: boolean): AgentMetrics {
  const recent = recentFigures(row, nowMs);
  const since = row.startedAt ?? row.registeredAt;
  return {
    requestsProcessed: row.reqTotal,
    errors: row.errTotal,
    averageResponseTimeMs: recent.requests === 0 ? 0 : round(recent.latencyMs / recent.requests),
    errorRate: recent.requests === 0 ? 0 : round(recent.errors / recent.requests, 4),
    inFlight: row.inFlight,
    lastHeartbeat:
      row.lastHeartbeatAt === undefined ? null : new Date(row.lastHeartbeatAt).toISOString(),
    uptimeSeconds: offline ? 0 : Math.max(0, Math.floor((nowMs - since) / 1000)),
  };
}

function round(value: number, digits = 2): number {
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}
