import { describe, expect, it } from 'vitest';
import type { AgentStatus } from '../../functions/core/model/agent-status.ts';
import { MAX_WAIT_MS } from '../../functions/core/model/utilisation.ts';
import type { AgentRecord } from '../../functions/core/registry/agent-registry.ts';
import { FleetTally, fleetSummary } from '../../functions/core/registry/fleet.ts';
import { idleMetrics } from '../../functions/core/registry/metrics.ts';
import {
  DURATION_WINDOW_MS,
  DURATION_WINDOW_SIZE,
  UtilisationWindow,
} from '../../functions/core/sdk/utilisation.ts';

const NOW = Date.UTC(2030, 0, 1, 12);
const memory = { usedMB: 100, sizeMB: undefined };

describe('the SDK rolling window', () => {
  it('gives nearest-rank p50 and p99 of the latest runs', () => {
    const window = new UtilisationWindow();
    for (let ms = 1; ms <= 100; ms++) window.addDuration(ms, NOW);
    expect(window.percentiles(NOW)).toEqual({ p50: 50, p99: 99, samples: 100 });
  });

  it(`keeps the latest ${DURATION_WINDOW_SIZE} runs only`, () => {
    const window = new UtilisationWindow();
    for (let i = 0; i < DURATION_WINDOW_SIZE; i++) window.addDuration(1000, NOW);
    for (let i = 0; i < DURATION_WINDOW_SIZE; i++) window.addDuration(5, NOW);
    expect(window.percentiles(NOW)).toEqual({ p50: 5, p99: 5, samples: DURATION_WINDOW_SIZE });
  });

  it('forgets runs older than the window, so an idle agent reports none', () => {
    const window = new UtilisationWindow();
    window.addDuration(7, NOW - DURATION_WINDOW_MS - 1);
    window.addDuration(3, NOW);
    expect(window.percentiles(NOW)).toEqual({ p50: 3, p99: 3, samples: 1 });
    expect(window.percentiles(NOW + DURATION_WINDOW_MS + 1)).toBeUndefined();
    expect(window.report(NOW + DURATION_WINDOW_MS + 1, memory)).toEqual({ memoryUsedMB: 100 });
  });

  it('reports the longest queue wait since the last report, ignoring missing timestamps', () => {
    const window = new UtilisationWindow();
    window.addWait(NOW - 300, NOW);
    window.addWait(NOW - 1200, NOW);
    window.addWait(0, NOW);
    window.addWait(Number.NaN, NOW);
    window.addWait(NOW + 50, NOW); // a sender's clock ahead: no wait, not a negative one
    expect(window.report(NOW, memory)).toMatchObject({ oldestMessageAgeMs: 1200 });
    expect(window.report(NOW, memory)).not.toHaveProperty('oldestMessageAgeMs');
    window.addWait(1, NOW);
    expect(window.report(NOW, memory).oldestMessageAgeMs).toBe(MAX_WAIT_MS);
  });
});

function record(
  agentId: string,
  status: AgentStatus,
  extra: {
    inFlight?: number;
    queue?: { depth: number; deadLetters: number | null };
    recent?: [number, number];
    circuit?: 'closed' | 'open' | 'half_open';
    /** The agent's queue; replicas sharing one name the same. @default a queue of its own */
    queueUrl?: string;
  } = {},
): AgentRecord {
  const base = idleMetrics(new Date(NOW).toISOString());
  const [recentRequests, recentErrors] = extra.recent ?? [0, 0];
  return {
    card: {
      agentId,
      endpoint: { queueUrl: extra.queueUrl ?? `https://sqs.us-east-1.amazonaws.com/1/${agentId}` },
    } as AgentRecord['card'],
    status,
    metrics: {
      ...base,
      inFlight: extra.inFlight ?? 0,
      recentRequests,
      recentErrors,
      utilisation: {
        ...base.utilisation,
        queueDepth: extra.queue?.depth ?? null,
        deadLetterDepth: extra.queue?.deadLetters ?? null,
      },
    },
    circuit: {
      state: extra.circuit ?? 'closed',
      consecutiveFailures: 0,
      openedAt: extra.circuit === 'open' ? new Date(NOW).toISOString() : null,
    },
    registeredAt: '',
    updatedAt: '',
    expiresAt: '',
  };
}

describe('the fleet summary', () => {
  it('counts by status, lists open circuits, sums in flight, queues and recent failures', () => {
    const tally = new FleetTally();
    for (const agent of [
      record('a', 'healthy', { inFlight: 2, queue: { depth: 3, deadLetters: 1 }, recent: [10, 1] }),
      record('b', 'unhealthy', { circuit: 'open', recent: [10, 9] }),
      record('c', 'draining', { inFlight: 1, queue: { depth: 4, deadLetters: null } }),
      // An offline agent's in-flight figure is stale; its queue still counts.
      record('d', 'offline', { inFlight: 5, queue: { depth: 10, deadLetters: 2 } }),
    ])
      tally.add(agent);
    const summary = tally.summary();
    expect(summary.agents).toEqual({
      total: 4,
      byStatus: {
        initializing: 0,
        healthy: 1,
        degraded: 0,
        unhealthy: 1,
        draining: 1,
        drained: 0,
        offline: 1,
      },
    });
    expect(summary.openCircuits).toEqual([
      { agentId: 'b', state: 'open', openedAt: new Date(NOW).toISOString() },
    ]);
    expect(summary.inFlight).toBe(3);
    expect(summary.queues).toEqual({ depth: 17, deadLetters: 3, agentsReporting: 3 });
    expect(summary.recent).toEqual({ requests: 20, errors: 10, failureRate: 0.5 });
    expect(summary.truncated).toBe(false);
  });

  it('counts a queue that replicas share (competing consumers) once', () => {
    const tally = new FleetTally();
    const shared = 'https://sqs.us-east-1.amazonaws.com/1/writers';
    for (const id of ['w1', 'w2', 'w3'])
      tally.add(record(id, 'healthy', { queueUrl: shared, queue: { depth: 6, deadLetters: 1 } }));
    expect(tally.summary().queues).toEqual({ depth: 6, deadLetters: 1, agentsReporting: 1 });
    expect(tally.summary().agents.total).toBe(3);
  });

  it('says unknown (null) when no queue figures have been read, not zero', () => {
    const tally = new FleetTally();
    tally.add(record('a', 'healthy'));
    expect(tally.summary().queues).toEqual({ depth: null, deadLetters: null, agentsReporting: 0 });
  });

  it('reads every page of the registry', async () => {
    const pages = [
      { agents: [record('a', 'healthy')], nextToken: 't1' },
      { agents: [record('b', 'degraded')] },
    ];
    const tokens: (string | undefined)[] = [];
    const summary = await fleetSummary({
      list: async (filter = {}) => {
        tokens.push(filter.nextToken);
        return pages[tokens.length - 1] ?? { agents: [] };
      },
    });
    expect(tokens).toEqual([undefined, 't1']);
    expect(summary.agents.total).toBe(2);
  });
});
