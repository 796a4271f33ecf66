import { describe, expect, it } from 'vitest';
import { recordStatusChange } from '../../functions/monitor/coordination-events.ts';
import { emf, metricsFor } from '../support/emf.ts';

describe('standard coordination outcomes from status-change events', () => {
  it('counts a run whose input Step Functions left out of the event, without timings', async () => {
    const metrics = metricsFor('mobius-api');
    const emitted = await emf(
      () =>
        recordStatusChange(metrics, {
          name: 'mobius-sequential-0123456789abcdef--0123',
          status: 'TIMED_OUT',
          startDate: 1_700_000_000_000,
          stopDate: 1_700_000_060_000,
          input: null,
          inputDetails: { included: false },
        }),
      metrics,
    );
    expect(emitted.result).toBe('counted');
    expect(emitted.metrics).toEqual([{ name: 'CoordinationsFailed', pattern: undefined }]);
  });

  it('ignores events that are not execution status changes', async () => {
    const metrics = metricsFor('mobius-api');
    const emitted = await emf(() => recordStatusChange(metrics, { hello: 'world' }), metrics);
    expect(emitted.result).toBe('ignored');
    expect(emitted.metrics).toEqual([]);
  });
});
