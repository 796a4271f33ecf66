import {
  ChangeMessageVisibilityBatchCommand,
  DeleteMessageBatchCommand,
  type Message,
  ReceiveMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import type { SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';

export interface SqsPollerOptions {
  readonly sqs: SQSClient;
  readonly queueUrl: string;
  readonly queueArn: string;
  /** The Lambda handler the queue feeds. */
  readonly handler: (event: SQSEvent) => Promise<unknown>;
  readonly batchSize?: number;
  /** Long-poll seconds per receive. */
  readonly waitSeconds?: number;
  /**
   * Seconds before a failed message is visible again (0: at once). Lambda leaves this to the
   * queue's visibility timeout, which is what happens when it is not set.
   */
  readonly retryDelaySeconds?: number;
  readonly onError?: (error: unknown) => void;
}

/**
 * What Lambda's SQS event source mapping does, for the embedded runtime: long-poll the queue,
 * invoke the handler with an SQS event, delete the records that succeeded and leave the reported
 * batch item failures to be redelivered (the queue's redrive policy moves a message to its
 * dead-letter queue after maxReceiveCount receives). A handler that throws fails the whole batch.
 */
export class SqsPoller {
  readonly #options: SqsPollerOptions;
  #running = false;
  #loop: Promise<void> | undefined;
  /** Ends the long poll in flight when the poller stops. */
  #receiving = new AbortController();

  constructor(options: SqsPollerOptions) {
    this.#options = options;
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#receiving = new AbortController();
    this.#loop = this.#run();
  }

  /**
   * Stops at once if it is waiting for messages (a receive cut short returns nothing: the queue
   * keeps them), or after the batch in hand is handled.
   */
  async stop(): Promise<void> {
    this.#running = false;
    this.#receiving.abort();
    await this.#loop;
  }

  /** Receives and handles one batch; returns how many messages it saw. */
  async pollOnce(): Promise<number> {
    const { sqs, queueUrl } = this.#options;
    const { Messages: messages = [] } = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: queueUrl,
        MaxNumberOfMessages: this.#options.batchSize ?? 10,
        WaitTimeSeconds: this.#options.waitSeconds ?? 1,
        MessageSystemAttributeNames: ['All'],
        MessageAttributeNames: ['All'],
      }),
      { abortSignal: this.#receiving.signal },
    );
    if (messages.length === 0) return 0;

    let failedIds: Set<string>;
    try {
      const response = (await this.#options.handler({
        Records: messages.map((m) => this.#record(m)),
      })) as SQSBatchResponse | undefined;
      failedIds = new Set((response?.batchItemFailures ?? []).map((f) => f.itemIdentifier));
    } catch (error) {
      this.#options.onError?.(error);
      failedIds = new Set(messages.map((m) => m.MessageId ?? ''));
    }
    const succeeded = messages.filter((m) => !failedIds.has(m.MessageId ?? ''));
    const failed = messages.filter((m) => failedIds.has(m.MessageId ?? ''));
    const entries = (list: Message[]) =>
      list.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle ?? '' }));
    if (succeeded.length > 0) {
      await sqs.send(
        new DeleteMessageBatchCommand({ QueueUrl: queueUrl, Entries: entries(succeeded) }),
      );
    }
    const delay = this.#options.retryDelaySeconds;
    if (failed.length > 0 && delay !== undefined) {
      await sqs.send(
        new ChangeMessageVisibilityBatchCommand({
          QueueUrl: queueUrl,
          Entries: entries(failed).map((e) => ({ ...e, VisibilityTimeout: delay })),
        }),
      );
    }
    return messages.length;
  }

  async #run(): Promise<void> {
    while (this.#running) {
      try {
        await this.pollOnce();
      } catch (error) {
        if (!this.#running) break; // the receive was aborted by stop()
        this.#options.onError?.(error);
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    }
  }

  #record(message: Message): SQSRecord {
    const attributes = message.Attributes ?? {};
    return {
      messageId: message.MessageId ?? '',
      receiptHandle: message.ReceiptHandle ?? '',
      body: message.Body ?? '',
      attributes: {
        ApproximateReceiveCount: attributes.ApproximateReceiveCount ?? '1',
        SentTimestamp: attributes.SentTimestamp ?? String(Date.now()),
        SenderId: attributes.SenderId ?? 'local',
        ApproximateFirstReceiveTimestamp:
          attributes.ApproximateFirstReceiveTimestamp ?? String(Date.now()),
        ...(attributes.MessageGroupId ? { MessageGroupId: attributes.MessageGroupId } : {}),
        ...(attributes.MessageDeduplicationId
          ? { MessageDeduplicationId: attributes.MessageDeduplicationId }
          : {}),
        ...(attributes.SequenceNumber ? { SequenceNumber: attributes.SequenceNumber } : {}),
      },
      messageAttributes: {},
      md5OfBody: message.MD5OfBody ?? '',
      eventSource: 'aws:sqs',
      eventSourceARN: this.#options.queueArn,
      awsRegion: this.#options.queueArn.split(':')[3] ?? 'local',
    };
  }
}
