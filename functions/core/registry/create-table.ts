import {
  CreateTableCommand,
  DescribeTableCommand,
  type DynamoDBClient,
  ResourceInUseException,
  UpdateTimeToLiveCommand,
} from '@aws-sdk/client-dynamodb';
import { REGISTRY_TABLE } from './table.ts';

/**
 * Creates the registry table on an emulator (DynamoDB Local, dynalite, LocalStack) from the same
 * description the CDK construct deploys. On AWS the table comes from CloudFormation instead.
 * Idempotent: an existing table is left as it is.
 */
export async function ensureRegistryTable(
  client: DynamoDBClient,
  tableName: string,
): Promise<void> {
  const { partitionKey, sortKey, byTypeIndex, ttlAttribute } = REGISTRY_TABLE;
  let created = false;
  try {
    await client.send(
      new CreateTableCommand({
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
      }),
    );
    created = true;
  } catch (error) {
    if (!(error instanceof ResourceInUseException)) throw error;
  }
  for (let attempt = 0; attempt < 100; attempt++) {
    const { Table } = await client.send(new DescribeTableCommand({ TableName: tableName }));
    if (Table?.TableStatus === 'ACTIVE') break;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  if (!created) return;
  try {
    await client.send(
      new UpdateTimeToLiveCommand({
        TableName: tableName,
        TimeToLiveSpecification: { AttributeName: ttlAttribute, Enabled: true },
      }),
    );
  } catch (error) {
    // dynalite has no TTL API. Nothing depends on TTL deletion: reads check expiresAt themselves.
    if ((error as { name?: string }).name !== 'UnknownOperationException') throw error;
  }
}
