import {
  DeleteRuleCommand,
  type EventBridgeClient,
  PutEventsCommand,
  PutRuleCommand,
  PutTargetsCommand,
  RemoveTargetsCommand,
  ResourceNotFoundException,
} from '@aws-sdk/client-eventbridge';
import {
  ResourceNotFoundException as FunctionNotFound,
  InvokeCommand,
  type LambdaClient,
} from '@aws-sdk/client-lambda';
import {
  QueueDoesNotExist,
  SendMessageBatchCommand,
  type SendMessageBatchResult,
  SendMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { sharedEventBridgeClient } from '../aws/eventbridge.ts';
import { sharedLambdaClient } from '../aws/lambda.ts';
import { sharedSqsClient } from '../aws/sqs.ts';
import { type Clock, systemClock } from '../clock.ts';
import { withDeadline } from '../deadline.ts';
import {
  AgentFailedError,
  NoAgentAvailableError,
  NotFoundError,
  TimeoutError,
  ValidationError,
} from '../errors.ts';
import { type AgentCard, isFifoEndpoint } from '../model/agent-card.ts';
import type { AgentRecord, AgentRegistry } from '../registry/agent-registry.ts';
import { parseWith } from '../validation.ts';
import { AGENT_ERROR_NAMES } from './agent-errors.ts';
import {
  assertFits,
  deserialize,
  type Envelope,
  envelopeSchema,
  negotiateProtocol,
  offeredVersions,
  serialize,
} from './envelope.ts';
import type { EventPattern } from './event-pattern.ts';
import { LIMITS } from './limits.ts';
import type { ReplyListener } from './reply-listener.ts';
import {
  broadcastPattern,
  busEntryOf,
  type RuleKind,
  ruleName,
  type Subscription,
  subscriptionPattern,
  subscriptionSchema,
} from './routing-rules.ts';

export interface MessageRouterOptions {
  readonly registry: AgentRegistry;
  readonly eventBusName: string;
  readonly sqs?: SQSClient;
  readonly eventBridge?: EventBridgeClient;
  readonly lambda?: LambdaClient;
  /** Receives answers to asynchronous requests; required only for `request(..., { via: 'queue' })`. */
  readonly replies?: ReplyListener;
  readonly clock?: Clock;
}

export interface SendReceipt {
  readonly messageId: string;
  readonly agentId: string;
  readonly queueUrl: string;
  readonly sqsMessageId: string | undefined;
}

export interface BatchReport {
  readonly sent: number;
  readonly failed: {
    readonly messageId: string;
    readonly agentId: string;
    readonly error: string;
  }[];
}

/** Failed PutEvents / SendMessageBatch entries are retried this often, with backoff. */
const MAX_ENTRY_ATTEMPTS = 5;
const DEFAULT_REQUEST_TIMEOUT_SECONDS = 30;

const pause = (attempt: number) =>
  new Promise((resolve) => setTimeout(resolve, Math.min(1_000, 50 * 2 ** attempt)));

/**
 * Routes messages: direct delivery to an agent's SQS queue, request-response (synchronous Lambda
 * invocation or a reply queue), broadcasts and events over EventBridge, and the subscriptions that
 * deliver them. Delivery failures and synchronous outcomes feed the registry's metrics and circuit
 * breaker; queue-delivered messages are recorded by the agent that handles them (see defineAgent).
 */
export class MessageRouter {
  readonly #registry: AgentRegistry;
  readonly #eventBusName: string;
  readonly #sqs: SQSClient;
  readonly #eventBridge: EventBridgeClient;
  readonly #lambda: LambdaClient;
  readonly #replies: ReplyListener | undefined;
  readonly #clock: Clock;

  constructor(options: MessageRouterOptions) {
    this.#registry = options.registry;
    this.#eventBusName = options.eventBusName;
    this.#sqs = options.sqs ?? sharedSqsClient();
    this.#eventBridge = options.eventBridge ?? sharedEventBridgeClient();
    this.#lambda = options.lambda ?? sharedLambdaClient();
    this.#replies = options.replies;
    this.#clock = options.clock ?? systemClock;
  }

  // ── direct delivery ─────────────────────────────────────────────────────────────────────────

  /**
   * Sends one message to its recipient's queue. FIFO queues get MessageGroupId = conversation (so
   * a conversation stays in order) and MessageDeduplicationId = messageId (so a resend within the
   * five-minute window is not delivered twice).
   */
  async send(input: unknown): Promise<SendReceipt> {
    const message = parseWith(envelopeSchema, input, 'message');
    const recipient = await this.#recipient(message);
    const prepared = this.#negotiated(message, recipient.card);
    const queueUrl = queueOf(recipient.card);
    assertFits(prepared, LIMITS.sqsMessageBytes, 'SQS');
    await this.#admit(recipient);
    return this.#enqueue(recipient.card, queueUrl, prepared);
  }

  /**
   * SendMessage of a validated message to an admitted recipient; a failure feeds its breaker. A
   * queue that does not exist is the agent's endpoint being unreachable (deleted, or a card naming
   * the wrong queue): NoAgentAvailableError naming the agent and the queue, not a server error.
   */
  async #enqueue(card: AgentCard, queueUrl: string, prepared: Envelope): Promise<SendReceipt> {
    try {
      const { MessageId } = await this.#sqs.send(
        new SendMessageCommand({
          QueueUrl: queueUrl,
          MessageBody: serialize(prepared),
          ...fifoFields(card, prepared),
        }),
      );
      return {
        messageId: prepared.messageId,
        agentId: card.agentId,
        queueUrl,
        sqsMessageId: MessageId,
      };
    } catch (error) {
      await this.#record(card.agentId, false, 0);
      if (error instanceof QueueDoesNotExist) throw unreachable(card.agentId, { queueUrl }, error);
      throw error;
    }
  }

  /**
   * Sends many messages: grouped by recipient queue, chunked to SendMessageBatch's limits (10
   * entries, 256 KiB), failed entries retried with backoff. Returns what could not be sent.
   */
  async sendBatch(inputs: readonly unknown[]): Promise<BatchReport> {
    const messages = inputs.map((input, i) => parseWith(envelopeSchema, input, `message ${i}`));
    const recipients = new Map<string, Recipient>();
    for (const message of messages) {
      const to = recipientId(message);
      if (!recipients.has(to)) recipients.set(to, await this.#recipient(message));
    }
    // Every message is checked before any breaker is asked or anything is sent.
    const byQueue = new Map<string, { card: AgentCard; messages: Envelope[] }>();
    for (const message of messages) {
      const { card } = recipients.get(recipientId(message)) as Recipient;
      const prepared = this.#negotiated(message, card);
      assertFits(prepared, LIMITS.sqsMessageBytes, 'SQS');
      const queueUrl = queueOf(card);
      const group = byQueue.get(queueUrl) ?? { card, messages: [] };
      group.messages.push(prepared);
      byQueue.set(queueUrl, group);
    }
    for (const recipient of recipients.values()) await this.#admit(recipient);

    const failed: BatchReport['failed'][number][] = [];
    let sent = 0;
    for (const [queueUrl, { card, messages: queued }] of byQueue) {
      for (const batch of chunkBySize(queued, LIMITS.sqsBatchEntries, LIMITS.sqsBatchBytes)) {
        let pending = batch;
        for (let attempt = 0; pending.length > 0 && attempt < MAX_ENTRY_ATTEMPTS; attempt++) {
          if (attempt > 0) await pause(attempt);
          let response: SendMessageBatchResult;
          try {
            response = await this.#sqs.send(
              new SendMessageBatchCommand({
                QueueUrl: queueUrl,
                Entries: pending.map((m, i) => ({
                  Id: String(i),
                  MessageBody: serialize(m),
                  ...fifoFields(card, m),
                })),
              }),
            );
          } catch (error) {
            if (!(error instanceof QueueDoesNotExist)) throw error;
            // One unreachable recipient fails its own messages, not the other recipients'.
            const reason = unreachable(card.agentId, { queueUrl }, error).message;
            for (const message of pending)
              failed.push({ messageId: message.messageId, agentId: card.agentId, error: reason });
            pending = [];
            break;
          }
          sent += response.Successful?.length ?? 0;
          const retry = new Set(
            (response.Failed ?? []).filter((f) => !f.SenderFault).map((f) => Number(f.Id)),
          );
          for (const f of response.Failed ?? []) {
            const message = pending[Number(f.Id)];
            if (f.SenderFault && message) {
              failed.push({
                messageId: message.messageId,
                agentId: card.agentId,
                error: f.Message ?? f.Code ?? 'rejected',
              });
            }
          }
          pending = pending.filter((_, i) => retry.has(i));
        }
        for (const message of pending) {
          failed.push({
            messageId: message.messageId,
            agentId: card.agentId,
            error: 'still failing after retries',
          });
        }
      }
      const lost = failed.filter((f) => f.agentId === card.agentId).length;
      if (lost > 0) await this.#record(card.agentId, false, 0);
    }
    return { sent, failed };
  }

  // ── request-response ────────────────────────────────────────────────────────────────────────

  /**
   * Sends a request and waits for its response. `via: 'lambda'` (the default when the agent has a
   * Lambda) invokes it synchronously; `via: 'queue'` sends it to the agent's queue with `replyTo`
   * and waits on the reply queue for the response carrying its correlationId. Either way the wait
   * is bounded by the message's `timeout` (default 30 s) and ends in a TimeoutError.
   */
  async request(input: unknown, options: { via?: 'lambda' | 'queue' } = {}): Promise<Envelope> {
    const message = parseWith(envelopeSchema, input, 'request');
    if (message.type !== 'request') {
      throw new ValidationError('request', [
        { path: 'type', message: 'request-response needs a message of type "request"' },
      ]);
    }
    const recipient = await this.#recipient(message);
    const { card } = recipient;
    const via = options.via ?? (card.endpoint.lambdaArn !== undefined ? 'lambda' : 'queue');
    const timeoutMs = (message.timeout ?? DEFAULT_REQUEST_TIMEOUT_SECONDS) * 1000;
    const prepared = this.#negotiated(message, card);
    if (via === 'lambda') {
      const functionName = card.endpoint.lambdaArn;
      if (functionName === undefined) {
        throw new ValidationError('request', [
          { path: 'to', message: `agent ${card.agentId} has no Lambda endpoint; use via: "queue"` },
        ]);
      }
      await this.#admit(recipient);
      return this.#invoke(card, functionName, prepared, timeoutMs);
    }
    const replies = this.#replies;
    if (replies === undefined) {
      throw new ValidationError('request', [
        {
          path: 'to',
          message: `agent ${card.agentId} is reached through its queue only, and this endpoint waits for answers from Lambda invocations alone; send without waiting`,
        },
      ]);
    }
    const withReply = { ...prepared, replyTo: replies.queueUrl };
    const queueUrl = queueOf(card);
    assertFits(withReply, LIMITS.sqsMessageBytes, 'SQS');
    await this.#admit(recipient);
    return this.#requestViaQueue(card, queueUrl, withReply, replies, timeoutMs);
  }

  async #invoke(
    card: AgentCard,
    functionName: string,
    message: Envelope,
    timeoutMs: number,
  ): Promise<Envelope> {
    const started = this.#clock.now();
    let ok = false;
    try {
      const response = await withDeadline(
        (abortSignal) =>
          this.#lambda.send(
            new InvokeCommand({
              FunctionName: functionName,
              Payload: Buffer.from(serialize(message)),
            }),
            {
              abortSignal,
            },
          ),
        timeoutMs,
        () =>
          new TimeoutError(`Agent ${card.agentId} did not answer within ${timeoutMs / 1000} s.`, {
            agentId: card.agentId,
            messageId: message.messageId,
          }),
      );
      const text = Buffer.from(response.Payload ?? new Uint8Array()).toString('utf8');
      if (response.FunctionError !== undefined) throw agentFailure(card.agentId, text);
      const reply = replyOf(card.agentId, text);
      if (reply.correlationId !== message.messageId) {
        throw new AgentFailedError(
          `Agent ${card.agentId} answered a different request (${reply.correlationId}).`,
          {
            agentId: card.agentId,
          },
        );
      }
      ok = true;
      return reply;
    } catch (error) {
      if (error instanceof FunctionNotFound)
        throw unreachable(card.agentId, { lambdaArn: functionName }, error);
      throw error;
    } finally {
      await this.#record(card.agentId, ok, this.#clock.now() - started);
    }
  }

  async #requestViaQueue(
    card: AgentCard,
    queueUrl: string,
    message: Envelope,
    replies: ReplyListener,
    timeoutMs: number,
  ): Promise<Envelope> {
    const response = replies.wait(message.messageId, timeoutMs);
    try {
      await this.#enqueue(card, queueUrl, message);
    } catch (error) {
      replies.cancel(message.messageId);
      throw error;
    }
    try {
      return await response;
    } catch (error) {
      if (error instanceof TimeoutError) await this.#record(card.agentId, false, timeoutMs);
      throw error;
    }
  }

  // ── broadcasts and events ───────────────────────────────────────────────────────────────────

  /** Publishes broadcasts/events on the bus, 10 entries per PutEvents, failed entries retried. */
  async publish(inputs: readonly unknown[]): Promise<{ published: number }> {
    const messages = inputs.map((input, i) => parseWith(envelopeSchema, input, `message ${i}`));
    for (const [i, message] of messages.entries()) {
      if (message.type !== 'broadcast' && message.type !== 'event') {
        throw new ValidationError(`message ${i}`, [
          {
            path: 'type',
            message: 'only broadcasts and events go on the bus; send requests to one agent',
          },
        ]);
      }
      assertFits(message, LIMITS.eventBridgeEntryBytes - 1024, 'EventBridge'); // room for the routing fields
    }
    const entries = messages.map((m) => busEntryOf(m, this.#eventBusName));
    let published = 0;
    for (const batch of chunkBySize(
      entries,
      LIMITS.eventBridgeEntries,
      LIMITS.eventBridgeRequestBytes,
    )) {
      let pending = batch;
      for (let attempt = 0; pending.length > 0; attempt++) {
        if (attempt >= MAX_ENTRY_ATTEMPTS) {
          throw new Error(
            `PutEvents left ${pending.length} entries unpublished after ${attempt} attempts`,
          );
        }
        if (attempt > 0) await pause(attempt);
        const response = await this.#eventBridge.send(
          new PutEventsCommand({ Entries: pending.map((e) => ({ ...e })) }),
        );
        const results = response.Entries ?? [];
        published += results.filter((r) => r.EventId !== undefined).length;
        pending = pending.filter((_, i) => results[i]?.ErrorCode !== undefined);
      }
    }
    return { published };
  }

  /** Creates (or refreshes) the rule that delivers broadcasts to `agentId`'s queue. */
  async ensureBroadcastRule(agentId: string): Promise<string> {
    const { card } = await this.#registry.get(agentId);
    return this.#putRule(card, 'broadcast', broadcastPattern(capabilityNames(card)));
  }

  /**
   * Subscribes `agentId` to event types: one rule on the bus targeting its queue. `kind` names the
   * rule: `events` (default) is the agent's run-time subscription, replaced by the next call;
   * `sub<n>` are the subscriptions declared in its definition (see declaredRuleKind).
   */
  async subscribe(
    agentId: string,
    input: Subscription,
    kind: RuleKind = 'events',
  ): Promise<string> {
    const subscription = parseWith(subscriptionSchema, input, 'subscription');
    const { card } = await this.#registry.get(agentId);
    const pattern = subscriptionPattern(
      subscription.eventTypes,
      capabilityNames(card),
      subscription.filter as EventPattern | undefined,
    );
    return this.#putRule(card, kind, pattern);
  }

  /** Removes the agent's subscription (and its target); a missing one is not an error. */
  async unsubscribe(agentId: string, kind: RuleKind = 'events'): Promise<void> {
    const name = ruleName(agentId, kind);
    try {
      await this.#eventBridge.send(
        new RemoveTargetsCommand({
          Rule: name,
          EventBusName: this.#eventBusName,
          Ids: ['agent-queue'],
        }),
      );
      await this.#eventBridge.send(
        new DeleteRuleCommand({ Name: name, EventBusName: this.#eventBusName }),
      );
    } catch (error) {
      if (!(error instanceof ResourceNotFoundException)) throw error;
    }
  }

  async #putRule(card: AgentCard, kind: RuleKind, pattern: EventPattern): Promise<string> {
    const queueArn = card.endpoint.queueArn;
    if (queueArn === undefined) {
      throw new ValidationError('subscription', [
        {
          path: 'agentId',
          message: `agent ${card.agentId} has no queueArn in its card; events are delivered to queues`,
        },
      ]);
    }
    const name = ruleName(card.agentId, kind);
    await this.#eventBridge.send(
      new PutRuleCommand({
        Name: name,
        EventBusName: this.#eventBusName,
        EventPattern: JSON.stringify(pattern),
        State: 'ENABLED',
        Description: `Mobius ${kind} for agent ${card.agentId}`,
      }),
    );
    await this.#eventBridge.send(
      new PutTargetsCommand({
        Rule: name,
        EventBusName: this.#eventBusName,
        Targets: [
          {
            Id: 'agent-queue',
            Arn: queueArn,
            ...(isFifoEndpoint(card.endpoint)
              ? { SqsParameters: { MessageGroupId: `mobius-${kind}` } }
              : {}),
          },
        ],
      }),
    );
    return name;
  }

  // ── helpers ─────────────────────────────────────────────────────────────────────────────────

  /**
   * Feeds metrics and the breaker. Bookkeeping never replaces the delivery's own result or error:
   * a failed write is logged, and an agent deregistered meanwhile has nothing left to record.
   */
  async #record(agentId: string, ok: boolean, latencyMs: number): Promise<void> {
    try {
      await this.#registry.recordOutcome(agentId, { ok, latencyMs });
    } catch (error) {
      if (!(error instanceof NotFoundError))
        console.warn(`mobius: could not record the outcome for ${agentId}: ${String(error)}`);
    }
  }

  /** The recipient's registry record; nothing is claimed yet (see #admit). */
  async #recipient(message: Envelope): Promise<Recipient> {
    return this.#registry.get(recipientId(message));
  }

  /**
   * The breaker's say, asked last, once the message is known to be sendable: closed lets it
   * through; after the cool-down this caller must win the half-open probe; otherwise
   * NoAgentAvailableError.
   */
  async #admit(recipient: Recipient): Promise<void> {
    const { card, circuit } = recipient;
    if (circuit.state === 'closed' || (await this.#registry.tryAcquire(card.agentId))) return;
    // Not the consecutive-failure count: outcomes recorded while the breaker cools down (queued
    // messages still being handled) move it, so it no longer says why the breaker opened.
    const since = circuit.openedAt === null ? '' : ` since ${circuit.openedAt}`;
    const why =
      circuit.state === 'half_open'
        ? 'its circuit breaker is half-open and another request is the probe'
        : `its circuit breaker has been open${since} after repeated failures; once the cool-down has passed, one message is let through as a probe`;
    throw new NoAgentAvailableError(`Agent ${card.agentId} is not accepting messages: ${why}.`, {
      agentId: card.agentId,
      circuit,
    });
  }

  /**
   * The message, re-stamped with the highest protocol version both sides speak: the router offers
   * every version of the protocol it knows up to the message's own (see offeredVersions).
   */
  #negotiated(message: Envelope, card: AgentCard): Envelope {
    const version = negotiateProtocol(
      message.protocol.name,
      offeredVersions(message.protocol),
      card,
    );
    return version === message.protocol.version
      ? message
      : { ...message, protocol: { ...message.protocol, version } };
  }
}

type Recipient = AgentRecord;

/** An agent's answer to a synchronous request; an answer that is not an envelope is its failure. */
function replyOf(agentId: string, text: string): Envelope {
  try {
    return deserialize(text);
  } catch (error) {
    throw new AgentFailedError(
      `Agent ${agentId} answered with something that is not a Mobius message: ${(error as Error).message}`,
      { agentId },
      { cause: error },
    );
  }
}

function recipientId(message: Envelope): string {
  if (typeof message.to !== 'string') {
    throw new ValidationError('message', [
      { path: 'to', message: 'direct messages go to one agent id; publish broadcasts instead' },
    ]);
  }
  return message.to;
}

function queueOf(card: AgentCard): string {
  const queueUrl = card.endpoint.queueUrl;
  if (queueUrl === undefined) {
    throw new ValidationError('message', [
      {
        path: 'to',
        message: `agent ${card.agentId} has no queue; send it a request (synchronous invocation) instead`,
      },
    ]);
  }
  return queueUrl;
}

function fifoFields(card: AgentCard, message: Envelope) {
  return isFifoEndpoint(card.endpoint)
    ? { MessageGroupId: message.conversationId, MessageDeduplicationId: message.messageId }
    : {};
}

function capabilityNames(card: AgentCard): string[] {
  return [...new Set(card.capabilities.map((c) => c.name))];
}

/** Splits items into chunks of at most `entries` items and `bytes` bytes of JSON. */
function chunkBySize<T>(items: readonly T[], entries: number, bytes: number): T[][] {
  const chunks: T[][] = [];
  let current: T[] = [];
  let size = 0;
  for (const item of items) {
    const itemSize = Buffer.byteLength(JSON.stringify(item), 'utf8');
    if (current.length > 0 && (current.length >= entries || size + itemSize > bytes)) {
      chunks.push(current);
      current = [];
      size = 0;
    }
    current.push(item);
    size += itemSize;
  }
  if (current.length > 0) chunks.push(current);
  return chunks;
}

/**
 * The agent's endpoint is gone (its queue deleted, its function removed) or its card names one that
 * never existed: the agent cannot be reached, which is a 503 naming it and the endpoint, and which
 * the caller has already recorded as the agent's failure.
 */
function unreachable(
  agentId: string,
  endpoint: { queueUrl: string } | { lambdaArn: string },
  cause: Error,
): NoAgentAvailableError {
  const [kind, address] =
    'queueUrl' in endpoint ? ['queue', endpoint.queueUrl] : ['Lambda function', endpoint.lambdaArn];
  return new NoAgentAvailableError(
    `Agent ${agentId} is unreachable: its ${kind} ${address} does not exist. Deploy the agent again, or register it with its current endpoint.`,
    { agentId, ...endpoint },
    { cause },
  );
}

/** The error a Lambda FunctionError payload describes, as an AgentFailedError. */
function agentFailure(agentId: string, payload: string): AgentFailedError {
  let errorType = 'Error';
  let errorMessage = payload;
  try {
    const parsed = JSON.parse(payload) as { errorType?: unknown; errorMessage?: unknown };
    if (typeof parsed.errorType === 'string') errorType = parsed.errorType;
    if (typeof parsed.errorMessage === 'string') errorMessage = parsed.errorMessage;
  } catch {
    // not JSON: keep the raw text as the message
  }
  return new AgentFailedError(`Agent ${agentId} failed: ${errorMessage}`, {
    agentId,
    errorType,
    retryable: errorType === AGENT_ERROR_NAMES.retryable,
  });
}
