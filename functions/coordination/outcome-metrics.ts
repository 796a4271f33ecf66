import { type Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { CoordinationResult } from './result.ts';

/**
 * EMF metrics of one finished coordination, whoever saw it finish: the API (express runs, inline)
 * or the status-change consumer (standard runs). Counts carry only the service dimension (what the
 * failure-rate alarm reads); durations carry the pattern (what the dashboard's p50/p99 graphs read).
 */
export function recordCoordinationOutcome(metrics: Metrics, result: CoordinationResult): void {
  const outcome =
    result.status === 'succeeded'
      ? 'CoordinationsSucceeded'
      : result.status === 'partial'
        ? 'CoordinationsPartial'
        : 'CoordinationsFailed';
  metrics.addMetric(outcome, MetricUnit.Count, 1);
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
