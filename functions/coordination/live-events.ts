import { Logger } from '@aws-lambda-powertools/logger';
import type { CoordinationPlan, ExecutionInput } from '../../statemachines/plan.ts';
import type { CoordinationEventLog } from '../core/streaming/event-log.ts';
import type { CoordinationEventInput } from '../core/streaming/events.ts';
import { type CoordinationResult, shapeResult } from './result.ts';

/**
 * The one place a coordination's own events are made: `coordination.started` from its plan, and
 * `coordination.finished` from its shaped result. The coordination service (every start, express
 * ends), the embedded engine and the monitor (standard ends) all append through here, so a
 * watcher sees the same shapes whichever of them wrote.
 *
 * Watching is a side show: an append that fails never fails the coordination. It is logged as a
 * warning naming the coordination, and the run goes on.
 */

/** Where a failed append is reported; a Powertools Logger fits. */
export type LiveEventsWarn = (message: string, details: Record<string, unknown>) => void;

const logger = new Logger({
  serviceName: process.env.POWERTOOLS_SERVICE_NAME || 'mobius-coordinator',
});
const defaultWarn: LiveEventsWarn = (message, details) => logger.warn(message, details);

export function startedEvent(plan: CoordinationPlan): CoordinationEventInput {
  return {
    type: 'coordination.started',
    pattern: plan.pattern,
    mode: plan.mode,
    steps: plan.steps.map((step) => ({
      stepId: step.id,
      agentId: step.candidates[0]?.agentId ?? 'unknown',
    })),
  };
}

/** The result as GET /coordinations/{id} answers it (JSON: what is undefined is left out). */
export function finishedEvent(result: CoordinationResult): CoordinationEventInput {
  return {
    type: 'coordination.finished',
    status: result.status,
    result: JSON.parse(JSON.stringify(result)),
  };
}

/**
 * The result of a run that stopped with an error after it had started (the API stopped waiting,
 * Step Functions refused the start): failed, naming the error, so that whoever watches the run
 * sees it end. Every `coordination.started` is followed by a `coordination.finished`.
 */
export function abandonedResult(
  input: ExecutionInput,
  error: unknown,
  totalMs: number,
): CoordinationResult {
  const name = error instanceof Error ? error.name : 'Error';
  const message = error instanceof Error ? error.message : String(error);
  return shapeResult(input, { status: 'FAILED', error: name, cause: message }, totalMs);
}

/** Appends `event` to the coordination's log, when there is one; true when it was appended. */
export async function appendLive(
  events: CoordinationEventLog | undefined,
  coordinationId: string,
  event: CoordinationEventInput,
  warn: LiveEventsWarn = defaultWarn,
): Promise<boolean> {
  if (events === undefined) return false;
  try {
    await events.append(coordinationId, [event]);
    return true;
  } catch (error) {
    warn(`could not append ${event.type} to the event log of coordination ${coordinationId}`, {
      coordinationId,
      eventType: event.type,
      error,
    });
    return false;
  }
}

/**
 * Appends `coordination.finished` with the result. A result the log refuses (a result larger than
 * one event may be, a write that failed twice in a row) is followed by a slim one — status, errors
 * and timings without outputs — so that watchers still see the run end and how.
 */
export async function appendFinished(
  events: CoordinationEventLog | undefined,
  result: CoordinationResult,
  warn: LiveEventsWarn = defaultWarn,
): Promise<boolean> {
  if (await appendLive(events, result.coordinationId, finishedEvent(result), warn)) return true;
  if (events === undefined) return false;
  return appendLive(events, result.coordinationId, slimFinishedEvent(result), warn);
}

/** The finished event without outputs, for a result the log would not take whole. */
export function slimFinishedEvent(result: CoordinationResult): CoordinationEventInput {
  return {
    type: 'coordination.finished',
    status: result.status,
    result: JSON.parse(
      JSON.stringify({
        coordinationId: result.coordinationId,
        pattern: result.pattern,
        mode: result.mode,
        status: result.status,
        degraded: result.degraded,
        steps: result.steps.map(({ output: _output, ...step }) => step),
        errors: result.errors.map((e) => ({ ...e, cause: e.cause?.slice(0, 1000) ?? null })),
        timings: result.timings,
        outputOmitted:
          result.mode === 'standard'
            ? 'The full result did not fit the event log: GET /coordinations/{id} answers it.'
            : 'The full result did not fit the event log: the POST /coordinations that ran it answered it.',
      }),
    ),
  };
}
