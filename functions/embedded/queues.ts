import { CreateQueueCommand, GetQueueAttributesCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { agentQueueNames, QUEUE_SETTINGS } from '../core/messaging/queue-settings.ts';

export interface AgentQueues {
  readonly queueUrl: string;
  readonly queueArn: string;
  readonly deadLetterQueueUrl: string;
  readonly deadLetterQueueArn: string;
}

async function createQueue(
  sqs: SQSClient,
  name: string,
  attributes: Record<string, string>,
): Promise<{ url: string; arn: string }> {
  const { QueueUrl } = await sqs.send(
    new CreateQueueCommand({ QueueName: name, Attributes: attributes }),
  );
  if (QueueUrl === undefined) throw new Error(`CreateQueue returned no URL for ${name}`);
  const { Attributes } = await sqs.send(
    new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ['QueueArn'] }),
  );
  const arn = Attributes?.QueueArn;
  if (arn === undefined) throw new Error(`queue ${name} has no ARN`);
  return { url: QueueUrl, arn };
}

/**
 * An agent's queue and its dead-letter queue with the project's redrive settings, on an SQS
 * emulator. (On AWS the CDK Agent construct creates them.)
 */
export async function createAgentQueues(
  sqs: SQSClient,
  agentId: string,
  options: { fifo?: boolean; maxReceiveCount?: number; visibilityTimeoutSeconds?: number } = {},
): Promise<AgentQueues> {
  const fifo = options.fifo ?? false;
  const names = agentQueueNames(agentId, fifo);
  const fifoAttributes: Record<string, string> = fifo ? { FifoQueue: 'true' } : {};
  const dlq = await createQueue(sqs, names.deadLetter, {
    ...fifoAttributes,
    MessageRetentionPeriod: String(QUEUE_SETTINGS.deadLetterRetentionSeconds),
  });
  const queue = await createQueue(sqs, names.queue, {
    ...fifoAttributes,
    // As on AWS (the Agent construct): EventBridge targets a FIFO queue only with content-based
    // deduplication.
    ...(fifo ? { ContentBasedDeduplication: 'true' } : {}),
    VisibilityTimeout: String(options.visibilityTimeoutSeconds ?? 30),
    RedrivePolicy: JSON.stringify({
      deadLetterTargetArn: dlq.arn,
      maxReceiveCount: options.maxReceiveCount ?? QUEUE_SETTINGS.maxReceiveCount,
    }),
  });
  return {
    queueUrl: queue.url,
    queueArn: queue.arn,
    deadLetterQueueUrl: dlq.url,
    deadLetterQueueArn: dlq.arn,
  };
}
