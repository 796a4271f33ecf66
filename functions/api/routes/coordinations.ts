import { MetricUnit } from '@aws-lambda-powertools/metrics';
import * as z from 'zod';
import { CoordinationShedError } from '../../coordination/admission.ts';
import { recordCoordinationOutcome } from '../../coordination/outcome-metrics.ts';
import type { CoordinationResponse } from '../../coordination/service.ts';
import { annotate } from '../../core/aws/tracing.ts';
import { withDeadline } from '../../core/deadline.ts';
import { CapacityExceededError, TimeoutError } from '../../core/errors.ts';
import type { ApiDependencies } from '../dependencies.ts';
import { type ApiEvent, json, parseBody, pathParameter } from '../http.ts';
import { type ErrorBody, statusOf } from '../http-errors.ts';

/**
 * POST /coordinations: express runs answer 200 with the result (502/504 when it failed, the
 * result in `error.details`); standard runs answer 202 with the id to poll.
 */
export const runCoordination = (deps: ApiDependencies) => async (event: ApiEvent) => {
  const body = parseBody(event, z.unknown(), 'coordination request');
  const limit = deps.syncWaitMs;
  const run = () =>
    limit === undefined
      ? deps.coordinations.run(body)
      : withDeadline(
          (signal) => deps.coordinations.run(body, { signal }),
          limit,
          () =>
            new TimeoutError(
              `No result within ${limit / 1000} s, the longest this API waits for an express ` +
                'coordination (API Gateway ends every request at 29 s). The run may still finish in ' +
                'Step Functions, but its result cannot be returned: send long work with ' +
                '"mode": "standard" and poll GET /coordinations/{id}.',
              { waitedMs: limit },
            ),
        );
  let response: CoordinationResponse;
  try {
    response = await run();
  } catch (error) {
    // Shed by admission control: nothing was planned or started, so it is neither started nor
    // failed (the failure rate stays about coordinations that ran); the dashboard and its alarm
    // watch CoordinationsShed instead.
    if (error instanceof CoordinationShedError) {
      deps.metrics?.addMetric('CoordinationsShed', MetricUnit.Count, 1);
      throw error;
    }
    // A refused request (4xx: invalid, unknown agent, too large) started nothing. A 5xx (no agent
    // available, Step Functions at capacity, no result in time, our bug) is a coordination that
    // failed, and the failure-rate alarm must see it.
    if (statusOf(error) >= 500) {
      deps.metrics?.addMetric('CoordinationsStarted', MetricUnit.Count, 1);
      deps.metrics?.addMetric('CoordinationsFailed', MetricUnit.Count, 1);
    }
    // Step Functions refused the start (quota or throttling), whichever machine: its own alarm.
    if (error instanceof CapacityExceededError)
      deps.metrics?.addMetric('CoordinationsThrottled', MetricUnit.Count, 1);
    throw error;
  }
  // Started counts every run; express outcomes are recorded here, standard ones when Step
  // Functions reports them (functions/monitor/coordination-events.ts).
  deps.metrics?.addMetric('CoordinationsStarted', MetricUnit.Count, 1);
  if (response.state === 'completed' && deps.metrics)
    recordCoordinationOutcome(deps.metrics, response.result);
  return respond(response, true);
};

/** GET /coordinations/{id}: 200 with the status or the result, whatever the result says. */
export const getCoordination = (deps: ApiDependencies) => async (event: ApiEvent) => {
  const coordinationId = pathParameter(event, 'id');
  annotate({ coordinationId });
  return respond(await deps.coordinations.get(coordinationId), false);
};

function respond(response: CoordinationResponse, failuresAreErrors: boolean) {
  if (response.state === 'running') {
    return json(failuresAreErrors ? 202 : 200, {
      coordinationId: response.coordinationId,
      status: 'running',
      startedAt: response.startedAt,
      links: { self: `/coordinations/${encodeURIComponent(response.coordinationId)}` },
    });
  }
  const { result } = response;
  if (!failuresAreErrors || result.status !== 'failed') return json(200, result);
  const first = result.errors[0];
  const timedOut =
    first?.error === 'Mobius.CoordinationTimeout' || first?.error === 'States.Timeout';
  const body: ErrorBody = {
    error: {
      code: timedOut ? 'TIMEOUT' : 'AGENT_FAILED',
      message: first
        ? `Coordination ${result.coordinationId} failed: ${first.agentId ? `agent ${first.agentId} at step ${first.stepId}: ` : ''}${first.error}${first.cause ? ` (${first.cause})` : ''}`
        : `Coordination ${result.coordinationId} failed.`,
      details: { result },
    },
  };
  return json(timedOut ? 504 : 502, body);
}
