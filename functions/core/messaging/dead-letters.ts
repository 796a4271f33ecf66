import {
  ListMessageMoveTasksCommand,
  type ListMessageMoveTasksResultEntry,
  type Message,
  ReceiveMessageCommand,
  type SQSClient,
  StartMessageMoveTaskCommand,
} from '@aws-sdk/client-sqs';

/** A message looked at in a dead-letter queue, as the API shows it. */
export interface PeekedMessage {
  readonly messageId: string;
  /** When it was first sent (SentTimestamp); null when SQS did not say. */
  readonly sentAt: string | null;
  /** ApproximateReceiveCount: receives from its own queue before it was dead-lettered, plus peeks. */
  readonly receiveCount: number;
  /** The body parsed as JSON when it is JSON, else the raw text. */
  readonly body: unknown;
  /** The message attributes its sender set (a parked message's `mobius-error` and `mobius-agent`). */
  readonly attributes: Record<string, string>;
}

/** The most ReceiveMessage returns in one call, and so the most one peek shows. */
export const MAX_PEEK = 10;

/**
 * Looks at up to `limit` messages of a queue without consuming them: ReceiveMessage with a
 * visibility timeout of 0 (each stays visible to its consumers; nothing is deleted), which counts
 * as a receive. It asks for `limit` whatever the queue's depth says: SQS's
 * ApproximateNumberOfMessages may lag the queue by a minute or more after messages arrive, so a
 * depth of 0 or 1 read just before says nothing of how many letters there are. The wait is a
 * second of long polling, which on SQS asks every server rather than a sample of them (a short
 * poll of a small queue may answer empty) and returns as soon as any message is there; on an
 * empty queue, or on implementations that wait for the whole count, it costs that second. A
 * message that became visible again during the wait may come twice: it is listed once.
 */
export async function peekQueue(
  sqs: SQSClient,
  queueUrl: string,
  options: { readonly limit: number },
): Promise<PeekedMessage[]> {
  const { Messages = [] } = await sqs.send(
    new ReceiveMessageCommand({
      QueueUrl: queueUrl,
      MaxNumberOfMessages: Math.min(options.limit, MAX_PEEK),
      VisibilityTimeout: 0,
      WaitTimeSeconds: 1,
      MessageSystemAttributeNames: ['All'],
      // The older name of the same list: local-aws-sqs (the embedded runtime's SQS) answers only
      // this one, and without it a message would lack its SentTimestamp and receive count.
      AttributeNames: ['All'],
      MessageAttributeNames: ['All'],
    }),
  );
  const seen = new Set<string>();
  const peeked: PeekedMessage[] = [];
  for (const message of Messages) {
    const messageId = message.MessageId ?? '';
    if (seen.has(messageId)) continue;
    seen.add(messageId);
    peeked.push(shown(message, messageId));
  }
  return peeked.slice(0, options.limit);
}

/** A received message as the API shows it. */
function shown(message: Message, messageId: string): PeekedMessage {
  const sent = Number(message.Attributes?.SentTimestamp);
  return {
    messageId,
    sentAt: Number.isFinite(sent) && sent > 0 ? new Date(sent).toISOString() : null,
    receiveCount: Number(message.Attributes?.ApproximateReceiveCount ?? 0) || 0,
    body: parsedBody(message.Body ?? ''),
    attributes: Object.fromEntries(
      Object.entries(message.MessageAttributes ?? {}).map(([name, value]) => [
        name,
        value.StringValue ??
          (value.BinaryValue === undefined
            ? ''
            : Buffer.from(value.BinaryValue).toString('base64')),
      ]),
    ),
  };
}

function parsedBody(body: string): unknown {
  try {
    return JSON.parse(body);
  } catch {
    return body;
  }
}

/** A message move task SQS has started. */
export interface MoveTask {
  /** What CancelMessageMoveTask takes; null when SQS no longer lists the task as running. */
  readonly taskHandle: string | null;
  /** How many messages the task set out to move, as SQS counted them at its start; null when unknown. */
  readonly approximateMessagesToMove: number | null;
}

/**
 * Starts moving every message of `source` (a dead-letter queue) to `destination`: SQS
 * StartMessageMoveTask, which runs asynchronously in SQS (at most one task per source queue). The
 * count to move is the one the task reports (ListMessageMoveTasks) right after it started.
 */
export async function startMove(
  sqs: SQSClient,
  move: { readonly sourceArn: string; readonly destinationArn: string },
): Promise<MoveTask> {
  const { TaskHandle } = await sqs.send(
    new StartMessageMoveTaskCommand({
      SourceArn: move.sourceArn,
      DestinationArn: move.destinationArn,
    }),
  );
  const latest = await latestMove(sqs, move.sourceArn).catch(() => undefined);
  // The newest task of the source is ours: listed with our handle while it runs, without one once
  // it finished (an empty queue's task may finish at once). Another task would have had to start
  // and finish in the few milliseconds between the two calls.
  const ours =
    latest !== undefined &&
    (latest.TaskHandle === undefined || latest.TaskHandle === TaskHandle) &&
    latest.DestinationArn === move.destinationArn;
  return {
    taskHandle: TaskHandle ?? null,
    approximateMessagesToMove: ours ? (latest.ApproximateNumberOfMessagesToMove ?? null) : null,
  };
}

/** The newest message move task of a source queue (ListMessageMoveTasks), if it ever had one. */
export async function latestMove(
  sqs: SQSClient,
  sourceArn: string,
): Promise<ListMessageMoveTasksResultEntry | undefined> {
  const { Results = [] } = await sqs.send(
    new ListMessageMoveTasksCommand({ SourceArn: sourceArn, MaxResults: 1 }),
  );
  return Results[0];
}
