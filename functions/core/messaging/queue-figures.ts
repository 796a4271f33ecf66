import { GetQueueAttributesCommand, type SQSClient } from '@aws-sdk/client-sqs';
import * as z from 'zod';
import type { QueueFigures } from '../model/utilisation.ts';

/** An agent queue as SQS reports it now, with its dead-letter queue's address and depth. */
export interface QueueState {
  readonly queueUrl: string;
  readonly queueArn: string;
  readonly fifo: boolean;
  /** ApproximateNumberOfMessages: waiting to be received. */
  readonly depth: number;
  /** ApproximateNumberOfMessagesNotVisible: received and being handled (or about to reappear). */
  readonly inFlight: number;
  /** ApproximateNumberOfMessagesDelayed: sent with a delay that has not passed yet. */
  readonly delayed: number;
  /** The queue's redrive policy's target; null when the queue has none. */
  readonly deadLetter: {
    readonly queueUrl: string;
    readonly queueArn: string;
    /** ApproximateNumberOfMessages of the dead-letter queue. */
    readonly depth: number;
  } | null;
  /** When the figures were asked for (epoch ms). */
  readonly readAt: number;
}

const redrivePolicySchema = z.object({ deadLetterTargetArn: z.string().min(1) });

/**
 * Reads an agent queue: one GetQueueAttributes on the queue, one on its dead-letter queue when its
 * redrive policy names one. SQS wants a dead-letter queue in the queue's own account and region,
 * so its URL is the queue's with the last path segment swapped for the DLQ's name (true of the
 * embedded runtime's, moto's and LocalStack's URLs too).
 */
export async function inspectQueue(sqs: SQSClient, queueUrl: string): Promise<QueueState> {
  const readAt = Date.now();
  const { Attributes = {} } = await sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl: queueUrl,
      AttributeNames: [
        'QueueArn',
        'ApproximateNumberOfMessages',
        'ApproximateNumberOfMessagesNotVisible',
        'ApproximateNumberOfMessagesDelayed',
        'RedrivePolicy',
      ],
    }),
  );
  const queueArn = Attributes.QueueArn;
  if (queueArn === undefined)
    throw new Error(`GetQueueAttributes answered no QueueArn for ${queueUrl}`);
  const dlqArn = deadLetterTargetOf(Attributes.RedrivePolicy);
  let deadLetter: QueueState['deadLetter'] = null;
  if (dlqArn !== undefined) {
    const dlqUrl = `${queueUrl.slice(0, queueUrl.lastIndexOf('/') + 1)}${arnName(dlqArn)}`;
    const dlq = await sqs.send(
      new GetQueueAttributesCommand({
        QueueUrl: dlqUrl,
        AttributeNames: ['ApproximateNumberOfMessages'],
      }),
    );
    deadLetter = {
      queueUrl: dlqUrl,
      queueArn: dlqArn,
      depth: count(dlq.Attributes?.ApproximateNumberOfMessages),
    };
  }
  return {
    queueUrl,
    queueArn,
    // SQS requires the .fifo suffix of every FIFO queue's name (and of no other).
    fifo: queueUrl.endsWith('.fifo'),
    depth: count(Attributes.ApproximateNumberOfMessages),
    inFlight: count(Attributes.ApproximateNumberOfMessagesNotVisible),
    delayed: count(Attributes.ApproximateNumberOfMessagesDelayed),
    deadLetter,
    readAt,
  };
}

/**
 * The figures the health monitor hands an agent in its ping and stores in the registry
 * (QueueFigures): `inspectQueue`'s, in the registry's layout.
 */
export async function readQueue(sqs: SQSClient, queueUrl: string): Promise<QueueFigures> {
  const state = await inspectQueue(sqs, queueUrl);
  return {
    depth: state.depth,
    inFlight: state.inFlight,
    readAt: state.readAt,
    ...(state.deadLetter === null ? {} : { deadLetters: state.deadLetter.depth }),
  };
}

/** A redrive policy's dead-letter queue ARN; undefined when there is none (or it is unreadable). */
function deadLetterTargetOf(policy: string | undefined): string | undefined {
  if (policy === undefined) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(policy);
  } catch {
    return undefined;
  }
  const redrive = redrivePolicySchema.safeParse(parsed);
  return redrive.success ? redrive.data.deadLetterTargetArn : undefined;
}

/** The resource name at the end of an ARN (`arn:aws:sqs:region:account:name` → `name`). */
function arnName(arn: string): string {
  return arn.split(':').at(-1) ?? '';
}

/** An approximate count as SQS writes it (a decimal string); 0 when absent. */
function count(value: string | undefined): number {
  const n = Number(value ?? 0);
  return Number.isSafeInteger(n) && n >= 0 ? n : 0;
}
