import { describe, expect, it } from 'vitest';
import {
  type AgentStatus,
  agentStatusSchema,
  STATUS_RANK,
  takesNewWork,
} from '../../../functions/core/model/agent-status.ts';
import type { AgentLiveState } from '../../../functions/core/registry/agent-row.ts';
import { circuitOf, DEFAULT_BREAKER_SETTINGS } from '../../../functions/core/registry/breaker.ts';
import { FleetTally } from '../../../functions/core/registry/fleet.ts';
import {
  DEFAULT_HEALTH_THRESHOLDS,
  deriveStatus,
} from '../../../functions/core/registry/health.ts';
import { windowIndex } from '../../../functions/core/registry/metrics.ts';
import type { AgentRecord } from '../../../functions/core/registry/store.ts';

const NOW = Date.UTC(2030, 0, 1, 12, 0, 30);
const DRAINED = { drainedAt: NOW - 60_000, drainedBy: 'arn:aws:iam::123456789012:role/Ops' };

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

describe('an operator’s drain in the derived status', () => {
  it.each<[string, Partial<AgentLiveState>, AgentStatus]>([
    ['a healthy agent', {}, 'drained'],
    ['one that says it is stopping', { reportedStatus: 'draining' }, 'drained'],
    ['one that reports itself unhealthy', { reportedStatus: 'unhealthy' }, 'drained'],
    ['one behind an open breaker', { brState: 'open', brOpenedAt: NOW - 1_000 }, 'drained'],
    ['one that never beat', { lastHeartbeatAt: undefined }, 'drained'],
    // A drained agent whose heartbeats stopped is gone: offline says more than drained.
    ['one whose heartbeat deadline passed', { expiresAt: NOW / 1000 }, 'offline'],
  ])('reads as drained for %s, unless offline', (_, overrides, expected) => {
    expect(status({ ...DRAINED, ...overrides })).toBe(expected);
  });

  it('is gone with its mark: the status is derived as before', () => {
    expect(status({})).toBe('healthy');
    expect(status({ reportedStatus: 'draining' })).toBe('draining');
  });

  it('ranks between draining and offline, and takes no new work', () => {
    expect(STATUS_RANK.draining).toBeLessThan(STATUS_RANK.drained);
    expect(STATUS_RANK.drained).toBeLessThan(STATUS_RANK.offline);
    expect(agentStatusSchema.options.filter((s) => !takesNewWork(s))).toEqual([
      'draining',
      'drained',
      'offline',
    ]);
  });
});

describe('the fleet summary', () => {
  it('counts drained agents under byStatus.drained', () => {
    const tally = new FleetTally();
    for (const [agentId, agentStatus] of [
      ['a', 'healthy'],
      ['b', 'drained'],
      ['c', 'drained'],
    ] as const)
      tally.add({
        card: { agentId, endpoint: {} },
        status: agentStatus,
        circuit: { state: 'closed', consecutiveFailures: 0, openedAt: null },
        metrics: {
          inFlight: 1,
          recentRequests: 0,
          recentErrors: 0,
          utilisation: { queueDepth: null, deadLetterDepth: null },
        },
      } as unknown as AgentRecord);
    const { agents, inFlight } = tally.summary();
    expect(agents.total).toBe(3);
    expect(agents.byStatus).toMatchObject({ healthy: 1, drained: 2, draining: 0 });
    // Drained agents still finish their work: it counts as in flight.
    expect(inFlight).toBe(3);
  });
});
