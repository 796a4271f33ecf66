import { GetQueueAttributesCommand, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { AgentQueueInspector } from '../../functions/core/messaging/queue-inspector.ts';
import type { AgentRecord } from '../../functions/core/registry/agent-registry.ts';

/**
 * Looking at dead letters against SQS's approximate figures: the depth GetQueueAttributes answers
 * may lag letters parked in the last minute (AWS says it may take a minute to settle), so the
 * look must not take it at its word.
 */
const sqs = mockClient(SQSClient);

const QUEUE_URL = 'https://sqs.eu-west-1.amazonaws.com/123456789012/summarizer';
const DLQ_URL = 'https://sqs.eu-west-1.amazonaws.com/123456789012/summarizer-dlq';

const inspector = new AgentQueueInspector({
  registry: {
    get: async (agentId: string) =>
      ({ card: { agentId, endpoint: { queueUrl: QUEUE_URL } } }) as unknown as AgentRecord,
  },
  sqs: new SQSClient({ region: 'eu-west-1' }),
});

function deadLetterDepth(depth: number): void {
  sqs.on(GetQueueAttributesCommand, { QueueUrl: QUEUE_URL }).resolves({
    Attributes: {
      QueueArn: 'arn:aws:sqs:eu-west-1:123456789012:summarizer',
      ApproximateNumberOfMessages: '0',
      RedrivePolicy: JSON.stringify({
        deadLetterTargetArn: 'arn:aws:sqs:eu-west-1:123456789012:summarizer-dlq',
        maxReceiveCount: 5,
      }),
    },
  });
  sqs
    .on(GetQueueAttributesCommand, { QueueUrl: DLQ_URL })
    .resolves({ Attributes: { ApproximateNumberOfMessages: String(depth) } });
}

const parked = (n: number) =>
  Array.from({ length: n }, (_, i) => ({
    MessageId: `m${i}`,
    Body: JSON.stringify({ n: i }),
    Attributes: { SentTimestamp: '1893456000000', ApproximateReceiveCount: '1' },
  }));

describe('AgentQueueInspector.deadLetters', () => {
  beforeEach(() => sqs.reset());

  it('lists letters parked since the depth was counted: a depth of 0 still receives, up to the limit', async () => {
    deadLetterDepth(0);
    sqs.on(ReceiveMessageCommand).resolves({ Messages: parked(3) });
    const letters = await inspector.deadLetters('summarizer', 10);
    expect(letters.depth).toBe(0); // as read
    expect(letters.messages.map((m) => m.messageId)).toEqual(['m0', 'm1', 'm2']);
    expect(sqs.commandCalls(ReceiveMessageCommand)[0]?.args[0].input).toMatchObject({
      QueueUrl: DLQ_URL,
      MaxNumberOfMessages: 10,
      VisibilityTimeout: 0,
    });
  });

  it('asks for the limit, not the stale depth: 5 letters where the depth still says 1', async () => {
    deadLetterDepth(1);
    sqs.on(ReceiveMessageCommand).resolves({ Messages: parked(5) });
    const letters = await inspector.deadLetters('summarizer', 4);
    expect(sqs.commandCalls(ReceiveMessageCommand)[0]?.args[0].input.MaxNumberOfMessages).toBe(4);
    expect(letters.messages).toHaveLength(4);
  });

  it('answers an empty list when the dead-letter queue is empty', async () => {
    deadLetterDepth(0);
    sqs.on(ReceiveMessageCommand).resolves({});
    expect((await inspector.deadLetters('summarizer', 10)).messages).toEqual([]);
  });
});
