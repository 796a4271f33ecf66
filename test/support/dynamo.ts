import { randomUUID } from 'node:crypto';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { inject } from 'vitest';
import { createDocumentClient } from '../../functions/core/aws/dynamodb.ts';
import { ensureRegistryTable } from '../../functions/core/registry/create-table.ts';
import {
  type DynamoEngineKind,
  LOCAL_CREDENTIALS,
  LOCAL_REGION,
} from '../../functions/embedded/dynamodb-engine.ts';

export const ENGINES: readonly DynamoEngineKind[] = ['dynamodb-local', 'dynalite'];

export interface TestTable {
  readonly tableName: string;
  readonly client: DynamoDBDocumentClient;
  readonly raw: DynamoDBClient;
}

/** A new, empty registry table on the given engine, so test files never see each other's data. */
export async function freshRegistryTable(engine: DynamoEngineKind): Promise<TestTable> {
  const endpoint = inject('dynamoEndpoints')[engine];
  const config = { endpoint, region: LOCAL_REGION, credentials: LOCAL_CREDENTIALS };
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
  engine: DynamoEngineKind,
  delayMs: number,
): DynamoDBDocumentClient {
  const client = createDocumentClient({
    endpoint: inject('dynamoEndpoints')[engine],
    region: LOCAL_REGION,
    credentials: LOCAL_CREDENTIALS,
  });
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
