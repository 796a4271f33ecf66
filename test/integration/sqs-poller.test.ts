import { randomUUID } from 'node:crypto';
import {
  ChangeMessageVisibilityBatchCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SendMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { LOCAL_CREDENTIALS, LOCAL_REGION } from '../../functions/embedded/dynamodb-engine.ts';
import { type AgentQueues, createAgentQueues } from '../../functions/embedded/queues.ts';
import { SqsPoller } from '../../functions/embedded/sqs-poller.ts';

/**
 * The event-source poller on local-aws-sqs, the embedded runtime's SQS: FIFO order per message
 * group with groups in parallel, the group lock after a failure (which the emulator does not keep),
 * visibility held while a handler runs long, and a stop that abandons hung handlers without losing
 * their messages.
 */
const sqs = new SQSClient({
  endpoint: inject('localSqsEndpoint'),
  region: LOCAL_REGION,
  credentials: LOCAL_CREDENTIALS,
});
const pollers: SqsPoller[] = [];

afterEach(async () => {
  await Promise.all(pollers.splice(0).map((p) => p.stop({ graceMs: 0 })));
});

function queue(fifo: boolean, visibilityTimeoutSeconds = 2): Promise<AgentQueues> {
  return createAgentQueues(sqs, `poller-${randomUUID().slice(0, 8)}`, {
    fifo,
    visibilityTimeoutSeconds,
  });
}

function poller(queues: AgentQueues, handler: (event: SQSEvent) => Promise<unknown>, extra = {}) {
  const p = new SqsPoller({
    sqs,
    queueUrl: queues.queueUrl,
    queueArn: queues.queueArn,
    handler,
    waitSeconds: 1,
    ...extra,
  });
  pollers.push(p);
  return p;
}

/** Sends `bodies` to a FIFO queue in this order, in `group`. */
async function sendInOrder(queueUrl: string, group: string, bodies: string[]): Promise<void> {
  for (let i = 0; i < bodies.length; i += 10) {
    await sqs.send(
      new SendMessageBatchCommand({
        QueueUrl: queueUrl,
        Entries: bodies.slice(i, i + 10).map((body, j) => ({
          Id: String(j),
          MessageBody: body,
          MessageGroupId: group,
          MessageDeduplicationId: `${group}-${body}-${randomUUID()}`,
        })),
      }),
    );
  }
}

async function until(check: () => boolean, what: string, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Messages the queue keeps, in flight or not (local-aws-sqs counts both in this attribute). */
async function stored(queueUrl: string): Promise<number> {
  const { Attributes } = await sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl: queueUrl,
      AttributeNames: ['ApproximateNumberOfMessages'],
    }),
  );
  return Number(Attributes?.ApproximateNumberOfMessages);
}

/** Receives from the queue until a message arrives, at most `ms`. */
async function receiveWithin(queueUrl: string, ms: number): Promise<string[]> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const { Messages = [] } = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: queueUrl,
        MaxNumberOfMessages: 10,
        WaitTimeSeconds: 1,
      }),
    );
    if (Messages.length > 0) return Messages.map((m) => m.Body ?? '');
  }
  return [];
}

describe('SqsPoller on a FIFO queue', () => {
  it('handles different message groups in parallel, each in order', async () => {
    const queues = await queue(true);
    const seen: string[] = [];
    let releaseA: () => void = () => {};
    const aMayGoOn = new Promise<void>((resolve) => {
      releaseA = resolve;
    });
    poller(queues, async (event) => {
      for (const record of event.Records) {
        // Group a's first message waits for all of group b: only parallel groups get past it.
        if (record.body === 'a0') await aMayGoOn;
        seen.push(record.body);
      }
    }).start();
    await sendInOrder(queues.queueUrl, 'a', ['a0', 'a1', 'a2']);
    await sendInOrder(
      queues.queueUrl,
      'b',
      Array.from({ length: 15 }, (_, i) => `b${i}`),
    );
    await until(() => seen.filter((s) => s.startsWith('b')).length === 15, 'group b');
    expect(seen).toEqual(Array.from({ length: 15 }, (_, i) => `b${i}`));
    releaseA();
    await until(() => seen.length === 18, 'group a');
    expect(seen.filter((s) => s.startsWith('a'))).toEqual(['a0', 'a1', 'a2']);
  });

  it('hands out nothing later in a group until its failed message is back, then keeps the order', async () => {
    const queues = await queue(true);
    const handled: number[] = [];
    let failedOnce = false;
    poller(
      queues,
      async (event): Promise<SQSBatchResponse> => {
        // What the agent SDK's FIFO processor does: after a failure, the rest of the batch fails too.
        const failed: string[] = [];
        for (const record of event.Records) {
          if (failed.length === 0 && record.body === '5' && !failedOnce) failedOnce = true;
          else if (failed.length === 0) {
            handled.push(Number(record.body));
            continue;
          }
          failed.push(record.messageId);
        }
        return { batchItemFailures: failed.map((itemIdentifier) => ({ itemIdentifier })) };
      },
      { retryDelaySeconds: 1 },
    ).start();
    await sendInOrder(
      queues.queueUrl,
      'g',
      Array.from({ length: 20 }, (_, i) => String(i)),
    );
    await until(() => handled.length === 20, 'all twenty');
    expect(failedOnce).toBe(true);
    expect(handled).toEqual(Array.from({ length: 20 }, (_, i) => i));
  });

  it('reports a failed return of bounced messages through onError, not as an unhandled rejection', async () => {
    // A long visibility timeout: no heartbeat extension (which also changes visibility) in the test.
    const queues = await queue(true, 30);
    const reset = Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
    // The SQS connection resets on every visibility change: returning messages fails.
    const flaky = {
      send: (command: unknown, options?: unknown) =>
        command instanceof ChangeMessageVisibilityBatchCommand
          ? Promise.reject(reset)
          : sqs.send(command as ReceiveMessageCommand, options as never),
    } as unknown as SQSClient;
    const errors: unknown[] = [];
    const seen: string[] = [];
    poller(
      queues,
      async (event): Promise<SQSBatchResponse> => {
        for (const record of event.Records) seen.push(record.body);
        return {
          batchItemFailures: event.Records.map((r) => ({ itemIdentifier: r.messageId })),
        };
      },
      { sqs: flaky, onError: (error: unknown) => errors.push(error) },
    ).start();
    await sendInOrder(queues.queueUrl, 'g', ['fails']);
    await until(() => seen.includes('fails'), 'the first message to fail');
    await new Promise((resolve) => setTimeout(resolve, 100));
    // Group g is blocked until its failed message is back: this one is bounced, and the bounce fails.
    await sendInOrder(queues.queueUrl, 'g', ['bounced']);
    await until(() => errors.includes(reset), 'the failed bounce to reach onError');
    expect(seen).toEqual(['fails']);
  });

  it('keeps a message invisible while its handler outlasts the visibility timeout', async () => {
    const queues = await queue(true, 1);
    const deliveries: string[] = [];
    poller(queues, async (event) => {
      for (const record of event.Records) {
        deliveries.push(record.body);
        if (record.body === 'slow') await new Promise((resolve) => setTimeout(resolve, 2500));
      }
    }).start();
    await sendInOrder(queues.queueUrl, 'g', ['slow', 'next']);
    await until(() => deliveries.includes('next'), 'the message after the slow one');
    // Redelivery would have happened a second after the receive, while "slow" was still running.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(deliveries).toEqual(['slow', 'next']);
    expect(await stored(queues.queueUrl)).toBe(0);
  });
});

describe('SqsPoller.stop', () => {
  it.each([
    ['standard', false],
    ['FIFO', true],
  ])(
    'abandons a hung handler after the grace period; its message goes back to the %s queue, never deleted',
    async (_, fifo) => {
      const queues = await queue(fifo);
      let entered = 0;
      let release: () => void = () => {};
      const hung = new Promise<void>((resolve) => {
        release = resolve;
      });
      const p = poller(queues, async () => {
        entered++;
        await hung;
      });
      p.start();
      await sqs.send(
        new SendMessageCommand({
          QueueUrl: queues.queueUrl,
          MessageBody: 'stuck',
          ...(fifo ? { MessageGroupId: 'g', MessageDeduplicationId: randomUUID() } : {}),
        }),
      );
      await until(() => entered === 1, 'the handler');
      const started = performance.now();
      await p.stop({ graceMs: 300 });
      const ms = performance.now() - started;
      expect(ms).toBeGreaterThanOrEqual(250);
      expect(ms).toBeLessThan(2000);
      // The handler ending late must not delete what it was abandoned with.
      release();
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(await stored(queues.queueUrl)).toBe(1);
      // Back in the queue: at once, or (if the emulator's own long poll, which outlives the
      // aborted request, picked it again) within a visibility timeout.
      expect(await receiveWithin(queues.queueUrl, 5000)).toEqual(['stuck']);
    },
  );

  it('hands a FIFO lane abandoned by stop() nothing more when its hung handler ends late', async () => {
    const queues = await queue(true);
    const handled: string[] = [];
    let release: () => void = () => {};
    const hung = new Promise<void>((resolve) => {
      release = resolve;
    });
    const p = poller(
      queues,
      async (event) => {
        for (const record of event.Records) {
          handled.push(record.body);
          if (record.body === 'm0') await hung;
        }
      },
      { batchSize: 1 },
    );
    p.start();
    await sendInOrder(queues.queueUrl, 'g', ['m0']);
    await until(() => handled.length === 1, 'the handler');
    // Received while m0's handler hangs: they wait in its lane.
    await sendInOrder(queues.queueUrl, 'g', ['m1', 'm2']);
    await new Promise((resolve) => setTimeout(resolve, 1500));
    await p.stop({ graceMs: 100 });
    // stop() returned m1 and m2 to the queue; the lane must not hand them out as well.
    release();
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(handled).toEqual(['m0']);
    expect(await stored(queues.queueUrl)).toBe(3);
  });

  it('waits for a handler that finishes within the grace period, and deletes its message', async () => {
    const queues = await queue(false);
    let entered = 0;
    let done = 0;
    const p = poller(queues, async () => {
      entered++;
      await new Promise((resolve) => setTimeout(resolve, 300));
      done++;
    });
    p.start();
    await sqs.send(new SendMessageCommand({ QueueUrl: queues.queueUrl, MessageBody: 'quick' }));
    await until(() => entered === 1, 'the handler');
    await p.stop({ graceMs: 2000 });
    expect(done).toBe(1);
    expect(await stored(queues.queueUrl)).toBe(0);
  });
});
