import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { DescribeExecutionCommand, type SFNClient } from '@aws-sdk/client-sfn';
import type { EventBridgeEvent } from 'aws-lambda';
import * as z from 'zod';
import type { ExecutionInput } from '../../statemachines/plan.ts';
import { type ExecutionProgress, outcomeOf } from '../coordination/execution.ts';
import { readProgress } from '../coordination/execution-history.ts';
import { appendFinished, type LiveEventsWarn } from '../coordination/live-events.ts';
import { OUTCOME_METRICS, recordCoordinationOutcome } from '../coordination/outcome-metrics.ts';
import { type CoordinationResult, shapeResult } from '../coordination/result.ts';
import { sharedSfnClient } from '../core/aws/sfn.ts';
import { metricsNamespace } from '../core/metrics-namespace.ts';
import { DynamoEventLog } from '../core/streaming/dynamo-event-log.ts';
import type { CoordinationEventLog } from '../core/streaming/event-log.ts';

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
  const result = finishedResult(change);
  if (result === undefined) {
    // As the result would have said: a stopped (ABORTED) run was cancelled, not failed.
    const outcome =
      change.status === 'SUCCEEDED'
        ? OUTCOME_METRICS.succeeded
        : change.status === 'ABORTED'
          ? OUTCOME_METRICS.cancelled
          : OUTCOME_METRICS.failed;
    metrics.addMetric(outcome, MetricUnit.Count, 1);
    return 'counted';
  }
  recordCoordinationOutcome(metrics, result);
  return 'recorded';
}

/**
 * Ends a finished standard coordination in its event log: appends `coordination.finished` with
 * the result, shaped as GET /coordinations/{id} shapes it, so that whoever follows its events
 * (GET /coordinations/{id}/events) sees it end — and GET /coordinations lists how it ended. A run
 * an operator cancelled (StopExecution: ABORTED) ends `cancelled`. The API only sees standard runs start; this is
 * where their end is known on AWS. When Step Functions left the input or output out of the event
 * (too large), they are read with DescribeExecution.
 */
export async function appendStandardFinished(
  events: CoordinationEventLog,
  detail: unknown,
  options: { readonly sfn?: SFNClient; readonly warn?: LiveEventsWarn } = {},
): Promise<'appended' | 'not appended' | 'express' | 'ignored'> {
  const parsed = statusChangeSchema.safeParse(detail);
  if (!parsed.success) return 'ignored';
  const change = parsed.data;
  if (change.executionArn?.includes(':express:')) return 'express';
  const warnOf = options.warn ?? warn;
  const sfn = options.sfn ?? sharedSfnClient();
  const progress = await failedProgress(sfn, change, warnOf);
  let result = finishedResult(change, progress);
  if (result === undefined && change.executionArn !== undefined) {
    try {
      const described = await sfn.send(
        new DescribeExecutionCommand({ executionArn: change.executionArn }),
      );
      result = finishedResult(
        { ...change, input: described.input, output: described.output },
        progress,
      );
    } catch (error) {
      // Not thrown: EventBridge would deliver the event again and its metrics would count twice.
      warnOf(`could not read standard coordination ${change.name} to end its event log`, {
        coordinationId: change.name,
        error,
      });
      return 'not appended';
    }
  }
  if (result === undefined) {
    warnOf(
      `standard coordination ${change.name} ended, but neither its event nor the execution holds its input and output: no coordination.finished appended`,
      { coordinationId: change.name },
    );
    return 'not appended';
  }
  return (await appendFinished(events, result, warnOf)) ? 'appended' : 'not appended';
}

/**
 * How far a failed, timed-out or cancelled (ABORTED) run had got, from its execution history —
 * what GET /coordinations/{id} adds to such a result (the succeeded steps' outputs, the tasks
 * still running). Without it (no history, or it cannot be read) the result names the end only.
 */
async function failedProgress(
  sfn: SFNClient,
  change: z.output<typeof statusChangeSchema>,
  warnOf: LiveEventsWarn,
): Promise<ExecutionProgress | undefined> {
  if (change.executionArn === undefined) return undefined;
  if (change.status === 'SUCCEEDED') return undefined;
  try {
    return await readProgress(sfn, change.executionArn);
  } catch (error) {
    warnOf(`could not read the history of standard coordination ${change.name}`, {
      coordinationId: change.name,
      error,
    });
    return undefined;
  }
}

/** The coordination result of a finished run, when its input (and output, if any) are known. */
function finishedResult(
  change: z.output<typeof statusChangeSchema>,
  progress?: ExecutionProgress,
): CoordinationResult | undefined {
  const input = change.input ? (JSON.parse(change.input) as Partial<ExecutionInput>) : undefined;
  const hasOutput = change.status !== 'SUCCEEDED' || typeof change.output === 'string';
  if (input?.coordinationId === undefined || input.pattern === undefined || !hasOutput)
    return undefined;
  const totalMs = (change.stopDate ?? change.startDate) - change.startDate;
  const outcome = outcomeOf(change);
  return shapeResult(
    input as ExecutionInput,
    progress !== undefined && outcome.status !== 'SUCCEEDED' ? { ...outcome, progress } : outcome,
    totalMs,
  );
}

const logger = new Logger({ serviceName: 'mobius-api' });
const warn: LiveEventsWarn = (message, details) => logger.warn(message, details);
// Published under the API's service name: the dashboard and alarms read one set of figures.
const metrics = new Metrics({ namespace: metricsNamespace(), serviceName: 'mobius-api' });
/** The coordination event log, where the stack configures one (MOBIUS_EVENTS_TABLE). */
const eventsTable = process.env.MOBIUS_EVENTS_TABLE;
const events = eventsTable ? new DynamoEventLog({ tableName: eventsTable }) : undefined;

/** EventBridge target for the standard machines' status changes (see lib/coordination-engine.ts). */
export async function handler(
  event: EventBridgeEvent<'Step Functions Execution Status Change', unknown>,
): Promise<void> {
  const outcome = recordStatusChange(metrics, event.detail);
  if (outcome === 'ignored') logger.warn('not an execution status change', { event });
  metrics.publishStoredMetrics();
  // Never throws (see appendStandardFinished): a retried event would count its metrics twice.
  if (events !== undefined && (outcome === 'recorded' || outcome === 'counted'))
    await appendStandardFinished(events, event.detail, { warn });
}
