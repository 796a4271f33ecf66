import { QueueDoesNotExist, ResourceNotFoundException, type SQSClient } from '@aws-sdk/client-sqs';
import * as z from 'zod';
import { CapacityExceededError, ConflictError, ForbiddenError } from '../errors.ts';
import type { AgentRegistry } from '../registry/agent-registry.ts';
import { latestMove, MAX_PEEK, peekQueue, startMove } from './dead-letters.ts';
import { inspectQueue, type QueueState } from './queue-figures.ts';

/**
 * How long the oldest message of a queue has waited, in seconds; null when unknown. It is not a
 * queue attribute: on AWS it is the CloudWatch metric ApproximateAgeOfOldestMessage
 * (oldest-message-age.ts).
 */
export interface OldestMessageAge {
  seconds(queue: { readonly queueUrl: string; readonly queueArn: string }): Promise<number | null>;
}

/** GET /agents/{id}/queue. */
export const agentQueueSchema = z.object({
  agentId: z.string(),
  queueUrl: z.string(),
  fifo: z.boolean(),
  depth: z.int().min(0),
  inFlight: z.int().min(0),
  delayed: z.int().min(0),
  /** null: unknown (no reader, as in the embedded runtime, or no recent datapoint). */
  oldestMessageAgeSeconds: z.number().min(0).nullable(),
  deadLetter: z.object({ queueUrl: z.string(), depth: z.int().min(0) }).nullable(),
  readAt: z.iso.datetime(),
});
export type AgentQueue = z.output<typeof agentQueueSchema>;

export const deadLetterMessageSchema = z.object({
  messageId: z.string(),
  sentAt: z.iso.datetime().nullable(),
  receiveCount: z.int().min(0),
  body: z.unknown(),
  attributes: z.record(z.string(), z.string()),
});

/** GET /agents/{id}/dead-letters. */
export const deadLettersSchema = z.object({
  agentId: z.string(),
  deadLetterQueueUrl: z.string(),
  depth: z.int().min(0),
  messages: z.array(deadLetterMessageSchema),
});
export type DeadLetters = z.output<typeof deadLettersSchema>;

/** The query of GET /agents/{id}/dead-letters. */
export const deadLettersQuerySchema = z.strictObject({
  limit: z.coerce.number().int().min(1).max(MAX_PEEK).default(MAX_PEEK),
});

/** POST /agents/{id}/dead-letters/redrive (202). */
export const redriveSchema = z.object({
  agentId: z.string(),
  taskHandle: z.string().nullable(),
  source: z.string(),
  destination: z.string(),
  approximateMessagesToMove: z.int().min(0).nullable(),
});
export type Redrive = z.output<typeof redriveSchema>;

export interface QueueInspectorOptions {
  readonly registry: Pick<AgentRegistry, 'get'>;
  readonly sqs: SQSClient;
  /** @default none: every queue's oldestMessageAgeSeconds is null */
  readonly oldestMessageAge?: OldestMessageAge;
  /** Where a failed age reading is reported (the answer says null). */
  readonly logger?: { warn(message: string, ...extra: unknown[]): void };
}

/**
 * What an operator sees of an agent's queue and does with its dead letters: the queue's figures,
 * a look at the dead letters that leaves them where they are, and a redrive moving them back to
 * the agent's queue. The agent's card names the queue; its dead-letter queue is the one the
 * queue's redrive policy names. SQS refusals become domain errors naming the queue: no grant on
 * it (a queue this deployment does not own) is a 403, a queue gone or a move already running a
 * 409.
 */
export class AgentQueueInspector {
  readonly #options: QueueInspectorOptions;

  constructor(options: QueueInspectorOptions) {
    this.#options = options;
  }

  async queue(agentId: string): Promise<AgentQueue> {
    const queueUrl = await this.#queueUrlOf(agentId);
    const state = await this.#inspect(agentId, queueUrl);
    return {
      agentId,
      queueUrl,
      fifo: state.fifo,
      depth: state.depth,
      inFlight: state.inFlight,
      delayed: state.delayed,
      oldestMessageAgeSeconds: await this.#oldestAge(state),
      deadLetter:
        state.deadLetter === null
          ? null
          : { queueUrl: state.deadLetter.queueUrl, depth: state.deadLetter.depth },
      readAt: new Date(state.readAt).toISOString(),
    };
  }

  /**
   * Up to `limit` (1–10) dead letters, looked at without being consumed. The receive is made
   * whatever the dead-letter queue's depth reads: that figure is approximate and lags letters
   * parked in the last minute or so (see peekQueue). `depth` is reported as read.
   */
  async deadLetters(agentId: string, limit: number): Promise<DeadLetters> {
    const queueUrl = await this.#queueUrlOf(agentId);
    const dlq = deadLetterOf(agentId, await this.#inspect(agentId, queueUrl));
    const messages = await peekQueue(this.#options.sqs, dlq.queueUrl, { limit }).catch(
      (error: unknown) => {
        throw refusal(error, agentId, dlq.queueUrl, 'receive from');
      },
    );
    return { agentId, deadLetterQueueUrl: dlq.queueUrl, depth: dlq.depth, messages };
  }

  /**
   * Starts moving every dead letter back to the agent's queue (SQS StartMessageMoveTask). An empty
   * dead-letter queue is no error: its depth is approximate, so the task starts anyway and moves
   * whatever is there, and the answer says how many SQS counted (0).
   */
  async redrive(agentId: string): Promise<Redrive> {
    const queueUrl = await this.#queueUrlOf(agentId);
    const state = await this.#inspect(agentId, queueUrl);
    const dlq = deadLetterOf(agentId, state);
    const move = { sourceArn: dlq.queueArn, destinationArn: state.queueArn };
    const { sqs } = this.#options;
    try {
      const task = await startMove(sqs, move);
      return {
        agentId,
        taskHandle: task.taskHandle,
        source: move.sourceArn,
        destination: move.destinationArn,
        approximateMessagesToMove: task.approximateMessagesToMove,
      };
    } catch (error) {
      const mapped = refusal(error, agentId, dlq.queueUrl, 'redrive');
      if (mapped !== error || !isClientFault(error)) throw mapped;
      // SQS refused the move itself: most often because one is already running (one per source
      // queue at a time). Its message says why; the running task's progress says how far it got.
      const running = await latestMove(sqs, move.sourceArn).catch(() => undefined);
      throw new ConflictError(
        `SQS refused to start moving the dead letters of agent ${agentId}: ${(error as Error).message}`,
        {
          agentId,
          deadLetterQueueUrl: dlq.queueUrl,
          ...(running?.Status === 'RUNNING'
            ? {
                runningTask: {
                  taskHandle: running.TaskHandle ?? null,
                  destination: running.DestinationArn ?? null,
                  approximateMessagesMoved: running.ApproximateNumberOfMessagesMoved ?? null,
                  approximateMessagesToMove: running.ApproximateNumberOfMessagesToMove ?? null,
                  startedAt:
                    running.StartedTimestamp === undefined
                      ? null
                      : new Date(running.StartedTimestamp).toISOString(),
                },
              }
            : {}),
        },
        { cause: error },
      );
    }
  }

  async #queueUrlOf(agentId: string): Promise<string> {
    const record = await this.#options.registry.get(agentId);
    const { queueUrl } = record.card.endpoint;
    if (queueUrl === undefined)
      throw new ConflictError(
        `Agent ${agentId} has no queue: its card's endpoint names no queueUrl (it is reached through its Lambda function only).`,
        { agentId },
      );
    return queueUrl;
  }

  async #inspect(agentId: string, queueUrl: string): Promise<QueueState> {
    try {
      return await inspectQueue(this.#options.sqs, queueUrl);
    } catch (error) {
      throw refusal(error, agentId, queueUrl, 'read');
    }
  }

  async #oldestAge(state: QueueState): Promise<number | null> {
    const reader = this.#options.oldestMessageAge;
    if (reader === undefined) return null;
    try {
      return await reader.seconds({ queueUrl: state.queueUrl, queueArn: state.queueArn });
    } catch (error) {
      this.#options.logger?.warn('the age of the oldest message could not be read', {
        queueUrl: state.queueUrl,
        error,
      });
      return null;
    }
  }
}

function deadLetterOf(agentId: string, state: QueueState): NonNullable<QueueState['deadLetter']> {
  if (state.deadLetter === null)
    throw new ConflictError(
      `Agent ${agentId}'s queue ${state.queueUrl} has no dead-letter queue (its redrive policy names none).`,
      { agentId, queueUrl: state.queueUrl },
    );
  return state.deadLetter;
}

function isClientFault(error: unknown): boolean {
  return (error as { $fault?: string } | undefined)?.$fault === 'client';
}

/**
 * An SQS error as the domain error it means for the caller, or the error itself when it means
 * nothing more (a 500). On AWS the API function's role decides which queues it may touch: those
 * of the agents its stack deploys.
 */
function refusal(error: unknown, agentId: string, queueUrl: string, action: string): unknown {
  if (!(error instanceof Error)) return error;
  const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
  if (/AccessDenied/.test(error.name) || status === 403)
    return new ForbiddenError(
      `The API may not ${action} ${queueUrl}: its role has no grant on that queue. It is granted the queues of the agents its stack deploys (MobiusCoordinator's agents, addAgent).`,
      { agentId, queueUrl },
      { cause: error },
    );
  if (
    error instanceof QueueDoesNotExist ||
    error instanceof ResourceNotFoundException ||
    error.name === 'AWS.SimpleQueueService.NonExistentQueue'
  )
    return new ConflictError(
      `Agent ${agentId}'s queue ${queueUrl} (or its dead-letter queue) does not exist: deploy the agent again, or register it with its current queue.`,
      { agentId, queueUrl },
      { cause: error },
    );
  if (error.name === 'RequestThrottled' || error.name === 'ThrottlingException')
    return new CapacityExceededError(
      `SQS is throttling requests on ${queueUrl}; try again shortly.`,
      { agentId, queueUrl },
      { cause: error },
    );
  return error;
}
