import {
  BatchGetCommand,
  BatchWriteCommand,
  type DynamoDBDocumentClient,
  QueryCommand,
  type QueryCommandInput,
  ScanCommand,
  type ScanCommandInput,
} from '@aws-sdk/lib-dynamodb';
import { contentHash } from '../canonical-json.ts';
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

/**
 * One page of a Query or Scan with an opaque continuation token for API pagination.
 *
 * Tokens come back from callers, so they are checked before DynamoDB sees them: a token must be
 * one this code encoded (version, shape of a DynamoDB key) for this very listing (a digest of the
 * table, index and conditions, so a token of another listing or filter is refused rather than
 * starting somewhere odd). Without a secret to sign with, a token can still be forged to pass those
 * checks; DynamoDB then refuses the starting key itself, and that too is the caller's 400, naming
 * `nextToken` — never a 500.
 */
export async function pageOf(
  client: DynamoDBDocumentClient,
  input: QueryCommandInput | ScanCommandInput,
  kind: 'query' | 'scan',
  nextToken: string | undefined,
): Promise<{ items: Item[]; nextToken?: string }> {
  const listing = listingDigest(input, kind);
  const ExclusiveStartKey = nextToken === undefined ? undefined : decodeToken(nextToken, listing);
  if (ExclusiveStartKey === null) throw invalidToken();
  let page: { Items?: Item[]; LastEvaluatedKey?: Item };
  try {
    page =
      kind === 'query'
        ? await client.send(
            new QueryCommand({ ...(input as QueryCommandInput), ExclusiveStartKey }),
          )
        : await client.send(new ScanCommand({ ...(input as ScanCommandInput), ExclusiveStartKey }));
  } catch (error) {
    const { name, message } = error as Error;
    if (
      ExclusiveStartKey !== undefined &&
      name === 'ValidationException' &&
      STARTING_KEY.test(message)
    )
      throw invalidToken({ cause: error });
    throw error;
  }
  return {
    items: page.Items ?? [],
    ...(page.LastEvaluatedKey ? { nextToken: encodeToken(page.LastEvaluatedKey, listing) } : {}),
  };
}

/** DynamoDB's messages about a bad ExclusiveStartKey ("The provided starting key is invalid…"). */
const STARTING_KEY = /start(ing)? key/i;

function invalidToken(options?: ErrorOptions): ValidationError {
  const error = new ValidationError('page request', [
    {
      path: 'nextToken',
      message:
        'not a token this API returned for this listing; pass the nextToken of the previous page unchanged, with the same filters, or omit it to start at the first page',
    },
  ]);
  if (options?.cause !== undefined) Object.defineProperty(error, 'cause', { value: options.cause });
  return error;
}

const TOKEN_VERSION = 1;
/** Longer than any token this code writes (four key attributes of DynamoDB's maximum sizes). */
const MAX_TOKEN_LENGTH = 8 * 1024;
/** A table key plus an index key: an ExclusiveStartKey names at most four attributes. */
const MAX_KEY_ATTRIBUTES = 4;
/** DynamoDB's limits: attribute names up to 255 bytes, key values up to 2048 bytes. */
const MAX_NAME_BYTES = 255;
const MAX_KEY_VALUE_BYTES = 2048;

/** What identifies a listing, whatever page of it: the table, index and conditions, not `Limit`. */
function listingDigest(input: QueryCommandInput | ScanCommandInput, kind: string): string {
  const { TableName, IndexName, ExpressionAttributeNames, ExpressionAttributeValues } = input;
  const { KeyConditionExpression } = input as QueryCommandInput;
  const { FilterExpression } = input;
  return contentHash({
    kind,
    TableName,
    IndexName,
    KeyConditionExpression,
    FilterExpression,
    ExpressionAttributeNames,
    ExpressionAttributeValues,
  }).slice(0, 16);
}

function encodeToken(key: Item, listing: string): string {
  return Buffer.from(JSON.stringify({ v: TOKEN_VERSION, l: listing, k: key }), 'utf8').toString(
    'base64url',
  );
}

/** Tokens are opaque to users but not trusted: null when `token` is not a key this code encoded. */
function decodeToken(token: string, listing: string): Item | null {
  if (token.length > MAX_TOKEN_LENGTH || !/^[A-Za-z0-9_-]+$/.test(token)) return null;
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
  } catch {
    return null;
  }
  if (!isRecord(parsed) || parsed.v !== TOKEN_VERSION || parsed.l !== listing) return null;
  const key = parsed.k;
  if (!isRecord(key)) return null;
  const attributes = Object.entries(key);
  const isKey =
    attributes.length >= 1 &&
    attributes.length <= MAX_KEY_ATTRIBUTES &&
    attributes.every(
      ([name, value]) =>
        name.length > 0 &&
        Buffer.byteLength(name) <= MAX_NAME_BYTES &&
        ((typeof value === 'string' &&
          value.length > 0 &&
          Buffer.byteLength(value) <= MAX_KEY_VALUE_BYTES) ||
          (typeof value === 'number' && Number.isFinite(value))),
    );
  return isKey ? key : null;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}
