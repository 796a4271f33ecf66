import { Logger } from '@aws-lambda-powertools/logger';
import { describe, expect, it } from 'vitest';
import { type HealthSweep, reportSweep } from '../../functions/monitor/health-monitor.ts';
import { emf, metricsFor } from '../support/emf.ts';

/** What a health sweep publishes to CloudWatch: a figure for every status an agent can have. */
describe('the health monitor’s sweep metrics', () => {
  const sweep: HealthSweep = {
    counts: {
      initializing: 1,
      healthy: 2,
      degraded: 0,
      unhealthy: 0,
      draining: 1,
      drained: 1,
      offline: 0,
    },
    pinged: 5,
    offline: [],
    failed: [],
    missing: [],
    queues: { read: 4, depth: 0, deadLetters: 0, failed: [] },
  };

  it('counts agents an operator drained apart from those stopping of their own accord, and every status, so the counts add up to the fleet', async () => {
    const printed = await emf(() =>
      reportSweep(sweep, metricsFor('mobius-health-monitor'), new Logger({ logLevel: 'SILENT' })),
    );
    expect(printed.values).toMatchObject({
      AgentsInitializing: 1,
      AgentsHealthy: 2,
      AgentsDraining: 1,
      AgentsDrained: 1,
      AgentsOffline: 0,
    });
    const statuses = Object.keys(sweep.counts).map(
      (status) => `Agents${status[0]?.toUpperCase()}${status.slice(1)}`,
    );
    for (const name of statuses) expect(printed.values, name).toHaveProperty(name);
  });
});
