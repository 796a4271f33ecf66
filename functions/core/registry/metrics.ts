import type { AgentMetrics } from '../model/agent-status.ts';
import type { AgentUtilisation } from '../model/utilisation.ts';
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

/**
 * The metrics view of a row. `maxConcurrency` is the card's (the row's live state does not hold
 * it); utilisation figures are the last ones reported, with when (`lastHeartbeat`, `queueReadAt`).
 */
export function metricsOf(
  row: AgentLiveState,
  nowMs: number,
  offline: boolean,
  maxConcurrency?: number,
): AgentMetrics {
  const recent = recentFigures(row, nowMs);
  const since = row.startedAt ?? row.registeredAt;
  return {
    requestsProcessed: row.reqTotal,
    errors: row.errTotal,
    averageResponseTimeMs: recent.requests === 0 ? 0 : round(recent.latencyMs / recent.requests),
    errorRate: recent.requests === 0 ? 0 : round(recent.errors / recent.requests, 4),
    recentRequests: recent.requests,
    recentErrors: recent.errors,
    inFlight: row.inFlight,
    lastHeartbeat:
      row.lastHeartbeatAt === undefined ? null : new Date(row.lastHeartbeatAt).toISOString(),
    uptimeSeconds: offline ? 0 : Math.max(0, Math.floor((nowMs - since) / 1000)),
    utilisation: utilisationOf(row, maxConcurrency),
  };
}

/**
 * The metrics of an agent nothing has been measured for (the synth-time directory of a stack's own
 * agents): no traffic, nothing in flight, every utilisation figure unknown.
 */
export function idleMetrics(lastHeartbeat: string, maxConcurrency?: number): AgentMetrics {
  return {
    requestsProcessed: 0,
    errors: 0,
    averageResponseTimeMs: 0,
    errorRate: 0,
    recentRequests: 0,
    recentErrors: 0,
    inFlight: 0,
    lastHeartbeat,
    uptimeSeconds: 0,
    utilisation: utilisationOf({ inFlight: 0 }, maxConcurrency),
  };
}

export function utilisationOf(
  row: Pick<AgentLiveState, 'inFlight' | 'util' | 'queue'>,
  maxConcurrency?: number,
): AgentUtilisation {
  const { util = {}, queue } = row;
  return {
    inFlight: row.inFlight,
    maxConcurrency: maxConcurrency ?? null,
    durationP50Ms: util.durationP50Ms ?? null,
    durationP99Ms: util.durationP99Ms ?? null,
    durationSamples: util.durationSamples ?? null,
    memoryUsedMB: util.memoryUsedMB ?? null,
    memorySizeMB: util.memorySizeMB ?? null,
    oldestMessageAgeMs: util.oldestMessageAgeMs ?? null,
    queueDepth: queue?.depth ?? null,
    queueInFlight: queue?.inFlight ?? null,
    deadLetterDepth: queue?.deadLetters ?? null,
    queueReadAt: queue === undefined ? null : new Date(queue.readAt).toISOString(),
  };
}

function round(value: number, digits = 2): number {
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}
