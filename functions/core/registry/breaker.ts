import type { CircuitState, CircuitView } from '../model/agent-status.ts';
import type { AgentLiveState } from './agent-row.ts';

/**
 * Per-agent circuit breaker, stored on the agent row so every Lambda (cold or warm) sees the same
 * state. Transitions are conditional writes (see AgentRegistry.recordOutcome / tryAcquire), so two
 * callers racing on the same transition cannot both win.
 *
 *   closed ──(failureThreshold consecutive failures)──▶ open
 *   open ──(cooldownMs elapsed; one caller claims the probe)──▶ half_open
 *   half_open ──success──▶ closed        half_open ──failure──▶ open (cool-down restarts)
 *
 * A probe that never reports (its caller crashed) is given up after another cooldownMs, and the
 * next caller may probe.
 */
export interface BreakerSettings {
  readonly failureThreshold: number;
  readonly cooldownMs: number;
}

export const DEFAULT_BREAKER_SETTINGS: BreakerSettings = {
  failureThreshold: 5,
  cooldownMs: 30_000,
};

export interface CircuitDecision extends CircuitView {
  /** May a request be sent now (closed, or half-open with the probe slot free)? */
  readonly acceptsRequests: boolean;
  /** A request sent now would be the half-open probe, which must be claimed first. */
  readonly needsProbe: boolean;
}

export function circuitOf(
  row: AgentLiveState,
  nowMs: number,
  settings: BreakerSettings,
): CircuitDecision {
  const openedAt = row.brOpenedAt === undefined ? null : new Date(row.brOpenedAt).toISOString();
  const view = (
    state: CircuitState,
    acceptsRequests: boolean,
    needsProbe: boolean,
  ): CircuitDecision => ({
    state,
    consecutiveFailures: row.brFailures,
    openedAt,
    acceptsRequests,
    needsProbe,
  });
  switch (row.brState) {
    case 'closed':
      return view('closed', true, false);
    case 'open': {
      const coolingDown = nowMs - (row.brOpenedAt ?? 0) < settings.cooldownMs;
      return coolingDown ? view('open', false, false) : view('half_open', true, true);
    }
    case 'half_open': {
      const probeInFlight = nowMs - (row.brProbeAt ?? 0) < settings.cooldownMs;
      return view('half_open', !probeInFlight, !probeInFlight);
    }
  }
}
