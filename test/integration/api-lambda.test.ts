import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { beforeAll, describe, expect, inject, it, vi } from 'vitest';
import { lambdaContext } from '../../functions/embedded/lambda-context.ts';
import { card } from '../support/cards.ts';
import { freshRegistryTable } from '../support/dynamo.ts';
import { bufferedEntry } from '../support/response-stream.ts';

/**
 * The API's Lambda entry (functions/api/index.ts) as Lambda loads it: dependencies built from the
 * environment the CDK stack sets, SDK clients pointed at moto's DynamoDB through the standard
 * AWS_ENDPOINT_URL_DYNAMODB, Powertools logger and metrics middleware around the routes.
 */
type Handler = (event: APIGatewayProxyEvent, context: unknown) => Promise<APIGatewayProxyResult>;
let handler: Handler;

const AGENT_ROLE = 'arn:aws:sts::123456789012:assumed-role/MobiusAgent/i-0abc';
const OTHER_ROLE = 'arn:aws:sts::123456789012:assumed-role/SomeoneElse/s';
const OPERATOR_ROLE = 'arn:aws:sts::123456789012:assumed-role/MobiusOperator/ops';

/** An API Gateway event signed (IAM authorisation) by `userArn`; `null`: no identity at all. */
function event(
  method: string,
  path: string,
  body?: unknown,
  userArn: string | null = AGENT_ROLE,
): APIGatewayProxyEvent {
  return {
    httpMethod: method,
    path,
    resource: path,
    body: body === undefined ? null : JSON.stringify(body),
    headers: { 'content-type': 'application/json' },
    multiValueHeaders: {},
    queryStringParameters: null,
    multiValueQueryStringParameters: null,
    pathParameters: null,
    stageVariables: null,
    isBase64Encoded: false,
    requestContext: (userArn === null
      ? {}
      : {
          identity: { userArn, accountId: '123456789012' },
        }) as unknown as APIGatewayProxyEvent['requestContext'],
  };
}

beforeAll(async () => {
  const table = await freshRegistryTable('moto');
  vi.stubEnv('AWS_REGION', 'us-east-1');
  vi.stubEnv('AWS_ACCESS_KEY_ID', 'local');
  vi.stubEnv('AWS_SECRET_ACCESS_KEY', 'local');
  vi.stubEnv('AWS_ENDPOINT_URL_DYNAMODB', inject('dynamoEndpoints').moto);
  vi.stubEnv('MOBIUS_REGISTRY_TABLE', table.tableName);
  vi.stubEnv('MOBIUS_EVENT_BUS', 'mobius-bus');
  vi.stubEnv('MOBIUS_STATE_MACHINE_ARN_PREFIX', 'arn:aws:states:us-east-1:123456789012');
  vi.stubEnv('MOBIUS_ENGINE_ROLE_ARN', 'arn:aws:iam::123456789012:role/engine');
  vi.stubEnv('MOBIUS_CORS_ORIGINS', 'https://app.example.com');
  vi.stubEnv('MOBIUS_OPERATORS', 'arn:aws:iam::123456789012:role/MobiusOperator');
  vi.stubEnv('MOBIUS_AGENT_ACCOUNTS', '123456789012');
  vi.stubEnv('POWERTOOLS_LOG_LEVEL', 'SILENT');
  vi.stubEnv('POWERTOOLS_METRICS_DISABLED', 'true');
  // Imported after the environment is set, as Lambda does at init.
  handler = bufferedEntry((await import('../../functions/api/index.ts')).handler);
}, 30_000);

describe('the API Lambda entry', () => {
  it('serves the routes from its environment: registers, reads back, answers errors as JSON', async () => {
    const context = lambdaContext('mobius-api');
    const created = await handler(event('POST', '/agents', card('wired')), context);
    expect(created.statusCode).toBe(201);
    const read = await handler(event('GET', '/agents/wired'), context);
    expect(read.statusCode).toBe(200);
    expect(JSON.parse(read.body)).toMatchObject({ card: { agentId: 'wired' } });
    const invalid = await handler(event('POST', '/coordinations', { pattern: 'swarm' }), context);
    expect(invalid.statusCode).toBe(400);
    expect(JSON.parse(invalid.body)).toMatchObject({ error: { code: 'VALIDATION_FAILED' } });
  });

  it('takes callers, operators and allowed endpoints from the environment the stack sets', async () => {
    const context = lambdaContext('mobius-api');
    const status = async (e: APIGatewayProxyEvent) => (await handler(e, context)).statusCode;
    // No identity: API Gateway's IAM authorisation always supplies one; refused, not trusted.
    expect(await status(event('POST', '/agents', card('unsigned'), null))).toBe(403);
    // A queue URL that is no SQS endpoint of the function's region (AWS_REGION) is refused.
    expect(
      await status(
        event('POST', '/agents', card('ssrf', { endpoint: { queueUrl: 'file:///etc/passwd' } })),
      ),
    ).toBe(400);
    const elsewhere = card('elsewhere', {
      endpoint: { lambdaArn: 'arn:aws:lambda:us-east-1:999999999999:function:theirs' },
    });
    expect(await status(event('POST', '/agents', elsewhere))).toBe(400);
    expect(await status(event('POST', '/agents', card('owned')))).toBe(201);
    expect(await status(event('DELETE', '/agents/owned', undefined, OTHER_ROLE))).toBe(403);
    expect(await status(event('DELETE', '/agents/owned', undefined, OPERATOR_ROLE))).toBe(200);
  });

  it('applies the CORS origins the stack configured', async () => {
    const request = event('GET', '/agents');
    const response = await handler(
      { ...request, headers: { ...request.headers, origin: 'https://app.example.com' } },
      lambdaContext('mobius-api'),
    );
    expect(response.headers?.['Access-Control-Allow-Origin']).toBe('https://app.example.com');
  });
});
