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

/** A client whose first write that `holds` picks waits, until the test lets it go. */
export interface HeldWriteClient {
  readonly client: DynamoDBDocumentClient;
  /** Resolves when the held write has been sent (and is waiting). */
  readonly reached: Promise<void>;
  /** Lets the held write go on. */
  release(): void;
}

/**
 * Another client on `engine` that holds back the first command `holds` picks (by the command's
 * name and input) until release(): for tests that make two writers' writes interleave in a given
 * order. Later commands go straight through.
 */
export function heldWriteClient(
  engine: DynamoEngineName,
  holds: (
    commandName: string,
    input: { Key?: Record<string, unknown>; Item?: Record<string, unknown> },
  ) => boolean,
): HeldWriteClient {
  const client = createDocumentClient(dynamoConfig(engine));
  let reach: () => void = () => undefined;
  const reached = new Promise<void>((resolve) => {
    reach = resolve;
  });
  let release: () => void = () => undefined;
  const released = new Promise<void>((resolve) => {
    release = resolve;
  });
  let held = false;
  client.middlewareStack.add(
    (next, context) => async (args) => {
      if (
        !held &&
        holds(
          context.commandName ?? '',
          args.input as { Key?: Record<string, unknown>; Item?: Record<string, unknown> },
        )
      ) {
        held = true;
        reach();
        await released;
      }
      return next(args);
    },
    { step: 'initialize', name: 'heldWrite' },
  );
  return { client, reached, release };
}
