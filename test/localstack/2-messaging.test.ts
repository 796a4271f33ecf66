import { DescribeAlarmsCommand } from '@aws-sdk/client-cloudwatch';
import {
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
} from '@aws-sdk/client-sqs';
import { describe, expect, it } from 'vitest';
import { agent, api, cloudWatch, deadLetterQueueUrl, eventually, sqs } from './support.ts';

/**
 * Messaging on the deployed stack: the API's router puts envelopes on the agents' SQS queues,
 * the event source mappings deliver them to the agents' functions, replies come back on the
 * API's reply queue, broadcasts go through the EventBridge bus and the rules to the queues of the
 * agents they are meant for, and what can never be processed ends in the dead-letter queue.
 */
const processed = async (agentId: string) => (await agent(agentId)).metrics.requestsProcessed;

describe('direct messages', () => {
  it('request-response: delivered by the queue’s event source mapping, answered on the reply queue', async () => {
    const { status, body } = await api<{
      response: { type: string; from: string; payload: { keywords: string[] } };
    }>('POST', '/messages', {
      to: 'keyword-extractor',
      payload: { text: 'Queues decouple producers from consumers; queues absorb bursts.' },
      wait: true,
      timeout: 20,
    });
    expect(status).toBe(200);
    expect(body.response).toMatchObject({ type: 'response', from: 'keyword-extractor' });
    expect(body.response.payload.keywords).toContain('queues');
  });

  it('a queued message (202) reaches the agent, which records it', async () => {
    const before = await processed('sentiment-analyzer');
    const { status, body } = await api<{ messageId: string; agentId: string }>(
      'POST',
      '/messages',
      { to: 'sentiment-analyzer', payload: { text: 'A good, helpful answer.' } },
    );
    expect(status).toBe(202);
    expect(body.agentId).toBe('sentiment-analyzer');
    await eventually('the agent to record the message', async () =>
      (await processed('sentiment-analyzer')) > before ? true : undefined,
    );
  });

  it('a message to an unknown agent is refused with 404 and queues nothing', async () => {
    const { status, body } = await api('POST', '/messages', { to: 'nobody-here', payload: {} });
    expect(status).toBe(404);
    expect(body).toMatchObject({ error: { code: 'NOT_FOUND' } });
  });
});

describe('broadcasts', () => {
  it('go through the EventBridge rules to the holders of the capability only', async () => {
    const ids = ['keyword-extractor', 'summarizer', 'flaky-summarizer', 'fact-finder'];
    const before = Object.fromEntries(
      await Promise.all(ids.map(async (id) => [id, await processed(id)] as const)),
    );
    const { status } = await api('POST', '/broadcasts', {
      to: { capability: 'extractive-summarization' },
      payload: { text: 'Caches are fast. Caches go stale. Invalidation is hard.' },
    });
    expect(status).toBe(202);
    // Both summarizers hold the capability (flaky-summarizer may fail its first try; its queue
    // redelivers, and a failure is recorded too).
    await eventually('both summarizers to receive the broadcast', async () => {
      const [summarizer, flaky] = await Promise.all([
        agent('summarizer'),
        agent('flaky-summarizer'),
      ]);
      const flakySeen = flaky.metrics.requestsProcessed + flaky.metrics.errors;
      return summarizer.metrics.requestsProcessed > (before.summarizer ?? 0) &&
        flakySeen > (before['flaky-summarizer'] ?? 0)
        ? true
        : undefined;
    });
    // The others were not addressed: give a stray delivery time to land, then check.
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    expect(await processed('keyword-extractor')).toBe(before['keyword-extractor']);
    expect(await processed('fact-finder')).toBe(before['fact-finder']);
  });
});

describe('dead letters', () => {
  it('a poison message is parked in the agent’s dead-letter queue with the reason, and its alarm fires', async () => {
    const { card } = await agent('report-writer');
    const queueUrl = card.endpoint.queueUrl ?? '';
    const dlq = deadLetterQueueUrl(queueUrl);
    const marker = `poison-${Date.now()}`;
    await sqs.send(
      new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: `not json ${marker}` }),
    );
    const parked = await eventually('the poison message in the DLQ', async () => {
      const { Messages = [] } = await sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: dlq,
          MaxNumberOfMessages: 10,
          WaitTimeSeconds: 1,
          MessageAttributeNames: ['All'],
        }),
      );
      return Messages.find((m) => m.Body?.includes(marker));
    });
    expect(parked.MessageAttributes?.['mobius-error']?.StringValue).toBe('body is not JSON');
    expect(parked.MessageAttributes?.['mobius-agent']?.StringValue).toBe('report-writer');
    // And it left the agent's own queue.
    const { Attributes } = await sqs.send(
      new GetQueueAttributesCommand({
        QueueUrl: queueUrl,
        AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
      }),
    );
    expect(Number(Attributes?.ApproximateNumberOfMessages)).toBe(0);
    // The agent's dead-letter alarm fires: LocalStack publishes SQS metrics every minute, and
    // CloudWatch evaluates the alarm on them.
    const alarm = await eventually(
      'the dead-letter alarm of report-writer to fire',
      async () => {
        const { MetricAlarms = [] } = await cloudWatch.send(new DescribeAlarmsCommand({}));
        const found = MetricAlarms.find((a) =>
          a.AlarmDescription?.startsWith('Agent report-writer has dead-lettered messages'),
        );
        return found?.StateValue === 'ALARM' ? found : undefined;
      },
      { timeoutMs: 180_000, intervalMs: 5_000 },
    );
    expect(alarm).toMatchObject({
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Namespace: 'AWS/SQS',
      Threshold: 1,
    });
  }, 240_000);
});
