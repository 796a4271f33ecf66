import { randomUUID } from 'node:crypto';
import type { Context } from 'aws-lambda';

/**
 * A Lambda `Context` for invoking handlers outside Lambda (embedded runtime, tests), with the
 * deadline Lambda would enforce so `getRemainingTimeInMillis()` and idempotency expiry behave.
 */
export function lambdaContext(
  functionName: string,
  options: { timeoutMs?: number; region?: string; accountId?: string } = {},
): Context {
  const deadline = Date.now() + (options.timeoutMs ?? 900_000);
  const region = options.region ?? 'local';
  const account = options.accountId ?? '000000000000';
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:${region}:${account}:function:${functionName}`,
    memoryLimitInMB: '1024',
    awsRequestId: randomUUID(),
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: 'embedded',
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}
