import {
  BatchGetCommand,
  BatchWriteCommand,
  type DynamoDBDocumentClient,
  QueryCommand,
  type QueryCommandInput,
  ScanCommand,
  type ScanCommandInput,
} from '@aws-sdk/lib-dynamodb';
import { ValidationError } from '../errors.ts';

/** DynamoDB's own limits per request. */
export const BATCH_GET_LIMIT = 100;
export const BATCH_WRITE_LIMIT = 25;
/** Unprocessed items are retried this many times with exponential backoff, then reported. */
const MAX_BATCH_ATTEMPTS = 8;

type Item = Record<string, unknown>;
type WriteRequest = { PutRequest: { Item: Item } } | { DeleteRequest: { Key: Item } };

export function chunk<T>(items: readonly T[], size: number): T[][] {
  const chunks: T[][] = [];
  for (let i = 0; i < items.length; i += size) chunks.push(items.slice(i, i + size));
  return chunks;
}

const backoff = (attempt: number) =>
  new Promise<void>((resolve) =>
    setTimeout(resolve, Math.min(1_000, 25 * 2 ** attempt) * Math.random()),
  );

/** ExpressionAttributeNames placeholders for a projection, so reserved words never bite. */
export function projectionOf(attributes: readonly string[]): {
  ProjectionExpression: string;
  ExpressionAttributeNames: Record<string, string>;
} {
  const names: Record<string, string> = {};
  const placeholders = attributes.map((attribute, i) => {
    names[`#p${i}`] = attribute;
    return `#p${i}`;
  });
  return { ProjectionExpression: placeholders.join(', '), ExpressionAttributeNames: names };
}

/**
 * Reads every key, 100 per BatchGetItem, chunks in parallel; unprocessed keys (throttling) are
 * retried with backoff. Returns the items found, in no particular order.
 */
export async function batchGetAll(
  client: DynamoDBDocumentClient,
  tableName: string,
  keys: readonly Item[],
  options: { attributes?: readonly string[]; consistent?: boolean } = {},
): Promise<Item[]> {
  const projection = options.attributes ? projectionOf(options.attributes) : {};
  const pages = await Promise.all(
    chunk(keys, BATCH_GET_LIMIT).map(async (batch) => {
      const found: Item[] = [];
      let pending: Item[] = batch;
      for (let attempt = 0; pending.length > 0; attempt++) {
        if (attempt >= MAX_BATCH_ATTEMPTS) {
          throw new Error(
            `BatchGetItem left ${pending.length} keys unprocessed after ${attempt} attempts`,
          );
        }
        if (attempt > 0) await backoff(attempt);
        const response = await client.send(
          new BatchGetCommand({
            RequestItems: {
              [tableName]: {
                Keys: pending,
                ConsistentRead: options.consistent ?? false,
                ...projection,
              },
            },
          }),
        );
        found.push(...(response.Responses?.[tableName] ?? []));
        pending = response.UnprocessedKeys?.[tableName]?.Keys ?? [];
      }
      return found;
    }),
  );
  return pages.flat();
}

/** Writes every request, 25 per BatchWriteItem, retrying unprocessed items with backoff. */
export async function batchWriteAll(
  client: DynamoDBDocumentClient,
  tableName: string,
  requests: readonly WriteRequest[],
): Promise<void> {
  await Promise.all(
    chunk(requests, BATCH_WRITE_LIMIT).map(async (batch) => {
      let pending: readonly WriteRequest[] = batch;
      for (let attempt = 0; pending.length > 0; attempt++) {
        if (attempt >= MAX_BATCH_ATTEMPTS) {
          throw new Error(
            `BatchWriteItem left ${pending.length} items unprocessed after ${attempt} attempts`,
          );
        }
        if (attempt > 0) await backoff(attempt);
        const response = await client.send(
          new BatchWriteCommand({ RequestItems: { [tableName]: [...pending] } }),
        );
        pending = (response.UnprocessedItems?.[tableName] ?? []) as WriteRequest[];
      }
    }),
  );
}

/** Follows LastEvaluatedKey until the query is exhausted. */
export async function queryAll(
  client: DynamoDBDocumentClient,
  input: QueryCommandInput,
): Promise<Item[]> {
  const items: Item[] = [];
  let startKey: Item | undefined;
  do {
    const page = await client.send(new QueryCommand({ ...input, ExclusiveStartKey: startKey }));
    items.push(...(page.Items ?? []));
    startKey = page.LastEvaluatedKey;
  } while (startKey !== undefined);
  return items;
}

/** One page of a Query or Scan with an opaque continuation token for API pagination. */
export async function pageOf(
  client: DynamoDBDocumentClient,
  input: QueryCommandInput | ScanCommandInput,
  kind: 'query' | 'scan',
  nextToken: string | undefined,
): Promise<{ items: Item[]; nextToken?: string }> {
  const ExclusiveStartKey = nextToken === undefined ? undefined : decodeToken(nextToken);
  if (ExclusiveStartKey === null) {
    throw new ValidationError('page request', [
      {
        path: 'nextToken',
        message: 'not a token this API returned; omit it to start at the first page',
      },
    ]);
  }
  const page =
    kind === 'query'
      ? await client.send(new QueryCommand({ ...(input as QueryCommandInput), ExclusiveStartKey }))
      : await client.send(new ScanCommand({ ...(input as ScanCommandInput), ExclusiveStartKey }));
  return {
    items: page.Items ?? [],
    ...(page.LastEvaluatedKey ? { nextToken: encodeToken(page.LastEvaluatedKey) } : {}),
  };
}

function encodeToken(key: Item): string {
  return Buffer.from(JSON.stringify(key), 'utf8').toString('base64url');
}

/** Tokens are opaque to users but not trusted: null when `token` is not a key this code encoded. */
function decodeToken(token: string): Item | null {
  try {
    const parsed: unknown = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
    const isKey =
      parsed !== null &&
      typeof parsed === 'object' &&
      !Array.isArray(parsed) &&
      Object.values(parsed).every((v) => typeof v === 'string' || typeof v === 'number');
    return isKey ? (parsed as Item) : null;
  } catch {
    return null;
  }
}
