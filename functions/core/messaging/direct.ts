import {
  ResourceNotFoundException as FunctionNotFound,
  InvokeCommand,
  type LambdaClient,
  TooManyRequestsException,
} from '@aws-sdk/client-lambda';
import {
  QueueDoesNotExist,
  SendMessageBatchCommand,
  type SendMessageBatchResult,
  SendMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { annotate } from '../aws/tracing.ts';
import type { Clock } from '../clock.ts';
import { withDeadline } from '../deadline.ts';
import {
  AgentFailedError,
  CapacityExceededError,
  TimeoutError,
  ValidationError,
} from '../errors.ts';
import type { AgentCard } from '../model/agent-card.ts';
import { parseWith } from '../validation.ts';
import { AGENT_ERROR_NAMES } from './agent-errors.ts';
import { chunkBySize, MAX_ENTRY_ATTEMPTS, pause } from './chunks.ts';
import { assertFits, deserialize, type Envelope, envelopeSchema, serialize } from './envelope.ts';
import { LIMITS } from './limits.ts';
import {
  fifoFields,
  queueOf,
  type Recipient,
  type Recipients,
  recipientId,
  unreachable,
} from './recipients.ts';
import type { ReplyListener } from './reply-listener.ts';

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

const DEFAULT_REQUEST_TIMEOUT_SECONDS = 30;

/**
 * Messages to one agent: to its SQS queue (one, or batches), and requests that wait for the
 * answer (a synchronous Lambda invocation, or the queue and a reply queue). Every delivery is
 * admitted by the recipient's breaker and its failures feed it (see Recipients).
 */
export class DirectDelivery {
  readonly #recipients: Recipients;
  readonly #sqs: SQSClient;
  readonly #lambda: LambdaClient;
  readonly #replies: ReplyListener | undefined;
  readonly #clock: Clock;

  constructor(options: {
    recipients: Recipients;
    sqs: SQSClient;
    lambda: LambdaClient;
    replies: ReplyListener | undefined;
    clock: Clock;
  }) {
    this.#recipients = options.recipients;
    this.#sqs = options.sqs;
    this.#lambda = options.lambda;
    this.#replies = options.replies;
    this.#clock = options.clock;
  }

  /**
   * Sends one message to its recipient's queue. FIFO queues get MessageGroupId = conversation (so
   * a conversation stays in order) and MessageDeduplicationId = messageId (so a resend within the
   * five-minute window is not delivered twice).
   */
  async send(input: unknown): Promise<SendReceipt> {
    const message = parseWith(envelopeSchema, input, 'message');
    const recipient = await this.#recipients.lookup(message);
    annotate({ agentId: recipient.card.agentId });
    const prepared = this.#recipients.negotiated(message, recipient.card);
    const queueUrl = queueOf(recipient.card);
    assertFits(prepared, LIMITS.sqsMessageBytes, 'SQS');
    await this.#recipients.admit(recipient);
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
      await this.#recipients.record(card.agentId, false, 0);
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
      if (!recipients.has(to)) recipients.set(to, await this.#recipients.lookup(message));
    }
    // Every message is checked before any breaker is asked or anything is sent.
    const byQueue = new Map<string, { card: AgentCard; messages: Envelope[] }>();
    for (const message of messages) {
      const { card } = recipients.get(recipientId(message)) as Recipient;
      const prepared = this.#recipients.negotiated(message, card);
      assertFits(prepared, LIMITS.sqsMessageBytes, 'SQS');
      const queueUrl = queueOf(card);
      const group = byQueue.get(queueUrl) ?? { card, messages: [] };
      group.messages.push(prepared);
      byQueue.set(queueUrl, group);
    }
    for (const recipient of recipients.values()) await this.#recipients.admit(recipient);

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
      if (lost > 0) await this.#recipients.record(card.agentId, false, 0);
    }
    return { sent, failed };
  }

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
    const recipient = await this.#recipients.lookup(message);
    annotate({ agentId: recipient.card.agentId });
    const { card } = recipient;
    const via = options.via ?? (card.endpoint.lambdaArn !== undefined ? 'lambda' : 'queue');
    const timeoutMs = (message.timeout ?? DEFAULT_REQUEST_TIMEOUT_SECONDS) * 1000;
    const prepared = this.#recipients.negotiated(message, card);
    if (via === 'lambda') {
      const functionName = card.endpoint.lambdaArn;
      if (functionName === undefined) {
        throw new ValidationError('request', [
          { path: 'to', message: `agent ${card.agentId} has no Lambda endpoint; use via: "queue"` },
        ]);
      }
      await this.#recipients.admit(recipient);
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
    await this.#recipients.admit(recipient);
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
    let throttled = false;
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
      if (error instanceof TooManyRequestsException) {
        // At its maxConcurrency (reserved concurrency), after the SDK's own retries: the agent is
        // busy, not broken — the caller may retry, and the breaker does not count it.
        throttled = true;
        throw new CapacityExceededError(
          `Agent ${card.agentId} is at its concurrency limit; retry shortly.`,
          { agentId: card.agentId, reason: error.name },
          { cause: error, retryAfterSeconds: 1 },
        );
      }
      throw error;
    } finally {
      if (!throttled) await this.#recipients.record(card.agentId, ok, this.#clock.now() - started);
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
      if (error instanceof TimeoutError)
        await this.#recipients.record(card.agentId, false, timeoutMs);
      throw error;
    }
  }
}

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
