import { randomUUID } from 'node:crypto';
import { PutEventsCommand } from '@aws-sdk/client-eventbridge';
import {
  DeleteQueueCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
} from '@aws-sdk/client-sqs';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  NoAgentAvailableError,
  PayloadTooLargeError,
  ProtocolUnsupportedError,
  TimeoutError,
} from '../../functions/core/errors.ts';
import {
  FatalAgentError,
  RetryableAgentError,
} from '../../functions/core/messaging/agent-errors.ts';
import {
  createMessage,
  deserialize,
  type Envelope,
} from '../../functions/core/messaging/envelope.ts';
import { matchesPattern } from '../../functions/core/messaging/event-pattern.ts';
import { ReplyListener } from '../../functions/core/messaging/reply-listener.ts';
import { MessageRouter } from '../../functions/core/messaging/router.ts';
import {
  busEntryOf,
  EVENT_SOURCE,
  ruleName,
} from '../../functions/core/messaging/routing-rules.ts';
import { lambdaContext } from '../../functions/embedded/lambda-context.ts';
import { createAgentQueues } from '../../functions/embedded/queues.ts';
import { SqsPoller } from '../../functions/embedded/sqs-poller.ts';
import { messagingWorld } from '../support/agents.ts';

type World = Awaited<ReturnType<typeof messagingWorld>>;

/** Receives until `expected` bodies arrived or the queue stays empty for `maxPolls` short waits. */
async function drain(
  world: World,
  queueUrl: string,
  expected: number,
  maxPolls = 10,
): Promise<string[]> {
  const bodies: string[] = [];
  for (let idle = 0; idle < maxPolls && bodies.length < expected; ) {
    const { Messages = [] } = await world.sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: queueUrl,
        MaxNumberOfMessages: 10,
        WaitTimeSeconds: 0,
      }),
    );
    bodies.push(...Messages.map((m) => m.Body ?? ''));
    if (Messages.length === 0) {
      idle++;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  return bodies;
}

async function depth(world: World, queueUrl: string): Promise<number> {
  const { Attributes } = await world.sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl: queueUrl,
      AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
    }),
  );
  return (
    Number(Attributes?.ApproximateNumberOfMessages ?? 0) +
    Number(Attributes?.ApproximateNumberOfMessagesNotVisible ?? 0)
  );
}

const direct = (
  to: string,
  payload: Envelope['payload'],
  extra: Partial<Parameters<typeof createMessage>[0]> = {},
) => createMessage({ from: 'tester', to, type: 'request', payload, ...extra });

describe('messaging on moto (SQS, EventBridge) with the registry on dynalite', () => {
  let world: World;
  let router: MessageRouter;

  beforeAll(async () => {
    world = await messagingWorld();
    router = new MessageRouter({
      registry: world.registry,
      eventBusName: world.eventBusName,
      sqs: world.sqs,
      eventBridge: world.eventBridge,
    });
  });

  it('delivers a direct message to the agent queue, byte for byte', async () => {
    const queues = await world.agentWithQueue('direct-1');
    const message = direct('direct-1', {
      text: 'grüße ✓',
      nested: { n: 1.5, list: [1, 'two', null] },
    });
    const receipt = await router.send(message);
    expect(receipt).toMatchObject({ agentId: 'direct-1', queueUrl: queues.queueUrl });
    const [body] = await drain(world, queues.queueUrl, 1);
    expect(deserialize(body ?? '')).toEqual(message);
  });

  it('negotiates the protocol version and refuses agents that share none', async () => {
    await world.agentWithQueue('old-proto', { protocols: [{ name: 'mobius', versions: ['0.9'] }] });
    await expect(router.send(direct('old-proto', {}))).rejects.toBeInstanceOf(
      ProtocolUnsupportedError,
    );
  });

  it('rejects oversized messages before anything is sent', async () => {
    const queues = await world.agentWithQueue('big-1');
    await expect(
      router.send(direct('big-1', { blob: 'x'.repeat(300_000) })),
    ).rejects.toBeInstanceOf(PayloadTooLargeError);
    await expect(
      router.publish([
        createMessage({
          from: 'tester',
          to: '*',
          type: 'broadcast',
          payload: { blob: 'x'.repeat(300_000) },
        }),
      ]),
    ).rejects.toBeInstanceOf(PayloadTooLargeError);
    expect(await depth(world, queues.queueUrl)).toBe(0);
  });

  it('refuses to send while the recipient’s circuit is open', async () => {
    await world.agentWithQueue('tripped');
    for (let i = 0; i < 5; i++)
      await world.registry.recordOutcome('tripped', { ok: false, latencyMs: 1 });
    await expect(router.send(direct('tripped', {}))).rejects.toBeInstanceOf(NoAgentAvailableError);
  });

  it('a registered agent whose queue is gone is unreachable: 503 naming the agent and its queue, counted against its health', async () => {
    const queues = await world.agentWithQueue('vanished');
    await world.sqs.send(new DeleteQueueCommand({ QueueUrl: queues.queueUrl }));
    const error = await router.send(direct('vanished', {})).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NoAgentAvailableError);
    expect((error as NoAgentAvailableError).message).toContain('Agent vanished is unreachable');
    expect((error as NoAgentAvailableError).message).toContain(queues.queueUrl);
    expect((error as NoAgentAvailableError).details).toEqual({
      agentId: 'vanished',
      queueUrl: queues.queueUrl,
    });
    expect((await world.registry.get('vanished')).metrics).toMatchObject({
      requestsProcessed: 1,
      errors: 1,
    });

    // In a batch, the unreachable recipient's messages fail; the others' are sent.
    const reachable = await world.agentWithQueue('still-here');
    const report = await router.sendBatch([
      direct('vanished', { n: 1 }),
      direct('still-here', { n: 2 }),
    ]);
    expect(report.sent).toBe(1);
    expect(report.failed).toEqual([
      expect.objectContaining({
        agentId: 'vanished',
        error: expect.stringContaining('unreachable'),
      }),
    ]);
    expect(await drain(world, reachable.queueUrl, 1)).toHaveLength(1);
  });

  it('a poison message redelivered until dead-lettered does not shut its agent off', async () => {
    const queues = await world.agentWithQueue('poison-only', { maxReceiveCount: 5 });
    const handler = world.agentHandler(
      'poison-only',
      (message) => {
        if ((message.input as { poison?: boolean }).poison)
          throw new RetryableAgentError('bad message');
        return {};
      },
      queues,
    );
    const poller = new SqsPoller({
      sqs: world.sqs,
      queueUrl: queues.queueUrl,
      queueArn: queues.queueArn,
      handler: (e) => handler(e, lambdaContext('poison-only')),
      retryDelaySeconds: 0,
    });
    await router.send(direct('poison-only', { poison: true }));
    for (let p = 0; p < 20 && (await depth(world, queues.deadLetterQueueUrl)) === 0; p++)
      await poller.pollOnce();
    expect(await depth(world, queues.deadLetterQueueUrl)).toBe(1);
    const record = await world.registry.get('poison-only');
    // Five failures seen, one held against the agent: the first delivery's.
    expect(record.metrics.errors).toBe(5);
    expect(record.circuit).toMatchObject({ state: 'closed', consecutiveFailures: 1 });
    await expect(router.send(direct('poison-only', { poison: false }))).resolves.toMatchObject({
      agentId: 'poison-only',
    });
  });

  it('keeps FIFO order per conversation across 1 000 messages', async () => {
    const queues = await world.agentWithQueue('ordered', { fifo: true });
    const conversations = ['c1', 'c2', 'c3', 'c4'];
    const messages = Array.from({ length: 1000 }, (_, i) =>
      direct(
        'ordered',
        { seq: Math.floor(i / conversations.length) },
        { conversationId: conversations[i % conversations.length] as string },
      ),
    );
    const seen = new Map<string, number[]>();
    const handler = world.agentHandler(
      'ordered',
      (message) => {
        const envelope = message.envelope as Envelope;
        const list = seen.get(envelope.conversationId) ?? [];
        list.push((envelope.payload as { seq: number }).seq);
        seen.set(envelope.conversationId, list);
      },
      queues,
    );
    const poller = new SqsPoller({
      sqs: world.sqs,
      queueUrl: queues.queueUrl,
      queueArn: queues.queueArn,
      handler: (e) => handler(e, lambdaContext('ordered')),
      waitSeconds: 1,
    });
    // Consume while sending, as Lambda would: the queue stays short (moto scans it on every call).
    poller.start();
    try {
      const report = await router.sendBatch(messages);
      expect(report).toEqual({ sent: 1000, failed: [] });
      const deadline = Date.now() + 120_000;
      while ([...seen.values()].flat().length < 1000 && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    } finally {
      await poller.stop();
    }
    expect([...seen.values()].flat()).toHaveLength(1000);
    for (const conversation of conversations) {
      expect(seen.get(conversation)).toEqual(Array.from({ length: 250 }, (_, i) => i));
    }
  }, 180_000);

  it('broadcasts reach every queue through real rules, and capability broadcasts only the holders', async () => {
    const agents = {
      alpha: await world.agentWithQueue('bc-alpha', {
        capabilities: [{ name: 'summarize', version: '1.0.0' }],
      }),
      beta: await world.agentWithQueue('bc-beta', {
        capabilities: [{ name: 'translate', version: '1.0.0' }],
      }),
      gamma: await world.agentWithQueue('bc-gamma', {
        capabilities: [{ name: 'summarize', version: '2.0.0' }],
      }),
    };
    for (const id of ['bc-alpha', 'bc-beta', 'bc-gamma']) await router.ensureBroadcastRule(id);

    const everyone = createMessage({
      from: 'tester',
      to: '*',
      type: 'broadcast',
      payload: { note: 'all' },
    });
    const summarizers = createMessage({
      from: 'tester',
      to: { capability: 'summarize' },
      type: 'broadcast',
      payload: { note: 'sum' },
    });
    expect(await router.publish([everyone, summarizers])).toEqual({ published: 2 });

    const notes = async (queueUrl: string, expected: number) =>
      (await drain(world, queueUrl, expected, 5))
        .map((body) => (deserializeBridged(body).payload as { note: string }).note)
        .sort();
    expect(await notes(agents.alpha.queueUrl, 2)).toEqual(['all', 'sum']);
    expect(await notes(agents.beta.queueUrl, 2)).toEqual(['all']);
    expect(await notes(agents.gamma.queueUrl, 2)).toEqual(['all', 'sum']);
  });

  it('delivers subscribed events with filters, exactly as the project’s pattern matcher decides', async () => {
    const queues = await world.agentWithQueue('subscriber', {
      capabilities: [{ name: 'index', version: '1.0.0' }],
    });
    await router.subscribe('subscriber', {
      eventTypes: ['document.indexed', 'document.deleted'],
      filter: { payload: { lang: ['en', { prefix: 'fr' }] } },
    });
    const rule = ruleName('subscriber', 'events');

    const events = [
      createMessage({
        from: 't',
        to: '*',
        type: 'event',
        eventType: 'document.indexed',
        payload: { lang: 'en', i: 0 },
      }),
      createMessage({
        from: 't',
        to: '*',
        type: 'event',
        eventType: 'document.indexed',
        payload: { lang: 'de', i: 1 },
      }),
      createMessage({
        from: 't',
        to: '*',
        type: 'event',
        eventType: 'document.deleted',
        payload: { lang: 'fr-CA', i: 2 },
      }),
      createMessage({
        from: 't',
        to: '*',
        type: 'event',
        eventType: 'document.created',
        payload: { lang: 'en', i: 3 },
      }),
      createMessage({
        from: 't',
        to: { capability: 'index' },
        type: 'event',
        eventType: 'document.indexed',
        payload: { lang: 'en', i: 4 },
      }),
      createMessage({
        from: 't',
        to: { capability: 'other' },
        type: 'event',
        eventType: 'document.indexed',
        payload: { lang: 'en', i: 5 },
      }),
    ];
    await router.publish(events);
    const delivered = (await drain(world, queues.queueUrl, 3, 5))
      .map((body) => (deserializeBridged(body).payload as { i: number }).i)
      .sort();
    expect(delivered).toEqual([0, 2, 4]);

    // The embedded runtime routes with matchesPattern: it must agree with moto on every event.
    const pattern = JSON.parse(await rulePattern(world, rule));
    const predicted = events
      .map((m, i) => ({
        i,
        event: {
          source: EVENT_SOURCE,
          'detail-type': m.eventType,
          detail: JSON.parse(busEntryDetail(m)),
        },
      }))
      .filter(({ event }) => matchesPattern(pattern, event))
      .map(({ i }) => i);
    expect(predicted).toEqual(delivered);

    await router.unsubscribe('subscriber');
    await router.publish([events[0] as Envelope]);
    expect(await drain(world, queues.queueUrl, 1, 2)).toEqual([]);
  });

  it('the pattern matcher agrees with moto’s rule engine on a matrix of patterns and events', async () => {
    const patterns = [
      { source: ['m'], detail: { n: [{ numeric: ['>', 5, '<=', 10] }] } },
      { source: ['m'], detail: { s: [{ 'anything-but': ['x', 'y'] }] } },
      { source: ['m'], detail: { s: [{ suffix: '.png' }] } },
      { source: ['m'], detail: { gone: [{ exists: false }] } },
      { source: ['m'], detail: { tags: ['b'] } },
      { source: ['m'], $or: [{ detail: { n: [1] } }, { detail: { s: ['x'] } }] },
      { source: ['m'], detail: { nested: { deep: [true] } } },
    ];
    const details = [
      { n: 7, s: 'x' },
      { n: 11, s: 'photo.png' },
      { n: 1, s: 'y', gone: 1 },
      { s: 'z', tags: ['a', 'b'] },
      { nested: { deep: true }, n: 5 },
      { s: 'X' },
    ];
    const queue = await createAgentQueues(world.sqs, `matrix-${randomUUID().slice(0, 6)}`);
    for (const [p, pattern] of patterns.entries()) {
      const name = `matrix-${p}-${randomUUID().slice(0, 6)}`;
      const { PutRuleCommand, PutTargetsCommand, RemoveTargetsCommand, DeleteRuleCommand } =
        await import('@aws-sdk/client-eventbridge');
      await world.eventBridge.send(
        new PutRuleCommand({
          Name: name,
          EventBusName: world.eventBusName,
          EventPattern: JSON.stringify(pattern),
        }),
      );
      await world.eventBridge.send(
        new PutTargetsCommand({
          Rule: name,
          EventBusName: world.eventBusName,
          Targets: [{ Id: 'q', Arn: queue.queueArn }],
        }),
      );
      await world.eventBridge.send(
        new PutEventsCommand({
          Entries: details.map((detail, d) => ({
            EventBusName: world.eventBusName,
            Source: 'm',
            DetailType: 't',
            Detail: JSON.stringify({ ...detail, d }),
          })),
        }),
      );
      const moto = (await drain(world, queue.queueUrl, details.length, 3))
        .map((body) => (JSON.parse(body) as { detail: { d: number } }).detail.d)
        .sort();
      const ours = details.flatMap((detail, d) =>
        matchesPattern(pattern, { source: 'm', 'detail-type': 't', detail: { ...detail, d } })
          ? [d]
          : [],
      );
      expect(ours, JSON.stringify(pattern)).toEqual(moto);
      await world.eventBridge.send(
        new RemoveTargetsCommand({ Rule: name, EventBusName: world.eventBusName, Ids: ['q'] }),
      );
      await world.eventBridge.send(
        new DeleteRuleCommand({ Name: name, EventBusName: world.eventBusName }),
      );
    }
  });

  it('moves a poison message to the dead-letter queue after maxReceiveCount receives', async () => {
    const queues = await world.agentWithQueue('poisoned', { maxReceiveCount: 2 });
    let attempts = 0;
    const handler = world.agentHandler(
      'poisoned',
      () => {
        attempts++;
        throw new RetryableAgentError('still broken');
      },
      queues,
    );
    const poller = new SqsPoller({
      sqs: world.sqs,
      queueUrl: queues.queueUrl,
      queueArn: queues.queueArn,
      handler: (e) => handler(e, lambdaContext('poisoned')),
      retryDelaySeconds: 0,
    });
    await router.send(direct('poisoned', { n: 1 }));
    for (
      let polls = 0;
      polls < 10 && (await depth(world, queues.deadLetterQueueUrl)) === 0;
      polls++
    )
      await poller.pollOnce();

    expect(attempts).toBe(2);
    expect(await depth(world, queues.queueUrl)).toBe(0);
    expect(await depth(world, queues.deadLetterQueueUrl)).toBe(1);
    expect((await world.registry.get('poisoned')).metrics.errors).toBe(2);
  });

  it('parks a fatal failure in the dead-letter queue at once, without retries', async () => {
    const queues = await world.agentWithQueue('fatal', { maxReceiveCount: 5 });
    let attempts = 0;
    const handler = world.agentHandler(
      'fatal',
      () => {
        attempts++;
        throw new FatalAgentError('cannot ever work');
      },
      queues,
    );
    const poller = new SqsPoller({
      sqs: world.sqs,
      queueUrl: queues.queueUrl,
      queueArn: queues.queueArn,
      handler: (e) => handler(e, lambdaContext('fatal')),
      retryDelaySeconds: 0,
    });
    await router.send(direct('fatal', {}));
    await poller.pollOnce();
    await world.sqs.send(
      new SendMessageCommand({ QueueUrl: queues.queueUrl, MessageBody: 'not json at all' }),
    );
    await poller.pollOnce();

    expect(attempts).toBe(1);
    const parked = await drain(world, queues.deadLetterQueueUrl, 2, 3);
    expect(parked).toHaveLength(2);
    expect(parked).toContain('not json at all');
  });

  it('every agent handles its copy of a broadcast, even when they share the idempotency table', async () => {
    const heard: string[] = [];
    const agents = ['copy-a', 'copy-b', 'copy-c'];
    const handlers = agents.map((agentId) =>
      world.agentHandler(agentId, () => {
        heard.push(agentId);
        return {};
      }),
    );
    const entry = busEntryOf(
      createMessage({ from: 'tester', to: '*', type: 'broadcast', payload: { note: 'all' } }),
      world.eventBusName,
    );
    const body = JSON.stringify({
      version: '0',
      id: randomUUID(),
      'detail-type': entry.DetailType,
      source: entry.Source,
      account: '123456789012',
      time: new Date().toISOString(),
      region: 'us-east-1',
      resources: [],
      detail: JSON.parse(entry.Detail),
    });
    // The same event, delivered to each agent's queue and handled at the same time.
    const results = await Promise.all(
      handlers.map((handler, i) =>
        handler(
          {
            Records: [
              {
                messageId: randomUUID(),
                receiptHandle: 'r',
                body,
                attributes: {} as never,
                messageAttributes: {},
                md5OfBody: '',
                eventSource: 'aws:sqs',
                eventSourceARN: `arn:aws:sqs:us-east-1:123456789012:${agents[i]}`,
                awsRegion: 'us-east-1',
              },
            ],
          },
          lambdaContext(agents[i] ?? ''),
        ),
      ),
    );
    expect(results).toEqual(agents.map(() => ({ batchItemFailures: [] })));
    expect(heard.sort()).toEqual(agents);
  });

  it('a warm agent whose registry entry vanished registers again on the next ping', async () => {
    const queues = await world.agentWithQueue('phoenix');
    const handler = world.agentHandler('phoenix', () => ({}), queues);
    const ping = { kind: 'mobius.ping' };
    expect(await handler(ping, lambdaContext('phoenix'))).toMatchObject({ status: 'healthy' });
    await world.registry.deregister('phoenix'); // what TTL does to a long-silent agent
    expect(await handler(ping, lambdaContext('phoenix'))).toMatchObject({
      agentId: 'phoenix',
      status: 'healthy',
    });
    expect((await world.registry.get('phoenix')).card.endpoint.queueUrl).toBe(queues.queueUrl);
  });

  it('answers request-response over a reply queue, and reports a clear timeout', async () => {
    const queues = await world.agentWithQueue('responder');
    const replyQueue = await createAgentQueues(world.sqs, `replies-${randomUUID().slice(0, 6)}`);
    const replies = new ReplyListener({
      queueUrl: replyQueue.queueUrl,
      sqs: world.sqs,
      pollSeconds: 1,
    });
    const asyncRouter = new MessageRouter({
      registry: world.registry,
      eventBusName: world.eventBusName,
      sqs: world.sqs,
      eventBridge: world.eventBridge,
      replies,
    });
    const handler = world.agentHandler(
      'responder',
      (message) => ({ echoed: message.input }),
      queues,
    );
    const poller = new SqsPoller({
      sqs: world.sqs,
      queueUrl: queues.queueUrl,
      queueArn: queues.queueArn,
      handler: (e) => handler(e, lambdaContext('responder')),
      waitSeconds: 1,
    });

    poller.start();
    try {
      const request = direct('responder', { q: 42 }, { timeout: 10 });
      const response = await asyncRouter.request(request, { via: 'queue' });
      expect(response).toMatchObject({
        type: 'response',
        from: 'responder',
        correlationId: request.messageId,
        payload: { echoed: { q: 42 } },
      });
    } finally {
      await poller.stop();
    }
    // Nobody consumes now: the wait ends with a TimeoutError naming the request.
    const unanswered = direct('responder', {}, { timeout: 1 });
    const error = await asyncRouter.request(unanswered, { via: 'queue' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TimeoutError);
    expect((error as TimeoutError).message).toContain(unanswered.messageId);
    replies.stop();
  });
});

/**
 * No loss under faults: every message is processed exactly once or parked in the dead-letter
 * queue. 10 % of the messages fail their first attempt, 1 % always fail (poison), and 100 are
 * delivered twice. The 10 000-message run uses local-aws-sqs, the embedded runtime's SQS: moto's
 * SQS scans every message on each receive (1 000 messages took 30 s to drain), so on moto the same
 * scenario runs with 300 messages.
 */
describe.each([
  { sqs: 'local' as const, total: 10_000 },
  { sqs: 'moto' as const, total: 300 },
])('no loss under faults on $sqs SQS', ({ sqs, total }) => {
  it(`${total} messages, 10 % failing: each processed once or dead-lettered`, async () => {
    const world = await messagingWorld(sqs);
    const router = new MessageRouter({
      registry: world.registry,
      eventBusName: world.eventBusName,
      sqs: world.sqs,
      eventBridge: world.eventBridge,
    });
    const agentId = `stress-${sqs}`;
    // A short visibility timeout makes failed messages come back quickly, as Lambda's would after
    // theirs. Not shorter than handling one takes: a message still being handled when it becomes
    // visible again is received once more, and three receives dead-letter it. On moto (a Python
    // server, its DynamoDB one request at a time) handling took over a second on a loaded machine.
    const queues = await world.agentWithQueue(agentId, {
      maxReceiveCount: 3,
      visibilityTimeoutSeconds: sqs === 'moto' ? 3 : 1,
    });
    const processed = new Map<string, number>();
    let attempts = 0;
    const firstTry = new Set<string>();
    const handler = world.agentHandler(
      agentId,
      (message) => {
        const { n } = message.input as { n: number };
        const key = (message.envelope as Envelope).messageId;
        attempts++;
        const first = !firstTry.has(key);
        firstTry.add(key);
        if (n % 100 === 0) throw new RetryableAgentError(`message ${n} always fails`); // 1 %: poison
        if (n % 10 === 0 && first) throw new RetryableAgentError(`message ${n} fails once`); // 9 % more: transient
        processed.set(key, (processed.get(key) ?? 0) + 1);
      },
      queues,
    );

    const messages = Array.from({ length: total }, (_, n) => direct(agentId, { n }));
    const duplicates = messages.filter((_, n) => n % 100 === 1).slice(0, 100);
    const report = await router.sendBatch([...messages, ...duplicates]);
    expect(report.failed).toEqual([]);

    const pollers = Array.from(
      { length: 4 },
      () =>
        new SqsPoller({
          sqs: world.sqs,
          queueUrl: queues.queueUrl,
          queueArn: queues.queueArn,
          handler: (e) => handler(e, lambdaContext(agentId)),
          waitSeconds: 1,
        }),
    );
    const started = Date.now();
    let dead = 0;
    while (Date.now() - started < 240_000) {
      const seen = await Promise.all(pollers.map((p) => p.pollOnce()));
      if (seen.every((n) => n === 0)) {
        dead = await depth(world, queues.deadLetterQueueUrl);
        if (processed.size + dead >= total && (await depth(world, queues.queueUrl)) === 0) break;
      }
    }
    const twice = [...processed.values()].filter((count) => count > 1).length;
    console.log(
      `no-loss on ${sqs} SQS: ${total} messages + ${duplicates.length} duplicate deliveries → processed once ${processed.size}, ` +
        `dead-lettered ${dead}, processed twice ${twice}, handler attempts ${attempts}, ${((Date.now() - started) / 1000).toFixed(1)} s`,
    );
    expect(twice).toBe(0);
    expect(dead).toBe(total / 100);
    expect(processed.size).toBe(total - total / 100);
  }, 300_000);
});

/** A queued broadcast is the EventBridge event; its envelope is detail.message. */
function deserializeBridged(body: string): Envelope {
  return deserialize(
    JSON.stringify((JSON.parse(body) as { detail: { message: unknown } }).detail.message),
  );
}

function busEntryDetail(message: Envelope): string {
  const audience =
    message.to === '*'
      ? { audience: 'all' }
      : { audience: 'capability', capability: (message.to as { capability: string }).capability };
  return JSON.stringify({ ...audience, message });
}

async function rulePattern(world: World, name: string): Promise<string> {
  const { DescribeRuleCommand } = await import('@aws-sdk/client-eventbridge');
  const rule = await world.eventBridge.send(
    new DescribeRuleCommand({ Name: name, EventBusName: world.eventBusName }),
  );
  return rule.EventPattern ?? '{}';
}
