import { DeleteQueueCommand, ReceiveMessageCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import { beforeAll, describe, expect, it } from 'vitest';
import { ConflictError } from '../../functions/core/errors.ts';
import { AgentQueueInspector } from '../../functions/core/messaging/queue-inspector.ts';
import { messagingWorld } from '../support/agents.ts';

/**
 * The queue figures and the dead-letter look on a second SQS implementation, moto server: a
 * message SQS itself dead-letters (its redrive policy, after maxReceiveCount receives), unlike
 * the embedded test's, which the agent parks. moto 5.2.5 has no StartMessageMoveTask, so the
 * redrive is tested on local-aws-sqs (queues.test.ts) and, with the deployed stack, on LocalStack.
 */
type World = Awaited<ReturnType<typeof messagingWorld>>;
let world: World;
let inspector: AgentQueueInspector;

beforeAll(async () => {
  world = await messagingWorld('moto');
  inspector = new AgentQueueInspector({ registry: world.registry, sqs: world.sqs });
});

describe('queue figures and dead letters on moto', () => {
  it('reads waiting and delayed messages, and the dead-letter queue the redrive policy names', async () => {
    const queues = await world.agentWithQueue('moto-figures');
    await world.sqs.send(
      new SendMessageCommand({ QueueUrl: queues.queueUrl, MessageBody: '{"now":true}' }),
    );
    await world.sqs.send(
      new SendMessageCommand({
        QueueUrl: queues.queueUrl,
        MessageBody: '{"later":true}',
        DelaySeconds: 900,
      }),
    );
    const queue = await inspector.queue('moto-figures');
    expect(queue).toEqual({
      agentId: 'moto-figures',
      queueUrl: queues.queueUrl,
      fifo: false,
      depth: 1,
      inFlight: 0,
      delayed: 1,
      oldestMessageAgeSeconds: null,
      deadLetter: { queueUrl: queues.deadLetterQueueUrl, depth: 0 },
      readAt: expect.any(String),
    });
  });

  it('peeks a message SQS dead-lettered, twice, without consuming it', async () => {
    const queues = await world.agentWithQueue('moto-poison', { maxReceiveCount: 1 });
    await world.sqs.send(
      new SendMessageCommand({
        QueueUrl: queues.queueUrl,
        MessageBody: JSON.stringify({ poison: true }),
        MessageAttributes: { origin: { DataType: 'String', StringValue: 'test' } },
      }),
    );
    // A consumer takes it and fails (it comes back at once); the next receive finds it over its
    // maxReceiveCount, and SQS moves it to the dead-letter queue instead of delivering it.
    for (let receive = 0; receive < 3; receive++) {
      await world.sqs.send(
        new ReceiveMessageCommand({ QueueUrl: queues.queueUrl, VisibilityTimeout: 0 }),
      );
      if ((await inspector.queue('moto-poison')).deadLetter?.depth === 1) break;
    }
    const first = await inspector.deadLetters('moto-poison', 10);
    expect(first).toMatchObject({ depth: 1, deadLetterQueueUrl: queues.deadLetterQueueUrl });
    expect(first.messages).toEqual([
      {
        messageId: expect.any(String),
        sentAt: expect.stringMatching(/Z$/),
        receiveCount: expect.any(Number),
        body: { poison: true },
        attributes: { origin: 'test' },
      },
    ]);
    const second = await inspector.deadLetters('moto-poison', 1);
    expect(second.messages.map((m) => m.messageId)).toEqual([first.messages[0]?.messageId]);
    expect((await inspector.queue('moto-poison')).deadLetter?.depth).toBe(1);
  });

  it('answers 409 for a queue that no longer exists, naming it', async () => {
    const queues = await world.agentWithQueue('moto-gone');
    await world.sqs.send(new DeleteQueueCommand({ QueueUrl: queues.queueUrl }));
    const refused = await inspector.queue('moto-gone').catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(ConflictError);
    expect((refused as ConflictError).message).toContain(`queue ${queues.queueUrl}`);
    expect((refused as ConflictError).message).toMatch(/does not exist/);
  });
});
