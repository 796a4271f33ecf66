import {
  EventBridgeClient,
  PutEventsCommand,
  PutRuleCommand,
  PutTargetsCommand,
} from '@aws-sdk/client-eventbridge';
import { CreateQueueCommand, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOCAL_CREDENTIALS, LOCAL_REGION } from '../../functions/embedded/dynamodb-engine.ts';
import {
  type EventBusServer,
  startEventBusServer,
} from '../../functions/embedded/event-bus-server.ts';
import { type SqsServer, startSqsServer } from '../../functions/embedded/sqs-server.ts';

const ACCOUNT = '000000000000';
let sqsServer: SqsServer;
let bus: EventBusServer;
let sqs: SQSClient;
let events: EventBridgeClient;

const arnOf = (name: string) => `arn:aws:sqs:${LOCAL_REGION}:${ACCOUNT}:${name}`;

beforeAll(async () => {
  sqsServer = await startSqsServer();
  const local = { region: LOCAL_REGION, credentials: LOCAL_CREDENTIALS };
  sqs = new SQSClient({ ...local, endpoint: sqsServer.endpoint });
  bus = await startEventBusServer({
    sqs,
    queueUrlOf: (arn) => `${sqsServer.endpoint}/${arn.split(':')[4]}/${arn.split(':')[5]}`,
    accountId: ACCOUNT,
  });
  events = new EventBridgeClient({ ...local, endpoint: bus.endpoint });
});

afterAll(async () => {
  await bus.stop();
  await sqsServer.stop();
});

async function receiveAll(queueUrl: string) {
  const { Messages = [] } = await sqs.send(
    new ReceiveMessageCommand({
      QueueUrl: queueUrl,
      MaxNumberOfMessages: 10,
      WaitTimeSeconds: 1,
      MessageAttributeNames: ['All'],
    }),
  );
  return Messages;
}

describe('the embedded event bus', () => {
  it('delivers to every target on its own: a target whose queue is gone goes to its dead-letter queue, the others still get the event', async () => {
    const { QueueUrl: alive } = await sqs.send(new CreateQueueCommand({ QueueName: 'alive' }));
    const { QueueUrl: dlq } = await sqs.send(new CreateQueueCommand({ QueueName: 'rule-dlq' }));
    await events.send(
      new PutRuleCommand({ Name: 'everyone', EventPattern: JSON.stringify({ source: ['test'] }) }),
    );
    await events.send(
      new PutTargetsCommand({
        Rule: 'everyone',
        Targets: [
          { Id: 'gone', Arn: arnOf('never-created'), DeadLetterConfig: { Arn: arnOf('rule-dlq') } },
          { Id: 'alive', Arn: arnOf('alive') },
          { Id: 'gone-without-dlq', Arn: arnOf('also-never-created') },
        ],
      }),
    );

    const response = await events.send(
      new PutEventsCommand({
        Entries: [{ Source: 'test', DetailType: 'greeting', Detail: JSON.stringify({ hi: 1 }) }],
      }),
    );

    expect(response.FailedEntryCount).toBe(0);
    const delivered = await receiveAll(alive as string);
    expect(delivered.map((m) => JSON.parse(m.Body as string).detail)).toEqual([{ hi: 1 }]);
    const parked = await receiveAll(dlq as string);
    expect(parked).toHaveLength(1);
    expect(JSON.parse(parked[0]?.Body as string).detail).toEqual({ hi: 1 });
    expect(parked[0]?.MessageAttributes).toMatchObject({
      TARGET_ARN: { StringValue: arnOf('never-created') },
      ERROR_CODE: { StringValue: expect.stringMatching(/QueueDoesNotExist|NonExistentQueue/) },
    });
  });
});
