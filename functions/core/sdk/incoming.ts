import type { EventBridgeEvent, SQSEvent } from 'aws-lambda';
import * as z from 'zod';
import { type Envelope, envelopeSchema } from '../messaging/envelope.ts';
import { PING_KIND, TASK_KIND, type TaskRequest, taskRequestSchema } from '../model/task.ts';
import { type QueueFigures, queueFiguresSchema } from '../model/utilisation.ts';
import { toFieldIssues } from '../validation.ts';

/**
 * Everything a Mobius agent Lambda can be invoked with, recognised by shape:
 * - a coordination task (direct invocation by an Express state machine, or an SQS message carrying
 *   a task token from a Standard one);
 * - a message envelope (a synchronous request, or an SQS message);
 * - an EventBridge event (delivered directly, or through a rule whose target is the agent's queue);
 * - a health-monitor ping;
 * - an SQS batch of any of the above.
 */
export type Incoming =
  | { readonly kind: 'task'; readonly task: TaskRequest }
  | { readonly kind: 'envelope'; readonly envelope: Envelope }
  | { readonly kind: 'ping'; readonly queue?: QueueFigures }
  | { readonly kind: 'sqs-batch'; readonly event: SQSEvent }
  | { readonly kind: 'unrecognised'; readonly reason: string };

const eventBridgeShape = z.object({
  'detail-type': z.string(),
  source: z.string(),
  detail: z.object({ message: z.unknown() }),
});

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

const unrecognised = (reason: string): Incoming => ({ kind: 'unrecognised', reason });

/** Classifies a Lambda event. */
export function classifyEvent(event: unknown): Incoming {
  if (!isObject(event)) return unrecognised('the event is not a JSON object');
  if (
    Array.isArray(event.Records) &&
    isObject(event.Records[0]) &&
    event.Records[0].eventSource === 'aws:sqs'
  ) {
    return { kind: 'sqs-batch', event: event as unknown as SQSEvent };
  }
  return classifyPayload(event);
}

/** Classifies one message: an invocation payload, or the parsed body of an SQS record. */
export function classifyPayload(payload: unknown): Incoming {
  if (!isObject(payload)) return unrecognised('the message is not a JSON object');
  if (payload.kind === PING_KIND) {
    // The monitor's reading of the agent's queue, passed on in the heartbeat. Figures that do not
    // parse are left out: a ping is a ping whatever else it carries.
    const queue = queueFiguresSchema.safeParse(payload.queue);
    return queue.success ? { kind: 'ping', queue: queue.data } : { kind: 'ping' };
  }
  if (payload.kind === TASK_KIND) {
    const task = taskRequestSchema.safeParse(payload);
    return task.success
      ? { kind: 'task', task: task.data }
      : unrecognised(`malformed task: ${describe(task.error)}`);
  }
  const bridged = eventBridgeShape.safeParse(payload);
  const candidate = bridged.success
    ? (payload as unknown as EventBridgeEvent<string, { message: unknown }>).detail.message
    : payload;
  const envelope = envelopeSchema.safeParse(candidate);
  return envelope.success
    ? { kind: 'envelope', envelope: envelope.data }
    : unrecognised(
        `not a task, ping, message envelope or Mobius event: ${describe(envelope.error)}`,
      );
}

function describe(error: z.ZodError): string {
  return toFieldIssues(error)
    .slice(0, 3)
    .map((issue) => `${issue.path || '(root)'}: ${issue.message}`)
    .join('; ');
}
