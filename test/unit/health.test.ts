import { describe, expect, it } from 'vitest';
import type { AgentLiveState } from '../../functions/core/registry/agent-row.ts';
import { circuitOf, DEFAULT_BREAKER_SETTINGS } from '../../functions/core/registry/breaker.ts';
import { DEFAULT_HEALTH_THRESHOLDS, deriveStatus } from '../../functions/core/registry/health.ts';
import { metricsOf, windowIndex } from '../../functions/core/registry/metrics.ts';

const NOW = Date.UTC(2030, 0, 1, 12, 0, 30);

function state(overrides: Partial<AgentLiveState> = {}): AgentLiveState {
  return {
    agentId: 'a',
    agentType: 't',
    cardHash: 'h',
    registeredAt: NOW - 3_600_000,
    updatedAt: NOW - 3_600_000,
    hbIntervalSec: 30,
    hbTimeoutSec: 90,
    expiresAt: NOW / 1000 + 60,
    lastHeartbeatAt: NOW - 5_000,
    inFlight: 0,
    reqTotal: 0,
    errTotal: 0,
    latTotal: 0,
    win: windowIndex(NOW),
    winReq: 0,
    winErr: 0,
    winLat: 0,
    prevReq: 0,
    prevErr: 0,
    prevLat: 0,
    brState: 'closed',
    brFailures: 0,
    ...overrides,
  };
}

const status = (overrides: Partial<AgentLiveState>) => {
  const row = state(overrides);
  return deriveStatus(
    row,
    circuitOf(row, NOW, DEFAULT_BREAKER_SETTINGS),
    NOW,
    DEFAULT_HEALTH_THRESHOLDS,
  );
};

describe('status derivation (documented thresholds)', () => {
  it.each<[string, Partial<AgentLiveState>, string]>([
    ['fresh heartbeat, no traffic', {}, 'healthy'],
    ['heartbeat deadline passed', { expiresAt: NOW / 1000 }, 'offline'],
    ['never beat', { lastHeartbeatAt: undefined }, 'initializing'],
    ['late: older than 2 × interval', { lastHeartbeatAt: NOW - 61_000 }, 'degraded'],
    ['10 % errors over 10 requests', { winReq: 10, winErr: 1, winLat: 100 }, 'degraded'],
    ['50 % errors over 10 requests', { winReq: 6, winErr: 3, prevReq: 4, prevErr: 2 }, 'unhealthy'],
    ['errors below the minimum sample', { winReq: 2, winErr: 2 }, 'healthy'],
    ['slow: average ≥ 5 s', { winReq: 2, winLat: 10_000 }, 'degraded'],
    ['agent reports degraded', { reportedStatus: 'degraded' }, 'degraded'],
    ['agent reports unhealthy', { reportedStatus: 'unhealthy' }, 'unhealthy'],
    ['circuit open', { brState: 'open', brOpenedAt: NOW - 1_000 }, 'unhealthy'],
    ['agent is stopping', { reportedStatus: 'draining' }, 'draining'],
    [
      'stopping wins over an open circuit and errors',
      {
        reportedStatus: 'draining',
        brState: 'open',
        brOpenedAt: NOW - 1_000,
        winReq: 10,
        winErr: 10,
      },
      'draining',
    ],
    [
      'stopping, then the deadline passed',
      { reportedStatus: 'draining', expiresAt: NOW / 1000 },
      'offline',
    ],
    ['circuit cooled down (half-open)', { brState: 'open', brOpenedAt: NOW - 31_000 }, 'degraded'],
    [
      'old errors two windows ago',
      { win: windowIndex(NOW) - 2, winReq: 10, winErr: 10 },
      'healthy',
    ],
  ])('%s → %s', (_, overrides, expected) => {
    expect(status(overrides)).toBe(expected);
  });

  it('computes recent metrics from the current and previous windows', () => {
    const metrics = metricsOf(
      state({
        reqTotal: 100,
        errTotal: 7,
        winReq: 4,
        winErr: 1,
        winLat: 400,
        prevReq: 6,
        prevErr: 1,
        prevLat: 1_600,
      }),
      NOW,
      false,
    );
    expect(metrics).toMatchObject({
      requestsProcessed: 100,
      errors: 7,
      errorRate: 0.2,
      recentRequests: 10,
      recentErrors: 2,
      averageResponseTimeMs: 200,
      uptimeSeconds: 3600,
    });
  });

  it('shows utilisation: in flight against the card maximum, the last report, the queue', () => {
    const readAt = NOW - 10_000;
    const metrics = metricsOf(
      state({
        inFlight: 3,
        util: { durationP50Ms: 12, durationP99Ms: 80, durationSamples: 40, memoryUsedMB: 91.5 },
        queue: { depth: 5, inFlight: 1, deadLetters: 2, readAt },
      }),
      NOW,
      false,
      4,
    );
    expect(metrics.utilisation).toEqual({
      inFlight: 3,
      maxConcurrency: 4,
      durationP50Ms: 12,
      durationP99Ms: 80,
      durationSamples: 40,
      memoryUsedMB: 91.5,
      memorySizeMB: null,
      oldestMessageAgeMs: null,
      queueDepth: 5,
      queueInFlight: 1,
      deadLetterDepth: 2,
      queueReadAt: new Date(readAt).toISOString(),
    });
    // Nothing reported yet: every figure unknown, none made up.
    expect(metricsOf(state(), NOW, false).utilisation).toMatchObject({
      maxConcurrency: null,
      durationP99Ms: null,
      memoryUsedMB: null,
      queueDepth: null,
    });
  });

  it('shifts the current window into "previous" when read a window later', () => {
    const row = state({
      win: windowIndex(NOW) - 1,
      winReq: 4,
      winErr: 2,
      winLat: 40,
      prevReq: 100,
      prevErr: 100,
    });
    expect(metricsOf(row, NOW, false)).toMatchObject({ errorRate: 0.5, averageResponseTimeMs: 10 });
  });
});
