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

  it('reads the ISO dates LocalStack sends where AWS sends epoch milliseconds', async () => {
    const metrics = metricsFor('mobius-api');
    const emitted = await emf(
      () =>
        recordStatusChange(metrics, {
          executionArn: 'arn:aws:states:us-east-1:000000000000:execution:m:run',
          name: 'run',
          status: 'FAILED',
          startDate: '2026-11-30T06:25:59.694425+00:00',
          stopDate: '2026-11-30T06:26:19.017593+00:00',
          input: null,
        }),
      metrics,
    );
    expect(emitted.result).toBe('counted');
    expect(emitted.metrics).toEqual([{ name: 'CoordinationsFailed', pattern: undefined }]);
  });

  it('leaves Express executions to the API, which recorded them (LocalStack reports them too)', async () => {
    const metrics = metricsFor('mobius-api');
    const emitted = await emf(
      () =>
        recordStatusChange(metrics, {
          executionArn: 'arn:aws:states:us-east-1:000000000000:express:m:run:0f1e',
          name: 'run',
          status: 'SUCCEEDED',
          startDate: 1_700_000_000_000,
          stopDate: 1_700_000_000_100,
          input: null,
        }),
      metrics,
    );
    expect(emitted.result).toBe('express');
    expect(emitted.metrics).toEqual([]);
  });

  it('ignores events that are not execution status changes', async () => {
    const metrics = metricsFor('mobius-api');
    const emitted = await emf(() => recordStatusChange(metrics, { hello: 'world' }), metrics);
    expect(emitted.result).toBe('ignored');
    expect(emitted.metrics).toEqual([]);
  });
});
