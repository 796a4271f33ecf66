import { randomUUID } from 'node:crypto';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { inject } from 'vitest';
import { createDocumentClient } from '../../functions/core/aws/dynamodb.ts';
import { ensureRegistryTable } from '../../functions/core/registry/create-table.ts';
import { LOCAL_CREDENTIALS, LOCAL_REGION } from '../../functions/embedded/dynamodb-engine.ts';

/**
 * The DynamoDB engines the tests run on: moto server's DynamoDB (TTL settings, streams) and
 * dynalite (in process, the embedded runtime's engine). Two independent implementations, so the
 * registry's tests show that its requests mean the same on both.
 */
export type DynamoEngineName = 'moto' | 'dynalite';
export type DynamoEndpoints = Readonly<Record<DynamoEngineName, string>>;

export const ENGINES: readonly DynamoEngineName[] = ['moto', 'dynalite'];

/** SDK client settings for `engine`, as the global setup started it. */
export function dynamoConfig(engine: DynamoEngineName) {
  return {
    endpoint: inject('dynamoEndpoints')[engine],
    region: LOCAL_REGION,
    credentials: LOCAL_CREDENTIALS,
  };
}

export interface TestTable {
  readonly tableName: string;
  readonly client: DynamoDBDocumentClient;
  readonly raw: DynamoDBClient;
}

/** A new, empty registry table on the given engine, so test files never see each other's data. */
export async function freshRegistryTable(engine: DynamoEngineName): Promise<TestTable> {
  const config = dynamoConfig(engine);
  const raw = new DynamoDBClient(config);
  const tableName = `registry-${randomUUID()}`;
  await ensureRegistryTable(raw, tableName);
  return { tableName, client: createDocumentClient(config), raw };
}

/**
 * Another client on `engine` whose writes of many items (BatchWriteItem: capability indexing) wait
 * `delayMs` first, so a test can make one registration's indexing land after another's.
 */
export function slowIndexingClient(
  engine: DynamoEngineName,
  delayMs: number,
): DynamoDBDocumentClient {
  const client = createDocumentClient(dynamoConfig(engine));
  client.middlewareStack.add(
    (next, context) => async (args) => {
      if (context.commandName?.startsWith('BatchWrite'))
        await new Promise((resolve) => setTimeout(resolve, delayMs));
      return next(args);
    },
    { step: 'initialize', name: 'slowIndexing' },
  );
  return client;
}
