import {
  ChangeMessageVisibilityBatchCommand,
  DeleteMessageBatchCommand,
  GetQueueAttributesCommand,
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
  /**
   * FIFO queues: messages held at once across all message groups (received, neither deleted nor
   * returned). A group whose handler is slow holds its later messages in memory, in order, so
   * this bounds what a stuck group can take from the others. @default 100
   */
  readonly maxHeldMessages?: number;
  readonly onError?: (error: unknown) => void;
  /**
   * The agent's free concurrency (the embedded runtime's AgentSlots), as an event source mapping
   * with `MaximumConcurrency` sees it: the poller receives nothing while the agent has no room,
   * and from a standard queue no more messages than it has room for, so excess work waits in the
   * queue rather than in memory past its visibility timeout. @default unlimited
   */
  readonly capacity?: PollerCapacity;
}

export interface PollerCapacity {
  /** Tasks the agent could start now without waiting. */
  room(): number;
  /** Resolves when room() may be above 0. */
  whenRoom(): Promise<void>;
}

export interface SqsPollerStopOptions {
  /**
   * How long handlers already running may take to finish; after that their messages are
   * abandoned: returned to the queue (visible at once), never deleted, even if the handler ends
   * later. @default no limit: wait for them
   */
  readonly graceMs?: number;
}

/** Entries per SQS batch call. */
const SQS_BATCH = 10;

/**
 * What Lambda's SQS event source mapping does, for the embedded runtime: long-poll the queue,
 * invoke the handler with an SQS event, delete the records that succeeded and leave the reported
 * batch item failures to be redelivered (the queue's redrive policy moves a message to its
 * dead-letter queue after maxReceiveCount receives). A handler that throws fails the whole batch.
 *
 * Standard queues: one batch at a time. FIFO queues: as Lambda does for them, one message group's
 * messages are handled one after another, in queue order (each invocation carries one group's
 * messages), while different groups are handled in parallel. The poller also keeps the message
 * group lock SQS keeps and local-aws-sqs lacks (its receive hands out any visible message, group
 * or not): a group whose message failed takes no further message until that one is back, and
 * messages it receives meanwhile go straight back to the queue, to become visible after it.
 *
 * On a FIFO queue, messages the poller holds stay invisible however long they wait for their
 * turn or their handler takes (a visibility change before their timeout ends, as a long-running
 * consumer does on SQS): one that came back meanwhile would be handled out of order. Standard
 * queues keep Lambda's contract: a message still being handled when its visibility timeout ends is
 * delivered again. (local-aws-sqs counts every visibility change as a receive, so each extension
 * also brings a message one receive closer to its dead-letter queue: extensions are kept to the
 * messages about to become visible.)
 */
export class SqsPoller {
  readonly #options: SqsPollerOptions;
  readonly #fifo: boolean;
  #running = false;
  /** Between stop() and its end: lanes start no new batch. */
  #stopping = false;
  #loop: Promise<void> | undefined;
  /** Ends the long poll in flight when the poller stops. */
  #receiving = new AbortController();
  /**
   * Received and neither deleted nor returned, by message id, with the earliest and the latest
   * time (ms) it can become visible again unless extended.
   */
  readonly #held = new Map<string, { message: Message; visibleFrom: number; visibleBy: number }>();
  /** Batches being handled and settled: what stop() waits for. */
  readonly #inFlight = new Set<Promise<void>>();
  /** FIFO: per message group, its messages waiting for their turn, in queue order. */
  readonly #lanes = new Map<string, Message[]>();
  /** FIFO: groups whose failed messages are back in the queue, invisible until this time (ms). */
  readonly #blockedUntil = new Map<string, number>();
  /**
   * Moved on by stop() when the grace period ends: a handler or lane started before then is
   * abandoned for good, even after a later start() (its messages were returned to the queue, and
   * may have been received again since): late handlers' results are ignored.
   */
  #generation = 0;
  #heartbeat: NodeJS.Timeout | undefined;
  #visibilityTimeout: Promise<number> | undefined;
  /**
   * Visibility changes go out one after another, in the order they were decided: an extension
   * sent before a release must not land after it (it would hide a failed message for a whole
   * timeout), and a message bounced from a blocked group must be timed after its group's release.
   */
  #visibilityChanges: Promise<void> = Promise.resolve();
  /** Wakes the FIFO receive loop when held messages are released. */
  #released: (() => void) | undefined;

  constructor(options: SqsPollerOptions) {
    this.#options = options;
    this.#fifo = options.queueArn.endsWith('.fifo');
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#receiving = new AbortController();
    this.#loop = this.#run();
  }

  /**
   * Stops receiving at once (a receive cut short returns nothing: the queue keeps the messages)
   * and waits for the handlers already running, at most `graceMs`. Messages not handled by then,
   * and FIFO messages still waiting for their turn, are returned to the queue: visible at once,
   * never deleted.
   */
  async stop(options: SqsPollerStopOptions = {}): Promise<void> {
    this.#running = false;
    this.#stopping = true;
    this.#receiving.abort();
    this.#wake();
    try {
      const idle = Promise.all([this.#loop, ...this.#inFlight]).then(() => true);
      const graceMs = options.graceMs;
      let timer: NodeJS.Timeout | undefined;
      const finished =
        graceMs === undefined
          ? await idle
          : await Promise.race([
              idle,
              new Promise<false>((resolve) => {
                timer = setTimeout(() => resolve(false), graceMs);
              }),
            ]);
      clearTimeout(timer);
      if (!finished) this.#generation++;
      // Their messages are still held and go back to the queue below. The arrays are emptied, not
      // just dropped: a lane whose handler is still running holds its own, and would hand them to
      // the handler once it settles.
      for (const lane of this.#lanes.values()) lane.length = 0;
      this.#lanes.clear();
      await this.#release(this.#heldMessages(), () => 0).catch((error: unknown) =>
        this.#options.onError?.(error),
      );
    } finally {
      this.#stopHeartbeat();
      this.#stopping = false;
    }
  }

  /**
   * Receives one batch and handles it; returns how many messages it saw. On a FIFO queue, resolves
   * when this batch's messages are settled (they may wait behind earlier ones of their group).
   */
  async pollOnce(max = this.#options.batchSize ?? SQS_BATCH): Promise<number> {
    const messages = await this.#receive(max);
    if (messages.length === 0) return 0;
    if (this.#fifo) await this.#dispatchFifo(messages);
    else await this.#track(this.#handleBatch(messages));
    return messages.length;
  }

  async #run(): Promise<void> {
    while (this.#running) {
      try {
        const room = await this.#room();
        if (room === 0) continue; // stopping
        if (!this.#fifo) {
          const max = Math.min(this.#options.batchSize ?? SQS_BATCH, room);
          if (this.#options.capacity === undefined) {
            await this.pollOnce(max);
            continue;
          }
          // A bounded agent handles a batch's records one at a time (the agent SDK does, to keep
          // maxConcurrency a bound on its work): each received message is its own invocation
          // here, one slot each, as concurrent batches of an event source mapping would be.
          const messages = await this.#receive(max);
          await Promise.all(messages.map((message) => this.#track(this.#handleBatch([message]))));
          continue;
        }
        // FIFO: keep receiving while groups are being handled, so a slow group does not hold
        // the others back; its later messages wait in its lane.
        const held = (this.#options.maxHeldMessages ?? 100) - this.#held.size;
        if (held <= 0) {
          await new Promise<void>((resolve) => {
            this.#released = resolve;
          });
          continue;
        }
        // Each group's invocation takes one slot; its later messages wait in its lane.
        const messages = await this.#receive(Math.min(this.#options.batchSize ?? SQS_BATCH, held));
        // Not awaited (the loop goes on receiving), so its failures are reported here: returning
        // bounced messages can fail (connection reset, server stopping), and a rejection nobody
        // handles outside any agent invocation would end the whole process.
        if (messages.length > 0)
          void this.#dispatchFifo(messages).catch((error: unknown) =>
            this.#options.onError?.(error),
          );
      } catch (error) {
        if (!this.#running) break; // the receive was aborted by stop()
        this.#options.onError?.(error);
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    }
  }

  /** Waits until the agent has room (see capacity); 0 when the poller stops meanwhile. */
  async #room(): Promise<number> {
    const capacity = this.#options.capacity;
    if (capacity === undefined) return Number.POSITIVE_INFINITY;
    const { signal } = this.#receiving;
    while (this.#running && capacity.room() === 0) {
      let onAbort: (() => void) | undefined;
      await new Promise<void>((resolve) => {
        onAbort = resolve;
        signal.addEventListener('abort', onAbort, { once: true });
        void capacity.whenRoom().then(resolve);
      });
      if (onAbort) signal.removeEventListener('abort', onAbort);
    }
    return this.#running ? capacity.room() : 0;
  }

  async #receive(max: number): Promise<Message[]> {
    const { sqs, queueUrl } = this.#options;
    // Known before any message is held: the heartbeat and the retry delay need it.
    const visibilityTimeout = await this.#queueVisibilityTimeout();
    const waitSeconds = this.#options.waitSeconds ?? 1;
    // local-aws-sqs starts a message's visibility timeout when it picks it, yet may answer only at
    // the end of the wait: the wait is added, so the timeout is whole once the message is here.
    const holdSeconds = visibilityTimeout + waitSeconds;
    const asked = Date.now();
    const { Messages: messages = [] } = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: queueUrl,
        MaxNumberOfMessages: max,
        WaitTimeSeconds: waitSeconds,
        VisibilityTimeout: holdSeconds,
        MessageSystemAttributeNames: ['All'],
        // The older name of the same list: local-aws-sqs answers only this one, and without it
        // records would lack their MessageGroupId.
        AttributeNames: ['All'],
        MessageAttributeNames: ['All'],
      }),
      { abortSignal: this.#receiving.signal },
    );
    // Picked between the request and the answer; visible again a hold after the pick.
    const visibleFrom = asked + holdSeconds * 1000;
    const visibleBy = Date.now() + holdSeconds * 1000;
    for (const message of messages)
      this.#held.set(message.MessageId ?? '', { message, visibleFrom, visibleBy });
    if (
      this.#fifo &&
      messages.length > 0 &&
      this.#heartbeat === undefined &&
      visibilityTimeout > 0
    ) {
      const period = Math.max(250, (visibilityTimeout * 1000) / 2);
      this.#heartbeat = setInterval(() => void this.#extend(visibilityTimeout, period), period);
      // A poller left running must not keep the process alive.
      this.#heartbeat.unref();
    }
    return messages;
  }

  /**
   * Queues each message behind the earlier ones of its group and starts the group's lane if it
   * is idle; resolves when these messages are settled.
   */
  async #dispatchFifo(messages: Message[]): Promise<void> {
    const bounced: Message[] = [];
    const lanes: Promise<void>[] = [];
    for (const message of messages) {
      const group = groupOf(message);
      const until = this.#blockedUntil.get(group);
      if (until !== undefined && until > Date.now()) {
        bounced.push(message);
        continue;
      }
      this.#blockedUntil.delete(group);
      const lane = this.#lanes.get(group);
      if (lane !== undefined) lane.push(message);
      else {
        this.#lanes.set(group, [message]);
        lanes.push(this.#track(this.#runLane(group)));
      }
    }
    // Back to the queue until their group's failed message is visible again, so it comes first.
    // (Timed when sent: the group's release is sent before, and its end is known by then.)
    if (bounced.length > 0)
      await this.#release(bounced, (message) =>
        secondsUntil(this.#blockedUntil.get(groupOf(message)) ?? 0),
      );
    // A message that joined a lane already running settles with that lane.
    await Promise.all([...lanes, ...this.#inFlight]);
  }

  /** Hands a group's messages to the handler, a batch at a time, until its lane is empty. */
  async #runLane(group: string): Promise<void> {
    const lane = this.#lanes.get(group);
    const generation = this.#generation;
    try {
      while (
        lane !== undefined &&
        lane.length > 0 &&
        !this.#stopping &&
        generation === this.#generation
      ) {
        const batch = lane.splice(0, this.#options.batchSize ?? SQS_BATCH);
        const failed = await this.#handle(batch);
        if (failed.length === 0 || generation !== this.#generation) continue;
        // As SQS does for a group whose message failed: nothing later in the group is handed out
        // until that message is back. The rest of the lane goes back with it, in order.
        const rest = lane.splice(0);
        // Blocked before any await, so messages of the group received meanwhile wait too.
        this.#blockedUntil.set(group, Number.POSITIVE_INFINITY);
        await this.#fail(failed, (until) => this.#blockedUntil.set(group, until));
        await this.#release(rest, () => secondsUntil(this.#blockedUntil.get(group) ?? 0));
      }
    } finally {
      if (this.#lanes.get(group) === lane) this.#lanes.delete(group);
    }
  }

  /** A standard queue's batch: one invocation; failures return to the queue after the retry delay. */
  async #handleBatch(messages: Message[]): Promise<void> {
    const failed = await this.#handle(messages);
    if (failed.length > 0) await this.#fail(failed);
  }

  /**
   * Failed messages go back to the queue: after retryDelaySeconds if set, else when their
   * visibility timeout ends (as on Lambda; no call, so local-aws-sqs, which counts every
   * visibility change as a receive, does not bring them closer to the dead-letter queue).
   * `visibleBy` learns the latest time they can be visible again, before any later visibility
   * change is worked out.
   */
  async #fail(failed: Message[], visibleBy?: (time: number) => void): Promise<void> {
    const delay = this.#options.retryDelaySeconds;
    if (delay === undefined) {
      visibleBy?.(
        Math.max(...failed.map((m) => this.#held.get(m.MessageId ?? '')?.visibleBy ?? 0)),
      );
      this.#forget(failed);
      return;
    }
    await this.#release(
      failed,
      () => delay,
      () => visibleBy?.(Date.now() + delay * 1000),
    );
  }

  /** One invocation: deletes what succeeded; resolves with what failed, still held. */
  async #handle(messages: Message[]): Promise<Message[]> {
    const { sqs, queueUrl } = this.#options;
    const generation = this.#generation;
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
    // Abandoned by stop(): the messages are back in the queue, and deleting them now would lose them
    // (even after a later start(), which may have received them again).
    if (generation !== this.#generation) return [];
    const succeeded = messages.filter((m) => !failedIds.has(m.MessageId ?? ''));
    for (const chunk of chunks(succeeded)) {
      await sqs.send(
        new DeleteMessageBatchCommand({ QueueUrl: queueUrl, Entries: entries(chunk) }),
      );
    }
    this.#forget(succeeded);
    return messages.filter((m) => failedIds.has(m.MessageId ?? ''));
  }

  /**
   * Gives messages back to the queue, each visible after `seconds(message)` (worked out when the
   * change is sent); `then` runs once it is done, before the next visibility change.
   */
  #release(
    messages: Message[],
    seconds: (message: Message) => number,
    then?: () => void,
  ): Promise<void> {
    this.#forget(messages);
    const { sqs, queueUrl } = this.#options;
    return this.#changeVisibility(async () => {
      try {
        for (const chunk of chunks(messages)) {
          await sqs.send(
            new ChangeMessageVisibilityBatchCommand({
              QueueUrl: queueUrl,
              Entries: chunk.map((m, i) => ({
                Id: String(i),
                ReceiptHandle: m.ReceiptHandle ?? '',
                VisibilityTimeout: seconds(m),
              })),
            }),
          );
        }
      } finally {
        then?.();
      }
    });
  }

  /**
   * The heartbeat: a held message that could become visible before the next beat gets another
   * visibility timeout. Only those: local-aws-sqs counts each change as a receive.
   */
  #extend(seconds: number, periodMs: number): Promise<void> {
    const { sqs, queueUrl } = this.#options;
    return this.#changeVisibility(async () => {
      const due = [...this.#held.values()].filter((h) => h.visibleFrom - Date.now() < 2 * periodMs);
      for (const chunk of chunks(due.map((h) => h.message))) {
        const asked = Date.now();
        // A message settled meanwhile is a per-entry failure in the answer, expected here.
        await sqs
          .send(
            new ChangeMessageVisibilityBatchCommand({
              QueueUrl: queueUrl,
              Entries: entries(chunk).map((e) => ({ ...e, VisibilityTimeout: seconds })),
            }),
          )
          .catch((error: unknown) => this.#options.onError?.(error));
        const visibleBy = Date.now() + seconds * 1000;
        for (const message of chunk) {
          const held = this.#held.get(message.MessageId ?? '');
          if (held === undefined) continue;
          held.visibleFrom = asked + seconds * 1000;
          held.visibleBy = visibleBy;
        }
      }
    });
  }

  #heldMessages(): Message[] {
    return [...this.#held.values()].map((h) => h.message);
  }

  #changeVisibility(change: () => Promise<void>): Promise<void> {
    const done = this.#visibilityChanges.then(change);
    this.#visibilityChanges = done.catch(() => undefined);
    return done;
  }

  #forget(messages: Message[]): void {
    for (const message of messages) this.#held.delete(message.MessageId ?? '');
    if (this.#held.size === 0) this.#stopHeartbeat();
    this.#wake();
  }

  #wake(): void {
    const wake = this.#released;
    this.#released = undefined;
    wake?.();
  }

  #queueVisibilityTimeout(): Promise<number> {
    this.#visibilityTimeout ??= this.#options.sqs
      .send(
        new GetQueueAttributesCommand({
          QueueUrl: this.#options.queueUrl,
          AttributeNames: ['VisibilityTimeout'],
        }),
      )
      .then(({ Attributes }) => Number(Attributes?.VisibilityTimeout ?? 30))
      .catch((error: unknown) => {
        this.#visibilityTimeout = undefined; // asked again next time
        throw error;
      });
    return this.#visibilityTimeout;
  }

  #stopHeartbeat(): void {
    clearInterval(this.#heartbeat);
    this.#heartbeat = undefined;
  }

  /** Counts work for stop() to wait for until it settles. */
  #track(work: Promise<void>): Promise<void> {
    const settled = work.catch((error: unknown) => this.#options.onError?.(error));
    this.#inFlight.add(settled);
    void settled.then(() => this.#inFlight.delete(settled));
    return settled;
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

/** Whole seconds from now until `time` (ms), rounded up: visible no earlier than then. */
function secondsUntil(time: number): number {
  // SQS's longest visibility timeout is 12 hours.
  return Math.min(43_200, Math.ceil(Math.max(0, time - Date.now()) / 1000));
}

function groupOf(message: Message): string {
  return message.Attributes?.MessageGroupId ?? '';
}

function chunks(messages: Message[]): Message[][] {
  const out: Message[][] = [];
  for (let i = 0; i < messages.length; i += SQS_BATCH) out.push(messages.slice(i, i + SQS_BATCH));
  return out;
}

function entries(messages: Message[]) {
  return messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle ?? '' }));
}
