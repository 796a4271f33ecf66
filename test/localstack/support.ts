import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBStreamsClient } from '@aws-sdk/client-dynamodb-streams';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { SQSClient } from '@aws-sdk/client-sqs';
import { inject } from 'vitest';
import { EXAMPLE_REQUESTS, exampleRequest } from '../../examples/stack.ts';
import { callApi } from '../../functions/cli/signed-fetch.ts';
import { waitUntil } from '../../functions/embedded/free-port.ts';

/** The stack the global setup deployed into LocalStack, and clients for what lies behind its API. */
export const { endpoint, outputs } = inject('localstack');

const config = { endpoint, region: outputs.Region };
export const sqs = new SQSClient(config);
export const cloudWatch = new CloudWatchClient(config);
export const dynamodb = new DynamoDBClient(config);
export const dynamodbStreams = new DynamoDBStreamsClient(config);
export const lambda = new LambdaClient(config);

/** A SigV4-signed call through API Gateway, with the project's own client. */
export async function api<T = Record<string, unknown>>(
  method: 'GET' | 'POST' | 'DELETE',
  path: string,
  body?: unknown,
): Promise<{ status: number; body: T }> {
  const response = await callApi(outputs.GatewayApiUrl, method, path, body);
  return response as { status: number; body: T };
}

/** Polls `probe` until it returns a value (not undefined), at most `timeoutMs` (waitUntil's loop). */
export async function eventually<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  { timeoutMs = 60_000, intervalMs = 500 } = {},
): Promise<T> {
  let value: T | undefined;
  await waitUntil(
    what,
    async () => {
      value = await probe();
      if (value === undefined) throw new Error('not yet');
    },
    { timeoutMs, intervalMs },
  );
  return value as T;
}

export interface AgentView {
  card: {
    agentId: string;
    capabilities: { name: string; version: string }[];
    endpoint: { lambdaArn?: string; queueUrl?: string; queueArn?: string };
  };
  status: string;
  metrics: { requestsProcessed: number; errors: number; lastHeartbeat: string | null };
  circuit: { state: string };
}

export async function agent(agentId: string): Promise<AgentView> {
  const { status, body } = await api<AgentView>('GET', `/agents/${agentId}`);
  if (status !== 200) throw new Error(`GET /agents/${agentId} answered ${status}`);
  return body;
}

/** The dead-letter queue of an agent's queue, as the stack names it (`<queue>-dlq`). */
export function deadLetterQueueUrl(queueUrl: string): string {
  return queueUrl.endsWith('.fifo') ? queueUrl.replace(/\.fifo$/, '-dlq.fifo') : `${queueUrl}-dlq`;
}

export { EXAMPLE_REQUESTS, exampleRequest };

export interface CoordinationResult {
  coordinationId: string;
  pattern: string;
  mode: string;
  status: 'succeeded' | 'partial' | 'failed' | 'running';
  output: unknown;
  steps: { stepId: string; agentId: string; status: string; attempt: number; round?: number }[];
  errors: { agentId: string; stepId: string; error: string; cause: string }[];
  degraded: boolean;
  timings: { totalMs: number; agentMs: number; overheadMs: number };
}

/** POST /coordinations; a failed express run (502/504) carries its result in error.details. */
export async function coordinate(
  request: Record<string, unknown>,
): Promise<{ status: number; result: CoordinationResult }> {
  const { status, body } = await api<Record<string, unknown>>('POST', '/coordinations', request);
  const error = body.error as { details?: { result?: CoordinationResult } } | undefined;
  const result = (error?.details?.result ?? body) as CoordinationResult;
  return { status, result };
}
