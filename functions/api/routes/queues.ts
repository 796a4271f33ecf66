import { sharedSqsClient } from '../../core/aws/sqs.ts';
import {
  AgentQueueInspector,
  deadLettersQuerySchema,
} from '../../core/messaging/queue-inspector.ts';
import { parseWith } from '../../core/validation.ts';
import { callerIn, requireOperator } from '../caller.ts';
import type { ApiDependencies } from '../dependencies.ts';
import { type ApiEvent, json, pathParameter, query } from '../http.ts';

export {
  agentQueueSchema,
  deadLetterMessageSchema,
  deadLettersQuerySchema,
  deadLettersSchema,
  redriveSchema,
} from '../../core/messaging/queue-inspector.ts';

/**
 * The routes' inspector, made at the first request: the SQS client is the one the dependencies
 * name, else the process's shared one (which AWS_ENDPOINT_URL points where it must).
 */
function inspectorFor(deps: ApiDependencies): () => AgentQueueInspector {
  let inspector: AgentQueueInspector | undefined;
  return () => {
    inspector ??= new AgentQueueInspector({
      registry: deps.registry,
      sqs: deps.sqs ?? sharedSqsClient(),
      ...(deps.oldestMessageAge === undefined ? {} : { oldestMessageAge: deps.oldestMessageAge }),
      ...(deps.logger === undefined ? {} : { logger: deps.logger }),
    });
    return inspector;
  };
}

/** GET /agents/{id}/queue (operators): depth, in flight, delayed, oldest message's age, DLQ depth. */
export const agentQueue = (deps: ApiDependencies) => {
  const inspector = inspectorFor(deps);
  return async (event: ApiEvent) => {
    // Before anything is read: a refusal tells a stranger nothing about which agents exist.
    requireOperator(callerIn(deps, event), "read agents' queues");
    return json(200, await inspector().queue(pathParameter(event, 'id')));
  };
};

/** GET /agents/{id}/dead-letters?limit=1..10 (operators): a look that consumes nothing. */
export const deadLetters = (deps: ApiDependencies) => {
  const inspector = inspectorFor(deps);
  return async (event: ApiEvent) => {
    requireOperator(callerIn(deps, event), "read agents' dead letters");
    const { limit } = parseWith(deadLettersQuerySchema, query(event), 'dead-letter query');
    return json(200, await inspector().deadLetters(pathParameter(event, 'id'), limit));
  };
};

/** POST /agents/{id}/dead-letters/redrive (operators): 202, SQS moves them in the background. */
export const redriveDeadLetters = (deps: ApiDependencies) => {
  const inspector = inspectorFor(deps);
  return async (event: ApiEvent) => {
    requireOperator(callerIn(deps, event), "redrive agents' dead letters");
    return json(202, await inspector().redrive(pathParameter(event, 'id')));
  };
};
