import {
  CreateTableCommand,
  type CreateTableCommandInput,
  DescribeTableCommand,
  type DynamoDBClient,
  ResourceInUseException,
  UpdateTimeToLiveCommand,
} from '@aws-sdk/client-dynamodb';
import { EVENTS_TABLE } from '../streaming/table.ts';
import { IDEMPOTENCY_TABLE, REGISTRY_TABLE } from './table.ts';

/**
 * Creates the project's tables on an emulator (dynalite, moto, LocalStack) from the same
 * descriptions the CDK stack deploys. On AWS the tables come from CloudFormation instead.
 * Idempotent: an existing table is left as it is.
 */
export async function ensureRegistryTable(
  client: DynamoDBClient,
  tableName: string,
): Promise<void> {
  const { partitionKey, sortKey, byTypeIndex, ttlAttribute, streamViewType } = REGISTRY_TABLE;
  await ensureTable(
    client,
    {
      TableName: tableName,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [
        { AttributeName: partitionKey, AttributeType: 'S' },
        { AttributeName: sortKey, AttributeType: 'S' },
        { AttributeName: byTypeIndex.partitionKey, AttributeType: 'S' },
        { AttributeName: byTypeIndex.sortKey, AttributeType: 'S' },
      ],
      KeySchema: [
        { AttributeName: partitionKey, KeyType: 'HASH' },
        { AttributeName: sortKey, KeyType: 'RANGE' },
      ],
      GlobalSecondaryIndexes: [
        {
          IndexName: byTypeIndex.name,
          KeySchema: [
            { AttributeName: byTypeIndex.partitionKey, KeyType: 'HASH' },
            { AttributeName: byTypeIndex.sortKey, KeyType: 'RANGE' },
          ],
          Projection: { ProjectionType: 'ALL' },
        },
      ],
      // dynalite accepts this and keeps no stream; moto and LocalStack keep one, as AWS does.
      StreamSpecification: { StreamEnabled: true, StreamViewType: streamViewType },
    },
    ttlAttribute,
  );
}

/** The table Powertools idempotency keeps its records in (`id`, TTL on `expiration`). */
export async function ensureIdempotencyTable(
  client: DynamoDBClient,
  tableName: string,
): Promise<void> {
  await ensureTable(
    client,
    {
      TableName: tableName,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [{ AttributeName: IDEMPOTENCY_TABLE.partitionKey, AttributeType: 'S' }],
      KeySchema: [{ AttributeName: IDEMPOTENCY_TABLE.partitionKey, KeyType: 'HASH' }],
    },
    IDEMPOTENCY_TABLE.ttlAttribute,
  );
}

/**
 * The coordination event log (`coordinationId` S, `seq` N, TTL on `expiresAt`, the `byStart`
 * index of coordination summaries; see functions/core/streaming/table.ts). No stream: readers
 * query the log, they are not pushed to.
 */
export async function ensureEventsTable(client: DynamoDBClient, tableName: string): Promise<void> {
  const { partitionKey, sortKey, ttlAttribute, listIndex } = EVENTS_TABLE;
  await ensureTable(
    client,
    {
      TableName: tableName,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [
        { AttributeName: partitionKey, AttributeType: 'S' },
        { AttributeName: sortKey, AttributeType: 'N' },
        { AttributeName: listIndex.partitionKey, AttributeType: 'S' },
        { AttributeName: listIndex.sortKey, AttributeType: 'S' },
      ],
      KeySchema: [
        { AttributeName: partitionKey, KeyType: 'HASH' },
        { AttributeName: sortKey, KeyType: 'RANGE' },
      ],
      GlobalSecondaryIndexes: [
        {
          IndexName: listIndex.name,
          KeySchema: [
            { AttributeName: listIndex.partitionKey, KeyType: 'HASH' },
            { AttributeName: listIndex.sortKey, KeyType: 'RANGE' },
          ],
          Projection: { ProjectionType: 'INCLUDE', NonKeyAttributes: [...listIndex.attributes] },
        },
      ],
    },
    ttlAttribute,
  );
}

async function ensureTable(
  client: DynamoDBClient,
  input: CreateTableCommandInput,
  ttlAttribute: string,
): Promise<void> {
  let created = false;
  try {
    await client.send(new CreateTableCommand(input));
    created = true;
  } catch (error) {
    if (!(error instanceof ResourceInUseException)) throw error;
  }
  for (let attempt = 0; attempt < 100; attempt++) {
    const { Table } = await client.send(new DescribeTableCommand({ TableName: input.TableName }));
    if (Table?.TableStatus === 'ACTIVE') break;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  if (!created) return;
  try {
    await client.send(
      new UpdateTimeToLiveCommand({
        TableName: input.TableName,
        TimeToLiveSpecification: { AttributeName: ttlAttribute, Enabled: true },
      }),
    );
  } catch (error) {
    // dynalite has no TTL API. Nothing depends on TTL deletion: reads check expiry themselves.
    if ((error as { name?: string }).name !== 'UnknownOperationException') throw error;
  }
}
