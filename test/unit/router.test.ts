import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import {
  InvokeCommand,
  type InvokeCommandOutput,
  InvokeWithResponseStreamCommand,
  type InvokeWithResponseStreamResponseEvent,
  LambdaClient,
  ResourceNotFoundException,
  TooManyRequestsException,
} from '@aws-sdk/client-lambda';
import {
  DeleteMessageBatchCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SendMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { BatchGetCommand, DynamoDBDocumentClient, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { ManualClock } from '../../functions/core/clock.ts';
import {
  AgentFailedError,
  CapacityExceededError,
  NoAgentAvailableError,
  PayloadTooLargeError,
  TimeoutError,
  ValidationError,
} from '../../functions/core/errors.ts';
import {
  createMessage,
  createResponse,
  type Envelope,
  serialize,
} from '../../functions/core/messaging/envelope.ts';
import { ReplyListener } from '../../functions/core/messaging/reply-listener.ts';
import { MessageRouter, type StreamedReply } from '../../functions/core/messaging/router.ts';
import { agentCardSchema } from '../../functions/core/model/agent-card.ts';
import { AgentRegistry } from '../../functions/core/registry/agent-registry.ts';
import { windowIndex } from '../../functions/core/registry/metrics.ts';
import { type AgentStreamFrame, formatFrame } from '../../functions/core/streaming/frames.ts';
import { card } from '../support/cards.ts';

const ddb = mockClient(DynamoDBDocumentClient);
const sqs = mockClient(SQSClient);
const events = mockClient(EventBridgeClient);
const lambda = mockClient(LambdaClient);

const registry = new AgentRegistry({
  tableName: 'registry',
  client: DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'us-east-1' })),
});
const router = new MessageRouter({
  registry,
  eventBusName: 'mobius-bus',
  sqs: new SQSClient({ region: 'us-east-1' }),
  eventBridge: new EventBridgeClient({ region: 'us-east-1' }),
  lambda: new LambdaClient({ region: 'us-east-1' }),
});

function storedAgent(agentId: string, endpoint: Record<string, string>) {
  const now = Date.now();
  return {
    agentId,
    agentType: 'worker',
    card: agentCardSchema.parse(card(agentId, { endpoint })),
    cardHash: 'h',
    registeredAt: now,
    updatedAt: now,
    hbIntervalSec: 30,
    hbTimeoutSec: 90,
    expiresAt: Math.ceil(now / 1000) + 90,
    lastHeartbeatAt: now,
    win: windowIndex(now),
  };
}

/** What Lambda returns as Payload: bytes (the SDK wraps them in a blob adapter we do not need here). */
const lambdaPayload = (text: string) =>
  new TextEncoder().encode(text) as InvokeCommandOutput['Payload'];

const standardQueue = {
  queueUrl: 'https://sqs.us-east-1.amazonaws.com/123456789012/w',
  queueArn: 'arn:aws:sqs:us-east-1:123456789012:w',
};
const fifoQueue = {
  queueUrl: 'https://sqs.us-east-1.amazonaws.com/123456789012/w.fifo',
  queueArn: 'arn:aws:sqs:us-east-1:123456789012:w.fifo',
};

describe('MessageRouter request shapes', () => {
  beforeEach(() => {
    ddb.reset();
    sqs.reset();
    events.reset();
    lambda.reset();
    ddb.on(UpdateCommand).resolves({ Attributes: storedAgent('w', standardQueue) });
  });

  it('sends FIFO messages grouped by conversation and deduplicated by message id', async () => {
    ddb.on(BatchGetCommand).resolves({ Responses: { registry: [storedAgent('w', fifoQueue)] } });
    sqs.on(SendMessageCommand).resolves({ MessageId: 'sqs-1' });
    const message = createMessage({
      from: 'a',
      to: 'w',
      type: 'request',
      payload: {},
      conversationId: 'conv-9',
    });
    await router.send(message);
    expect(sqs.commandCalls(SendMessageCommand)[0]?.args[0].input).toEqual({
      QueueUrl: fifoQueue.queueUrl,
      MessageBody: serialize(message),
      MessageGroupId: 'conv-9',
      MessageDeduplicationId: message.messageId,
    });
  });

  it('chunks batches to 10 entries and 256 KiB, and retries entries that failed for the service’s reasons', async () => {
    ddb
      .on(BatchGetCommand)
      .resolves({ Responses: { registry: [storedAgent('w', standardQueue)] } });
    sqs
      .on(SendMessageBatchCommand)
      .resolvesOnce({
        Successful: Array.from({ length: 9 }, (_, i) => ({
          Id: String(i + 1),
          MessageId: `m${i}`,
          MD5OfMessageBody: '',
        })),
        Failed: [{ Id: '0', Code: 'InternalError', SenderFault: false }],
      })
      .callsFake((input: { Entries: { Id: string }[] }) => ({
        Successful: input.Entries.map((e) => ({ Id: e.Id })),
        Failed: [],
      }));
    const small = Array.from({ length: 23 }, () =>
      createMessage({ from: 'a', to: 'w', type: 'request', payload: {} }),
    );
    const large = Array.from({ length: 3 }, () =>
      createMessage({
        from: 'a',
        to: 'w',
        type: 'request',
        payload: { blob: 'x'.repeat(100_000) },
      }),
    );
    const report = await router.sendBatch([...small, ...large]);
    const sizes = sqs
      .commandCalls(SendMessageBatchCommand)
      .map((c) => c.args[0].input.Entries?.length);
    expect(Math.max(...sizes.map(Number))).toBeLessThanOrEqual(10);
    for (const call of sqs.commandCalls(SendMessageBatchCommand)) {
      const bytes = (call.args[0].input.Entries ?? []).reduce(
        (sum, e) => sum + Buffer.byteLength(e.MessageBody ?? ''),
        0,
      );
      expect(bytes).toBeLessThanOrEqual(262_144);
    }
    expect(report).toEqual({ sent: 26, failed: [] });
  });

  it('publishes to the bus 10 entries per PutEvents and retries failed entries', async () => {
    events
      .on(PutEventsCommand)
      .resolvesOnce({
        FailedEntryCount: 1,
        Entries: [
          { ErrorCode: 'ThrottlingException' },
          ...Array.from({ length: 9 }, (_, i) => ({ EventId: `e${i}` })),
        ],
      })
      .callsFake((input: { Entries: unknown[] }) => ({
        FailedEntryCount: 0,
        Entries: input.Entries.map((_, i) => ({ EventId: `r${i}` })),
      }));
    const messages = Array.from({ length: 25 }, () =>
      createMessage({ from: 'a', to: '*', type: 'broadcast', payload: {} }),
    );
    expect(await router.publish(messages)).toEqual({ published: 25 });
    const calls = events.commandCalls(PutEventsCommand).map((c) => c.args[0].input.Entries ?? []);
    expect(calls.map((entries) => entries.length)).toEqual([10, 1, 10, 5]);
    expect(calls[0]?.[0]).toMatchObject({
      EventBusName: 'mobius-bus',
      Source: 'mobius',
      DetailType: 'mobius.broadcast',
    });
  });

  it('refuses to publish requests on the bus', async () => {
    await expect(
      router.publish([createMessage({ from: 'a', to: 'w', type: 'request', payload: {} })]),
    ).rejects.toBeInstanceOf(ValidationError);
    expect(events.calls()).toHaveLength(0);
  });

  it('refuses to publish an event addressed to one agent, which no rule would deliver', async () => {
    const event = createMessage({
      from: 'a',
      to: 'w',
      type: 'event',
      eventType: 'document.indexed',
      payload: {},
    });
    await expect(router.publish([event])).rejects.toThrow(
      /to: an event to one agent goes to its queue/,
    );
    expect(events.calls()).toHaveLength(0);
  });

  it('invokes Lambda agents synchronously and maps their failures', async () => {
    const lambdaArn = 'arn:aws:lambda:us-east-1:123456789012:function:w';
    ddb
      .on(BatchGetCommand)
      .resolves({ Responses: { registry: [storedAgent('w', { lambdaArn })] } });
    const request = createMessage({ from: 'a', to: 'w', type: 'request', payload: { q: 1 } });
    lambda.on(InvokeCommand).resolvesOnce({
      Payload: lambdaPayload(serialize(createResponse(request, 'w', { a: 2 }))),
    });
    expect((await router.request(request)).payload).toEqual({ a: 2 });
    expect(lambda.commandCalls(InvokeCommand)[0]?.args[0].input.FunctionName).toBe(lambdaArn);

    lambda.on(InvokeCommand).resolves({
      FunctionError: 'Unhandled',
      Payload: lambdaPayload(
        JSON.stringify({ errorType: 'RetryableAgentError', errorMessage: 'busy' }),
      ),
    });
    const failure = await router
      .request(createMessage({ from: 'a', to: 'w', type: 'request', payload: {} }))
      .catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(AgentFailedError);
    expect((failure as AgentFailedError).details).toMatchObject({
      agentId: 'w',
      errorType: 'RetryableAgentError',
      retryable: true,
    });
    // the outcome reached the registry: one success, one failure
    expect(ddb.commandCalls(UpdateCommand)).toHaveLength(2);
  });

  it('a Lambda agent whose function is gone is unreachable (503 naming it), counted as its failure', async () => {
    const lambdaArn = 'arn:aws:lambda:us-east-1:123456789012:function:w';
    ddb
      .on(BatchGetCommand)
      .resolves({ Responses: { registry: [storedAgent('w', { lambdaArn })] } });
    lambda
      .on(InvokeCommand)
      .rejects(new ResourceNotFoundException({ message: 'Function not found', $metadata: {} }));
    const error = await router
      .request(createMessage({ from: 'a', to: 'w', type: 'request', payload: {} }))
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NoAgentAvailableError);
    expect((error as NoAgentAvailableError).message).toBe(
      `Agent w is unreachable: its Lambda function ${lambdaArn} does not exist. Deploy the agent again, or register it with its current endpoint.`,
    );
    expect((error as NoAgentAvailableError).details).toEqual({ agentId: 'w', lambdaArn });
    const recorded = ddb.commandCalls(UpdateCommand)[0]?.args[0].input;
    const errors = /#errTotal (:v\d+)/.exec(String(recorded?.UpdateExpression))?.[1] ?? '';
    expect(recorded?.ExpressionAttributeValues?.[errors]).toBe(1);
  });

  it('a throttled Lambda agent (at its maxConcurrency) is busy, not broken: 503 to retry, not held against its breaker', async () => {
    const lambdaArn = 'arn:aws:lambda:us-east-1:123456789012:function:w';
    ddb
      .on(BatchGetCommand)
      .resolves({ Responses: { registry: [storedAgent('w', { lambdaArn })] } });
    lambda
      .on(InvokeCommand)
      .rejects(new TooManyRequestsException({ message: 'Rate exceeded', $metadata: {} }));
    const error = await router
      .request(createMessage({ from: 'a', to: 'w', type: 'request', payload: {} }))
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CapacityExceededError);
    expect(error).toMatchObject({
      message: 'Agent w is at its concurrency limit; retry shortly.',
      retryAfterSeconds: 1,
      details: { agentId: 'w' },
    });
    expect(ddb.commandCalls(UpdateCommand)).toHaveLength(0);
  });

  it('says why an open breaker refuses, not the failure count successes have restarted since', async () => {
    const openedAt = Date.now() - 1_000;
    ddb.on(BatchGetCommand).resolves({
      Responses: {
        registry: [
          // Opened by failures; the messages the agent handled since restarted the count.
          {
            ...storedAgent('w', standardQueue),
            brState: 'open',
            brFailures: 0,
            brOpenedAt: openedAt,
          },
        ],
      },
    });
    const error = await router
      .send(createMessage({ from: 'a', to: 'w', type: 'request', payload: {} }))
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NoAgentAvailableError);
    const { message } = error as NoAgentAvailableError;
    expect(message).not.toContain('0 consecutive failures');
    expect(message).toContain(`open since ${new Date(openedAt).toISOString()}`);
    expect(sqs.calls()).toHaveLength(0);
  });

  it('refuses new work for a drained agent (send, batch, request, streamed request) naming the drain and how to resume, but lets responses through', async () => {
    const drainedAt = Date.now() - 60_000;
    const both = {
      ...standardQueue,
      lambdaArn: 'arn:aws:lambda:us-east-1:123456789012:function:w',
    };
    ddb.on(BatchGetCommand).resolves({
      Responses: {
        registry: [{ ...storedAgent('w', both), drainedAt, drainedBy: 'arn:aws:iam::1:role/Ops' }],
      },
    });
    const request = () => createMessage({ from: 'a', to: 'w', type: 'request', payload: {} });
    const refusals = [
      router.send(request()),
      router.send(
        createMessage({ from: 'a', to: 'w', type: 'event', eventType: 'x.y', payload: {} }),
      ),
      router.sendBatch([request(), request()]),
      router.request(request()),
      router.requestStream(request()),
    ];
    for (const refused of refusals) {
      const error = await refused.catch((e: unknown) => e);
      expect(error).toBeInstanceOf(NoAgentAvailableError);
      expect((error as NoAgentAvailableError).details).toEqual({
        agentId: 'w',
        status: 'drained',
        reason: 'drained',
        drainedAt: new Date(drainedAt).toISOString(),
        drainedBy: 'arn:aws:iam::1:role/Ops',
      });
      expect((error as Error).message).toMatch(/is drained.*POST \/agents\/w\/resume/);
    }
    // Nothing was sent or invoked, and no breaker probe was claimed.
    expect(sqs.calls()).toHaveLength(0);
    expect(lambda.calls()).toHaveLength(0);
    expect(ddb.commandCalls(UpdateCommand)).toHaveLength(0);

    // A response answers a request the drained agent made itself: it finishes what it has.
    sqs.on(SendMessageCommand).resolves({ MessageId: 'sqs-1' });
    const theirs = createMessage({ from: 'w', to: 'b', type: 'request', payload: {} });
    const receipt = await router.send(createResponse(theirs, 'b', { ok: true }));
    expect(receipt.agentId).toBe('w');
    expect(sqs.commandCalls(SendMessageCommand)).toHaveLength(1);
  });

  it('gives up on a slow synchronous agent with a TimeoutError', async () => {
    ddb.on(BatchGetCommand).resolves({
      Responses: {
        registry: [
          storedAgent('w', { lambdaArn: 'arn:aws:lambda:us-east-1:123456789012:function:w' }),
        ],
      },
    });
    lambda.on(InvokeCommand).callsFake(() => new Promise(() => undefined)); // never answers
    const request = createMessage({ from: 'a', to: 'w', type: 'request', payload: {}, timeout: 1 });
    await expect(router.request(request)).rejects.toBeInstanceOf(TimeoutError);
  });

  describe('a half-open circuit (cool-down over, nobody probing)', () => {
    const halfOpen = (endpoint: Record<string, string>) => ({
      ...storedAgent('w', endpoint),
      brState: 'open',
      brFailures: 5,
      brOpenedAt: Date.now() - 60_000,
    });
    const probeClaims = () =>
      ddb
        .commandCalls(UpdateCommand)
        .filter((c) => String(c.args[0].input.UpdateExpression).includes('brProbeAt'));

    it('lets a queued request claim the probe once and get its answer', async () => {
      ddb.on(BatchGetCommand).resolves({ Responses: { registry: [halfOpen(standardQueue)] } });
      const request = createMessage({ from: 'a', to: 'w', type: 'request', payload: {} });
      sqs.on(SendMessageCommand).resolves({ MessageId: 'sqs-1' });
      sqs.on(ReceiveMessageCommand).resolves({
        Messages: [
          { ReceiptHandle: 'r', Body: serialize(createResponse(request, 'w', { ok: true })) },
        ],
      });
      sqs.on(DeleteMessageBatchCommand).resolves({});
      const replies = new ReplyListener({
        queueUrl: 'https://sqs.us-east-1.amazonaws.com/123456789012/replies',
        sqs: new SQSClient({ region: 'us-east-1' }),
      });
      const queued = new MessageRouter({
        registry,
        eventBusName: 'mobius-bus',
        sqs: new SQSClient({ region: 'us-east-1' }),
        replies,
      });
      const response = await queued.request(request, { via: 'queue' });
      expect(response.payload).toEqual({ ok: true });
      expect(probeClaims()).toHaveLength(1);
      replies.stop();
    });

    it('refuses a message that cannot be sent before claiming the probe', async () => {
      ddb.on(BatchGetCommand).resolves({ Responses: { registry: [halfOpen(standardQueue)] } });
      const big = createMessage({
        from: 'a',
        to: 'w',
        type: 'request',
        payload: { blob: 'x'.repeat(300_000) },
      });
      await expect(router.send(big)).rejects.toBeInstanceOf(PayloadTooLargeError);
      expect(probeClaims()).toHaveLength(0);
      expect(sqs.calls()).toHaveLength(0);
    });
  });

  it('refuses to wait for a queue-only agent without a reply queue: a 400, not a crash', async () => {
    ddb
      .on(BatchGetCommand)
      .resolves({ Responses: { registry: [storedAgent('w', standardQueue)] } });
    const request = createMessage({ from: 'a', to: 'w', type: 'request', payload: {} });
    const error = await router.request(request).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).issues[0]?.path).toBe('to');
    expect(sqs.calls()).toHaveLength(0);
  });

  it('treats an answer that is not a message as the agent’s failure, and keeps the answer when metrics cannot be written', async () => {
    const lambdaArn = 'arn:aws:lambda:us-east-1:123456789012:function:w';
    ddb
      .on(BatchGetCommand)
      .resolves({ Responses: { registry: [storedAgent('w', { lambdaArn })] } });
    lambda.on(InvokeCommand).resolvesOnce({ Payload: lambdaPayload('"just a string"') });
    const garbled = await router
      .request(createMessage({ from: 'a', to: 'w', type: 'request', payload: {} }))
      .catch((e: unknown) => e);
    expect(garbled).toBeInstanceOf(AgentFailedError);

    ddb.on(UpdateCommand).rejects(new Error('throttled'));
    const request = createMessage({ from: 'a', to: 'w', type: 'request', payload: {} });
    lambda
      .on(InvokeCommand)
      .resolves({ Payload: lambdaPayload(serialize(createResponse(request, 'w', { a: 1 }))) });
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => undefined);
    expect((await router.request(request)).payload).toEqual({ a: 1 });
    expect(warn).toHaveBeenCalledWith(
      expect.stringContaining('could not record the outcome for w'),
    );
    warn.mockRestore();
  });

  it('talks down to an agent that speaks an earlier version of the protocol', async () => {
    ddb
      .on(BatchGetCommand)
      .resolves({ Responses: { registry: [storedAgent('w', standardQueue)] } });
    sqs.on(SendMessageCommand).resolves({ MessageId: 'sqs-1' });
    const newer = createMessage({
      from: 'a',
      to: 'w',
      type: 'request',
      payload: {},
      protocolVersion: '1.3',
    });
    await router.send(newer);
    const body = sqs.commandCalls(SendMessageCommand)[0]?.args[0].input.MessageBody ?? '';
    expect(JSON.parse(body).protocol).toEqual({ name: 'mobius', version: '1.0' });
  });
});

describe('MessageRouter.requestStream: what the breaker and the metrics hear', () => {
  const lambdaArn = 'arn:aws:lambda:us-east-1:123456789012:function:w';
  const clock = new ManualClock();
  const streaming = new MessageRouter({
    registry,
    eventBusName: 'mobius-bus',
    sqs: new SQSClient({ region: 'us-east-1' }),
    eventBridge: new EventBridgeClient({ region: 'us-east-1' }),
    lambda: new LambdaClient({ region: 'us-east-1' }),
    clock,
  });
  const recorded: { agentId: string; ok: boolean; latencyMs: number }[] = [];

  beforeEach(() => {
    ddb.reset();
    lambda.reset();
    recorded.length = 0;
    ddb
      .on(BatchGetCommand)
      .resolves({ Responses: { registry: [storedAgent('w', { lambdaArn })] } });
    vi.spyOn(registry, 'recordOutcome').mockImplementation(async (agentId, outcome) => {
      recorded.push({ agentId, ...outcome });
      return undefined as never;
    });
    return () => vi.restoreAllMocks();
  });

  const request = (timeout?: number) =>
    createMessage({
      from: 'a',
      to: 'w',
      type: 'request',
      payload: {},
      ...(timeout === undefined ? {} : { timeout }),
    });
  const payload = (frame: AgentStreamFrame): InvokeWithResponseStreamResponseEvent => ({
    PayloadChunk: { Payload: new TextEncoder().encode(formatFrame(frame)) },
  });
  const complete = (error?: string): InvokeWithResponseStreamResponseEvent => ({
    InvokeComplete:
      error === undefined ? {} : { ErrorCode: error, ErrorDetails: `${error} happened` },
  });
  /** The agent's answer: each step moves the clock, then yields its event (or hangs for ever). */
  const answers = (
    steps: readonly (
      | { readonly afterMs: number; readonly event: InvokeWithResponseStreamResponseEvent }
      | 'hang'
    )[],
  ) => {
    lambda.on(InvokeWithResponseStreamCommand).callsFake(async () => ({
      EventStream: (async function* () {
        for (const step of steps) {
          if (step === 'hang') await new Promise(() => undefined);
          else {
            clock.advance(step.afterMs);
            yield step.event;
          }
        }
      })(),
    }));
  };
  const chunk = (seq: number): AgentStreamFrame => ({ chunk: { seq, text: `t${seq} ` } });
  const responseTo = (message: Envelope): AgentStreamFrame => ({
    response: createResponse(message, 'w', 'done'),
  });

  async function read(
    frames: AsyncIterable<StreamedReply>,
  ): Promise<{ replies: StreamedReply[]; error?: unknown }> {
    const replies: StreamedReply[] = [];
    try {
      for await (const reply of frames) replies.push(reply);
      return { replies };
    } catch (error) {
      return { replies, error };
    }
  }

  it('records the time to the first frame as the latency: a 35 s answer that began at once is not a slow agent', async () => {
    const message = request(60);
    answers([
      { afterMs: 200, event: payload(chunk(0)) },
      { afterMs: 35_000, event: payload(chunk(1)) },
      { afterMs: 10, event: payload(responseTo(message)) },
      { afterMs: 0, event: complete() },
    ]);
    const { replies, error } = await read((await streaming.requestStream(message)).frames);
    expect(error).toBeUndefined();
    expect(replies).toHaveLength(3);
    expect(recorded).toEqual([{ agentId: 'w', ok: true, latencyMs: 200 }]);
  });

  it('a deadline after the agent began answering ends the stream with a TimeoutError, and counts as answered, not failed', async () => {
    const message = request(1);
    answers([{ afterMs: 300, event: payload(chunk(0)) }, 'hang']);
    const { replies, error } = await read((await streaming.requestStream(message)).frames);
    expect(replies).toEqual([chunk(0)]);
    expect(error).toBeInstanceOf(TimeoutError);
    expect(recorded).toEqual([{ agentId: 'w', ok: true, latencyMs: 300 }]);
  });

  it('a deadline before any frame is the agent’s failure, as for a request that is not streamed', async () => {
    answers(['hang']);
    const { error } = await read((await streaming.requestStream(request(1))).frames);
    expect(error).toBeInstanceOf(TimeoutError);
    expect(recorded).toHaveLength(1);
    expect(recorded[0]?.ok).toBe(false);
  });

  it('a caller leaving after the first frame counts as answered; one leaving before any frame is not counted', async () => {
    answers([{ afterMs: 50, event: payload(chunk(0)) }, 'hang']);
    const caller = new AbortController();
    const reply = await streaming.requestStream(request(60), { signal: caller.signal });
    const replies: StreamedReply[] = [];
    for await (const frame of reply.frames) {
      replies.push(frame);
      caller.abort();
    }
    expect(replies).toEqual([chunk(0)]);
    expect(recorded).toEqual([{ agentId: 'w', ok: true, latencyMs: 50 }]);

    recorded.length = 0;
    answers(['hang']);
    const early = new AbortController();
    const silent = await streaming.requestStream(request(60), { signal: early.signal });
    const ended = read(silent.frames);
    early.abort();
    expect(await ended).toEqual({ replies: [] });
    expect(recorded).toEqual([]);
  });

  it('a caller that stops reading at a chunk (break, no abort) after the agent began counts as answered', async () => {
    answers([
      { afterMs: 40, event: payload(chunk(0)) },
      { afterMs: 0, event: payload(chunk(1)) },
      'hang',
    ]);
    const reply = await streaming.requestStream(request(60));
    for await (const frame of reply.frames) {
      expect(frame).toEqual(chunk(0));
      break;
    }
    expect(recorded).toEqual([{ agentId: 'w', ok: true, latencyMs: 40 }]);
  });

  it('an error frame after chunks fails the stream once, with the time to the first frame', async () => {
    answers([
      { afterMs: 100, event: payload(chunk(0)) },
      { afterMs: 5_000, event: payload({ error: { errorType: 'Error', errorMessage: 'boom' } }) },
      // What Lambda adds when the SDK's streaming entry reports the error: not a second failure.
      { afterMs: 0, event: complete('Unhandled') },
    ]);
    const { replies, error } = await read((await streaming.requestStream(request(60))).frames);
    expect(replies).toEqual([chunk(0)]);
    expect(error).toBeInstanceOf(AgentFailedError);
    expect(recorded).toEqual([{ agentId: 'w', ok: false, latencyMs: 100 }]);
  });

  it('an InvokeComplete error (a crash, a function timeout) fails the stream once', async () => {
    answers([
      { afterMs: 100, event: payload(chunk(0)) },
      { afterMs: 900, event: complete('Runtime.ExitError') },
    ]);
    const { error } = await read((await streaming.requestStream(request(60))).frames);
    expect(error).toBeInstanceOf(AgentFailedError);
    expect((error as AgentFailedError).details).toMatchObject({ errorType: 'Runtime.ExitError' });
    expect(recorded).toEqual([{ agentId: 'w', ok: false, latencyMs: 100 }]);
  });

  it('a throttled streaming agent is busy, not broken: CapacityExceededError, not counted', async () => {
    lambda
      .on(InvokeWithResponseStreamCommand)
      .rejects(new TooManyRequestsException({ message: 'Rate exceeded', $metadata: {} }));
    const error = await streaming.requestStream(request(60)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CapacityExceededError);
    expect(recorded).toEqual([]);
  });
});
