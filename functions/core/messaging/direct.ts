import {
  ResourceNotFoundException as FunctionNotFound,
  InvokeCommand,
  InvokeWithResponseStreamCommand,
  type InvokeWithResponseStreamResponseEvent,
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
import type { StreamChunk } from '../streaming/chunks.ts';
import { readFrames } from '../streaming/frames.ts';
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

/**
 * What a streamed request yields, in order: the agent's chunks (`seq` 0, 1, 2… with no gap), then
 * its response envelope, last. A failure ends the iteration with an error instead (see
 * DirectDelivery.requestStream).
 */
export type StreamedReply = { readonly chunk: StreamChunk } | { readonly response: Envelope };

/** A streamed request the agent has accepted: whom it went to, and what it answers. */
export interface ReplyStream {
  readonly agentId: string;
  readonly messageId: string;
  readonly frames: AsyncIterable<StreamedReply>;
}

export interface RequestStreamOptions {
  /**
   * The caller went away: aborting it ends the invocation and the iteration, quietly. The agent's
   * next chunk then fails to be written, which stops its handler (the agent SDK's streaming entry
   * ends a generator at its next `yield`, running its `finally`, and fails the next
   * `context.stream`); an embedded invocation still waiting for a slot is given up. The agent did
   * not fail: see requestStream for what its breaker hears.
   */
  readonly signal?: AbortSignal;
}

const DEFAULT_REQUEST_TIMEOUT_SECONDS = 30;

/**
 * Messages to one agent: to its SQS queue (one, or batches), and requests that wait for the
 * answer (a synchronous Lambda invocation, or the queue and a reply queue). Every delivery is
 * refused while the recipient is drained (but for responses), admitted by its breaker, and its
 * failures feed the breaker (see Recipients).
 */
export class DirectDelivery {
  readonly #recipients: Recipients;
  readonly #sqs: SQSClient;
  readonly #lambda: LambdaClient;
  readonly #replies: ReplyListener | undefined;
  readonly #clock: Clock;
  /** The Lambda endpoint answered that it does not implement InvokeWithResponseStream. */
  #streamingUnsupported = false;

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
    this.#recipients.takesMessage(recipient, prepared);
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
      const recipient = recipients.get(recipientId(message)) as Recipient;
      const { card } = recipient;
      const prepared = this.#recipients.negotiated(message, card);
      assertFits(prepared, LIMITS.sqsMessageBytes, 'SQS');
      this.#recipients.takesMessage(recipient, prepared);
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
      this.#recipients.takesMessage(recipient, prepared);
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
    this.#recipients.takesMessage(recipient, withReply);
    await this.#recipients.admit(recipient);
    return this.#requestViaQueue(card, queueUrl, withReply, replies, timeoutMs);
  }

  /**
   * Sends a request and streams the answer: the agent's chunks as it produces them, then its
   * response. The agent is invoked with Lambda's InvokeWithResponseStream on its streaming
   * function (`endpoint.streamArn`, else `lambdaArn`), and its frames (see streaming/frames.ts)
   * are read from the PayloadChunk events as they arrive, so a slow reader slows the agent down
   * instead of filling memory here. Resolves once the invocation has started; lookup, breaker,
   * unreachable function and throttling errors reject then, as `request` would. The whole stream
   * is bounded by the message's `timeout` (default 30 s; the API allows up to 880 when it streams)
   * and ends in a TimeoutError.
   *
   * The agent's failure ends the iteration with an AgentFailedError: an `error` frame (its handler
   * threw) or an InvokeComplete event with an ErrorCode (its invocation crashed or timed out).
   *
   * The breaker and the agent's metrics hear the outcome once, at the end, with the time to the
   * agent's first frame as its latency: that is how responsive the agent is, where the whole
   * stream's length is the answer's (a model writing for a minute is not a slow agent). Once a
   * frame has arrived the agent has answered, so a deadline or the caller leaving after that counts
   * as a success: only the agent's own failure (an error frame, an InvokeComplete error, frames out
   * of order or a stream without a response) counts against it. Before any frame, the deadline is
   * its failure, as for `request`; a caller leaving is nobody's, and throttling (busy, not broken)
   * is not counted either. An endpoint that does not implement
   * InvokeWithResponseStream (LocalStack answers 501) is invoked with Invoke instead: the same
   * frames, all at once when the agent has finished (a warning says so, once).
   *
   * A queue-only agent cannot stream: a ValidationError naming it. Iterate `frames` to the end, or
   * abort `options.signal`: the invocation is held open until one of them (or the timeout) ends it.
   */
  async requestStream(input: unknown, options: RequestStreamOptions = {}): Promise<ReplyStream> {
    const message = parseWith(envelopeSchema, input, 'request');
    if (message.type !== 'request') {
      throw new ValidationError('request', [
        { path: 'type', message: 'only a message of type "request" has an answer to stream' },
      ]);
    }
    const recipient = await this.#recipients.lookup(message);
    annotate({ agentId: recipient.card.agentId });
    const { card } = recipient;
    const functionName = card.endpoint.streamArn ?? card.endpoint.lambdaArn;
    if (functionName === undefined) {
      throw new ValidationError('request', [
        {
          path: 'to',
          message: `agent ${card.agentId} is reached through its queue only, and streaming needs a Lambda endpoint: deploy it as a Lambda function, or send the request without streaming`,
        },
      ]);
    }
    const prepared = this.#recipients.negotiated(message, card);
    this.#recipients.takesMessage(recipient, prepared);
    await this.#recipients.admit(recipient);
    const timeoutMs = (message.timeout ?? DEFAULT_REQUEST_TIMEOUT_SECONDS) * 1000;
    const stream = new InvocationStream({
      card,
      functionName,
      message: prepared,
      timeoutMs,
      callerSignal: options.signal,
      startedAt: this.#clock.now(),
    });
    // Time to the first frame (see above), or to the end when none came.
    const settle = (ok: boolean) =>
      this.#recipients.record(
        card.agentId,
        ok,
        (stream.firstFrameAt ?? this.#clock.now()) - stream.startedAt,
      );
    let bytes: AsyncIterable<Uint8Array>;
    try {
      bytes = await this.#open(stream);
    } catch (error) {
      const reason = stream.reason();
      stream.close();
      const mapped = this.#invokeError(card, functionName, reason ?? error);
      // A caller that went away says nothing about the agent.
      if (mapped.counts && !(reason instanceof CallerGone)) await settle(false);
      throw mapped.error;
    }
    return {
      agentId: card.agentId,
      messageId: prepared.messageId,
      frames: this.#streamedReplies(stream, bytes, settle),
    };
  }

  /**
   * Starts the invocation and returns the bytes the agent writes. InvokeWithResponseStream first;
   * once an endpoint has said it does not implement it, Invoke (the frames arrive all at once).
   */
  async #open(stream: InvocationStream): Promise<AsyncIterable<Uint8Array>> {
    const { functionName, message, signal } = stream;
    const payload = Buffer.from(serialize(message));
    if (!this.#streamingUnsupported) {
      try {
        const response = await stream.bounded(
          this.#lambda.send(
            new InvokeWithResponseStreamCommand({ FunctionName: functionName, Payload: payload }),
            { abortSignal: signal },
          ),
        );
        return payloadsOf(stream, response.EventStream);
      } catch (error) {
        if (!isUnsupportedOperation(error)) throw error;
        this.#streamingUnsupported = true;
        console.warn(
          `mobius: the Lambda endpoint does not implement InvokeWithResponseStream (${(error as Error).message}); streamed requests are answered through Invoke from now on, their chunks all at once when the agent has finished.`,
        );
      }
    }
    const response = await stream.bounded(
      this.#lambda.send(new InvokeCommand({ FunctionName: functionName, Payload: payload }), {
        abortSignal: signal,
      }),
    );
    const bytes = new Uint8Array(response.Payload ?? new Uint8Array());
    if (response.FunctionError !== undefined)
      throw agentFailure(stream.card.agentId, Buffer.from(bytes).toString('utf8'));
    return (async function* () {
      yield bytes;
    })();
  }

  /**
   * The agent's frames as replies: chunks in order, the response once the invocation has
   * completed cleanly. Records the outcome once (see requestStream for which), unless the caller
   * went away before the agent's first frame.
   */
  async *#streamedReplies(
    stream: InvocationStream,
    bytes: AsyncIterable<Uint8Array>,
    settle: (ok: boolean) => Promise<void>,
  ): AsyncGenerator<StreamedReply> {
    const { card, message } = stream;
    let outcome: boolean | undefined;
    try {
      let response: Envelope | undefined;
      let seq = 0;
      for await (const frame of stream.iterate(readFrames(card.agentId, bytes))) {
        stream.firstFrameAt ??= this.#clock.now();
        if (response !== undefined) {
          throw new AgentFailedError(`Agent ${card.agentId} went on writing after its response.`, {
            agentId: card.agentId,
          });
        }
        if ('error' in frame) throw agentFailure(card.agentId, frame.error);
        if ('chunk' in frame) {
          if (frame.chunk.seq !== seq) {
            throw new AgentFailedError(
              `Agent ${card.agentId} streamed chunk ${frame.chunk.seq} where chunk ${seq} was due.`,
              { agentId: card.agentId, expected: seq, received: frame.chunk.seq },
            );
          }
          seq++;
          yield frame;
          continue;
        }
        response = replyTo(card.agentId, message, frame.response);
      }
      if (response === undefined) {
        throw new AgentFailedError(`Agent ${card.agentId} ended its stream without a response.`, {
          agentId: card.agentId,
        });
      }
      outcome = true;
      yield { response };
    } catch (error) {
      const reason = stream.reason();
      // Cut short after the agent had answered (a frame arrived): by the deadline, or by the caller
      // leaving. Neither is the agent's failure; it counts as answered.
      const cutShort = reason instanceof TimeoutError || reason instanceof CallerGone;
      if (cutShort && stream.firstFrameAt !== undefined) outcome = true;
      // The caller went away: its iteration ends quietly.
      if (reason instanceof CallerGone) return;
      const mapped = this.#invokeError(card, stream.functionName, reason ?? error);
      if (mapped.counts) outcome ??= false;
      throw mapped.error;
    } finally {
      stream.close();
      // Stopped by the caller at a `yield` (return(): it left while a chunk waited to be read)
      // after the agent had answered: as with any caller leaving, that counts as answered.
      if (outcome === undefined && stream.firstFrameAt !== undefined) outcome = true;
      if (outcome !== undefined) await settle(outcome);
    }
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
      const reply = replyTo(card.agentId, message, replyOf(card.agentId, text));
      ok = true;
      return reply;
    } catch (error) {
      const mapped = this.#invokeError(card, functionName, error);
      throttled = !mapped.counts;
      throw mapped.error;
    } finally {
      if (!throttled) await this.#recipients.record(card.agentId, ok, this.#clock.now() - started);
    }
  }

  /**
   * What a failed Lambda invocation means for the caller, for Invoke and InvokeWithResponseStream
   * alike: a function that does not exist is the agent being unreachable; throttling means the
   * agent is at its maxConcurrency (reserved concurrency), after the SDK's own retries — busy, not
   * broken: the caller may retry, and the breaker does not count it (`counts: false`).
   */
  #invokeError(
    card: AgentCard,
    functionName: string,
    error: unknown,
  ): { readonly error: unknown; readonly counts: boolean } {
    if (error instanceof FunctionNotFound)
      return { error: unreachable(card.agentId, { lambdaArn: functionName }, error), counts: true };
    if (error instanceof TooManyRequestsException) {
      return {
        error: new CapacityExceededError(
          `Agent ${card.agentId} is at its concurrency limit; retry shortly.`,
          { agentId: card.agentId, reason: error.name },
          { cause: error, retryAfterSeconds: 1 },
        ),
        counts: false,
      };
    }
    return { error, counts: true };
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

/** The agent's answer, checked to be the answer to `request`. */
function replyTo(agentId: string, request: Envelope, reply: Envelope): Envelope {
  if (reply.correlationId !== request.messageId) {
    throw new AgentFailedError(
      `Agent ${agentId} answered a different request (${reply.correlationId}).`,
      {
        agentId,
      },
    );
  }
  return reply;
}

/**
 * The error a Lambda FunctionError payload (or an agent's `error` frame, or an InvokeComplete
 * event's error) describes, as an AgentFailedError.
 */
function agentFailure(
  agentId: string,
  failure: string | { readonly errorType: string; readonly errorMessage: string },
): AgentFailedError {
  let errorType = 'Error';
  let errorMessage = typeof failure === 'string' ? failure : failure.errorMessage;
  if (typeof failure !== 'string') errorType = failure.errorType;
  else {
    try {
      const parsed = JSON.parse(failure) as { errorType?: unknown; errorMessage?: unknown };
      if (typeof parsed.errorType === 'string') errorType = parsed.errorType;
      if (typeof parsed.errorMessage === 'string') errorMessage = parsed.errorMessage;
    } catch {
      // not JSON: keep the raw text as the message
    }
  }

  return new AgentFailedError(`Agent ${agentId} failed: ${errorMessage}`, {
    agentId,
    errorType,
    retryable: errorType === AGENT_ERROR_NAMES.retryable,
  });
}

/**
 * The bounds of one streamed invocation: its deadline (the message's timeout, for the whole
 * stream) and its caller's signal, as one AbortSignal for the SDK call, and the means to stop
 * waiting on either at once — the SDK does not always reject promptly when aborted mid-body.
 */
class InvocationStream {
  readonly card: AgentCard;
  readonly functionName: string;
  readonly message: Envelope;
  readonly startedAt: number;
  /** When the agent's first frame arrived (the clock's time); unset until then. */
  firstFrameAt: number | undefined;
  readonly #controller = new AbortController();
  readonly #timer: NodeJS.Timeout;
  readonly #callerSignal: AbortSignal | undefined;
  readonly #onCallerAbort = () => this.#controller.abort(new CallerGone());

  constructor(options: {
    card: AgentCard;
    functionName: string;
    message: Envelope;
    timeoutMs: number;
    callerSignal: AbortSignal | undefined;
    startedAt: number;
  }) {
    this.card = options.card;
    this.functionName = options.functionName;
    this.message = options.message;
    this.startedAt = options.startedAt;
    const { agentId } = options.card;
    this.#timer = setTimeout(
      () =>
        this.#controller.abort(
          new TimeoutError(
            `Agent ${agentId} did not finish its streamed answer within ${options.timeoutMs / 1000} s.`,
            { agentId, messageId: options.message.messageId },
          ),
        ),
      options.timeoutMs,
    );
    this.#callerSignal = options.callerSignal;
    if (options.callerSignal?.aborted) this.#onCallerAbort();
    else options.callerSignal?.addEventListener('abort', this.#onCallerAbort, { once: true });
  }

  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  /** Why the invocation was cut short (a TimeoutError, or the caller leaving), if it was. */
  reason(): Error | undefined {
    return this.#controller.signal.aborted ? (this.#controller.signal.reason as Error) : undefined;
  }

  /** `work`, or the abort's reason as soon as the deadline passes or the caller leaves. */
  bounded<T>(work: Promise<T>): Promise<T> {
    const signal = this.#controller.signal;
    if (signal.aborted) {
      work.catch(() => undefined);
      return Promise.reject(signal.reason);
    }
    return new Promise<T>((resolve, reject) => {
      const onAbort = () => reject(signal.reason);
      signal.addEventListener('abort', onAbort, { once: true });
      work.then(
        (value) => {
          signal.removeEventListener('abort', onAbort);
          resolve(value);
        },
        (error: unknown) => {
          signal.removeEventListener('abort', onAbort);
          reject(error);
        },
      );
    });
  }

  /** Iterates `source`, each step bounded; stopping early closes it. */
  async *iterate<T>(source: AsyncIterable<T>): AsyncGenerator<T> {
    const iterator = source[Symbol.asyncIterator]();
    try {
      for (;;) {
        const next = await this.bounded(iterator.next());
        if (next.done === true) return;
        yield next.value;
      }
    } finally {
      // Not awaited: a source blocked on a body read would hold the caller; aborting ends it.
      iterator.return?.()?.catch(() => undefined);
    }
  }

  /** Ends the invocation (if still open) and the deadline. Safe to call more than once. */
  close(): void {
    clearTimeout(this.#timer);
    this.#callerSignal?.removeEventListener('abort', this.#onCallerAbort);
    if (!this.#controller.signal.aborted) this.#controller.abort(new StreamClosed());
  }
}

/** The reason a streamed invocation is aborted when its caller went away. */
class CallerGone extends Error {
  override readonly name = 'AbortError';
  constructor() {
    super('the caller stopped reading the streamed answer');
  }
}

/** The reason a streamed invocation is aborted once its reader is done with it. */
class StreamClosed extends Error {
  override readonly name = 'AbortError';
  constructor() {
    super('the streamed answer was read to its end, or abandoned');
  }
}

/**
 * The bytes of an InvokeWithResponseStream answer: its PayloadChunk payloads in order. An
 * InvokeComplete event with an ErrorCode (the invocation crashed, timed out, or its handler
 * threw outside the agent SDK) ends them with the agent's failure.
 */
async function* payloadsOf(
  stream: InvocationStream,
  events: AsyncIterable<InvokeWithResponseStreamResponseEvent> | undefined,
): AsyncGenerator<Uint8Array> {
  if (events === undefined) return;
  for await (const event of events) {
    if (event.PayloadChunk?.Payload !== undefined) yield event.PayloadChunk.Payload;
    else if (event.InvokeComplete !== undefined) {
      const { ErrorCode, ErrorDetails } = event.InvokeComplete;
      if (ErrorCode !== undefined && ErrorCode !== '') {
        throw agentFailure(stream.card.agentId, {
          errorType: ErrorCode,
          errorMessage: ErrorDetails ?? ErrorCode,
        });
      }
      return;
    }
  }
}

/**
 * Whether a Lambda endpoint answered that it does not implement the operation: LocalStack answers
 * InvokeWithResponseStream with 501 InternalFailure ("not currently supported"); other emulators
 * with UnknownOperation or NotImplemented errors.
 */
function isUnsupportedOperation(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
  return (
    status === 501 ||
    ['UnknownOperationException', 'NotImplemented', 'NotImplementedException'].includes(error.name)
  );
}
