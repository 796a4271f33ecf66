import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { EventBridgeEvent } from 'aws-lambda';
import * as z from 'zod';
import type { ExecutionInput } from '../../statemachines/plan.ts';
import { outcomeOf } from '../coordination/execution.ts';
import { recordCoordinationOutcome } from '../coordination/outcome-metrics.ts';
import { shapeResult } from '../coordination/result.ts';
import { metricsNamespace } from '../core/metrics-namespace.ts';

/** Epoch milliseconds, as AWS sends them; LocalStack sends ISO 8601 strings instead. */
const eventDateSchema = z.union([
  z.number(),
  z.iso.datetime({ offset: true, local: true }).transform((iso) => Date.parse(iso)),
]);

/** The part of a "Step Functions Execution Status Change" event this consumer reads. */
const statusChangeSchema = z.object({
  executionArn: z.string().optional(),
  name: z.string(),
  status: z.enum(['SUCCEEDED', 'FAILED', 'TIMED_OUT', 'ABORTED']),
  startDate: eventDateSchema,
  stopDate: eventDateSchema.nullish(),
  input: z.string().nullish(),
  output: z.string().nullish(),
  error: z.string().nullish(),
  cause: z.string().nullish(),
});
export type ExecutionStatusChange = z.input<typeof statusChangeSchema>;

/**
 * Records a finished standard coordination the way the API records an express one (the API only
 * sees standard runs start). Step Functions leaves input or output out of the event when they are
 * too large; then only the outcome is counted, without timings.
 */
export function recordStatusChange(
  metrics: Metrics,
  detail: unknown,
): 'recorded' | 'counted' | 'express' | 'ignored' {
  const parsed = statusChangeSchema.safeParse(detail);
  if (!parsed.success) return 'ignored';
  const change = parsed.data;
  // AWS sends these events for Standard executions only; LocalStack sends them for Express ones
  // too, which the API has recorded already.
  if (change.executionArn?.includes(':express:')) return 'express';
  const input = change.input ? (JSON.parse(change.input) as Partial<ExecutionInput>) : undefined;
  const hasOutput = change.status !== 'SUCCEEDED' || typeof change.output === 'string';
  if (input?.coordinationId === undefined || input.pattern === undefined || !hasOutput) {
    metrics.addMetric(
      change.status === 'SUCCEEDED' ? 'CoordinationsSucceeded' : 'CoordinationsFailed',
      MetricUnit.Count,
      1,
    );
    return 'counted';
  }
  const totalMs = (change.stopDate ?? change.startDate) - change.startDate;
  const result = shapeResult(input as ExecutionInput, outcomeOf(change), totalMs);
  recordCoordinationOutcome(metrics, result);
  return 'recorded';
}

const logger = new Logger({ serviceName: 'mobius-api' });
// Published under the API's service name: the dashboard and alarms read one set of figures.
const metrics = new Metrics({ namespace: metricsNamespace(), serviceName: 'mobius-api' });

/** EventBridge target for the standard machines' status changes (see lib/coordination-engine.ts). */
export async function handler(
  event: EventBridgeEvent<'Step Functions Execution Status Change', unknown>,
): Promise<void> {
  const outcome = recordStatusChange(metrics, event.detail);
  if (outcome === 'ignored') logger.warn('not an execution status change', { event });
  metrics.publishStoredMetrics();
}
