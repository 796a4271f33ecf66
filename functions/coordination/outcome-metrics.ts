import { type Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { CoordinationResult } from './result.ts';

/** The count metric of each way a coordination ends. */
export const OUTCOME_METRICS = {
  succeeded: 'CoordinationsSucceeded',
  partial: 'CoordinationsPartial',
  failed: 'CoordinationsFailed',
  // Not a failure: an operator stopped it (DELETE /coordinations/{id}). Counted apart so that the
  // failure-rate alarm, which reads CoordinationsFailed, is not set off by a batch of cancels.
  cancelled: 'CoordinationsCancelled',
} as const satisfies Record<CoordinationResult['status'], string>;

/**
 * EMF metrics of one finished coordination, whoever saw it finish: the API (express runs, inline)
 * or the status-change consumer (standard runs). Counts carry only the service dimension (what the
 * failure-rate alarm reads); durations carry the pattern (what the dashboard's p50/p99 graphs read).
 */
export function recordCoordinationOutcome(metrics: Metrics, result: CoordinationResult): void {
  metrics.addMetric(OUTCOME_METRICS[result.status], MetricUnit.Count, 1);
  // A single metric publishes on addMetric and forgets its dimensions: one per metric.
  const timings = {
    CoordinationDuration: result.timings.totalMs,
    CoordinationOverhead: result.timings.overheadMs,
  };
  for (const [name, ms] of Object.entries(timings)) {
    const timing = metrics.singleMetric();
    timing.addDimension('pattern', result.pattern);
    timing.addMetric(name, MetricUnit.Milliseconds, ms);
  }
}
