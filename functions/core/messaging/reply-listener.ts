import {
  DeleteMessageBatchCommand,
  type Message,
  ReceiveMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { TimeoutError } from '../errors.ts';
import { deserialize, type Envelope } from './envelope.ts';

interface Waiter {
  readonly resolve: (reply: Envelope) => void;
  readonly reject: (error: Error) => void;
  readonly timer: NodeJS.Timeout;
}

/**
 * Owns one reply queue for a process and hands each response to the caller awaiting its
 * correlationId. Polls only while someone is waiting. The queue must be private to this listener:
 * a reply nobody waits for any more (its caller timed out) is deleted, not left to circulate.
 */
export class ReplyListener {
  readonly queueUrl: string;
  readonly #sqs: SQSClient;
  readonly #pollSeconds: number;
  readonly #waiters = new Map<string, Waiter>();
  #polling = false;
  #stopped = false;
  /** Replies that arrived after their caller gave up. */
  lateReplies = 0;

  /** `pollSeconds`: long-poll length (1-20); stop() takes effect within one poll. */
  constructor(options: { queueUrl: string; sqs: SQSClient; pollSeconds?: number }) {
    this.queueUrl = options.queueUrl;
    this.#sqs = options.sqs;
    this.#pollSeconds = options.pollSeconds ?? 5;
  }

  /** Resolves with the response to `requestId`, or rejects with TimeoutError after `timeoutMs`. */
  wait(requestId: string, timeoutMs: number): Promise<Envelope> {
    const reply = new Promise<Envelope>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters.delete(requestId);
        reject(
          new TimeoutError(`No response to request ${requestId} within ${timeoutMs / 1000} s.`, {
            messageId: requestId,
          }),
        );
      }, timeoutMs);
      this.#waiters.set(requestId, { resolve, reject, timer });
    });
    this.#poll();
    return reply;
  }

  cancel(requestId: string): void {
    const waiter = this.#waiters.get(requestId);
    if (waiter === undefined) return;
    clearTimeout(waiter.timer);
    this.#waiters.delete(requestId);
  }

  stop(): void {
    this.#stopped = true;
    for (const [id, waiter] of this.#waiters) {
      clearTimeout(waiter.timer);
      waiter.reject(new Error(`reply listener stopped before request ${id} was answered`));
    }
    this.#waiters.clear();
  }

  #poll(): void {
    if (this.#polling || this.#stopped) return;
    this.#polling = true;
    this.#loop()
      .catch((error: unknown) =>
        this.#failAll(new Error('reading the reply queue failed', { cause: error })),
      )
      .finally(() => {
        this.#polling = false;
        if (this.#waiters.size > 0 && !this.#stopped) this.#poll();
      });
  }

  #failAll(error: Error): void {
    for (const waiter of this.#waiters.values()) {
      clearTimeout(waiter.timer);
      waiter.reject(error);
    }
    this.#waiters.clear();
  }

  async #loop(): Promise<void> {
    while (this.#waiters.size > 0 && !this.#stopped) {
      let messages: Message[] | undefined;
      try {
        ({ Messages: messages } = await this.#sqs.send(
          new ReceiveMessageCommand({
            QueueUrl: this.queueUrl,
            MaxNumberOfMessages: 10,
            WaitTimeSeconds: this.#pollSeconds,
          }),
        ));
      } catch (error) {
        this.#failAll(new Error('reading the reply queue failed', { cause: error }));
        return;
      }
      const handled: { Id: string; ReceiptHandle: string }[] = [];
      for (const [i, received] of (messages ?? []).entries()) {
        if (received.ReceiptHandle === undefined) continue;
        handled.push({ Id: String(i), ReceiptHandle: received.ReceiptHandle });
        let reply: Envelope;
        try {
          reply = deserialize(received.Body ?? '');
        } catch {
          continue; // not an envelope: nothing to hand over, and it must not circulate
        }
        const waiter =
          reply.correlationId === undefined ? undefined : this.#waiters.get(reply.correlationId);
        if (waiter === undefined || reply.correlationId === undefined) {
          this.lateReplies++;
          continue;
        }
        clearTimeout(waiter.timer);
        this.#waiters.delete(reply.correlationId);
        waiter.resolve(reply);
      }
      if (handled.length > 0) {
        // The replies are already handed over; one left undeleted comes back after its visibility
        // timeout as a late reply, and is deleted then.
        await this.#sqs
          .send(new DeleteMessageBatchCommand({ QueueUrl: this.queueUrl, Entries: handled }))
          .catch(() => undefined);
      }
    }
  }
}
