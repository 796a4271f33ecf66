import type { AgentStatus } from '../model/agent-status.ts';
import type { AgentLiveState } from './agent-row.ts';
import type { CircuitDecision } from './breaker.ts';
import { recentFigures } from './metrics.ts';

/**
 * Thresholds that turn heartbeat age and recent metrics into a status. Defaults:
 *
 * | status       | when (first rule that applies wins)                                            |
 * | ------------ | ------------------------------------------------------------------------------- |
 * | offline      | the heartbeat deadline (`expiresAt`) has passed                                 |
 * | drained      | an operator drained it (POST /agents/{id}/drain) and nobody has resumed it yet  |
 * | draining     | the agent said it is stopping (SDK `stop()`); no new work is planned for it     |
 * | unhealthy    | circuit open; or the agent reports unhealthy; or recent error rate ≥ 50 %       |
 * | initializing | registered, no heartbeat yet                                                    |
 * | degraded     | circuit half-open; agent reports degraded; error rate ≥ 10 %; average latency   |
 * |              | ≥ 5 s; or the last heartbeat is older than 2 × the heartbeat interval           |
 * | healthy      | otherwise                                                                       |
 *
 * Error rates are judged only once the recent window holds at least `minRequests` requests, so
 * one failure out of two does not condemn an agent.
 */
export interface HealthThresholds {
  readonly minRequests: number;
  readonly degradedErrorRate: number;
  readonly unhealthyErrorRate: number;
  readonly degradedLatencyMs: number;
  readonly lateHeartbeatFactor: number;
}

export const DEFAULT_HEALTH_THRESHOLDS: HealthThresholds = {
  minRequests: 10,
  degradedErrorRate: 0.1,
  unhealthyErrorRate: 0.5,
  degradedLatencyMs: 5_000,
  lateHeartbeatFactor: 2,
};

export function isExpired(row: Pick<AgentLiveState, 'expiresAt'>, nowMs: number): boolean {
  return nowMs >= row.expiresAt * 1000;
}

export function deriveStatus(
  row: AgentLiveState,
  circuit: CircuitDecision,
  nowMs: number,
  thresholds: HealthThresholds,
): AgentStatus {
  if (isExpired(row, nowMs)) return 'offline';
  // An operator's drain outranks whatever the agent says of itself: only a resume lifts it.
  if (row.drainedAt !== undefined) return 'drained';
  // Before health: an agent on its way out takes no new work, however well it did its last.
  if (row.reportedStatus === 'draining') return 'draining';

  const recent = recentFigures(row, nowMs);
  const judged = recent.requests >= thresholds.minRequests;
  const errorRate = recent.requests === 0 ? 0 : recent.errors / recent.requests;

  if (circuit.state === 'open') return 'unhealthy';
  if (row.reportedStatus === 'unhealthy') return 'unhealthy';
  if (judged && errorRate >= thresholds.unhealthyErrorRate) return 'unhealthy';
  if (row.lastHeartbeatAt === undefined) return 'initializing';

  const late =
    nowMs - row.lastHeartbeatAt > thresholds.lateHeartbeatFactor * row.hbIntervalSec * 1000;
  const slow =
    recent.requests > 0 && recent.latencyMs / recent.requests >= thresholds.degradedLatencyMs;
  if (
    circuit.state === 'half_open' ||
    row.reportedStatus === 'degraded' ||
    (judged && errorRate >= thresholds.degradedErrorRate) ||
    slow ||
    late
  ) {
    return 'degraded';
  }
  return 'healthy';
}
