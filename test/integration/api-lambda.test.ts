import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { beforeAll, describe, expect, inject, it, vi } from 'vitest';
import { lambdaContext } from '../../functions/embedded/lambda-context.ts';
import { card } from '../support/cards.ts';
import { freshRegistryTable } from '../support/dynamo.ts';

/**
 * The API's Lambda entry (functions/api/index.ts) as Lambda loads it: dependencies built from the
 * environment the CDK stack sets, SDK clients pointed at moto's DynamoDB through the standard
 * AWS_ENDPOINT_URL_DYNAMODB, Powertools logger and metrics middleware around the routes.
 */
type Handler = (event: APIGatewayProxyEvent, context: unknown) => Promise<APIGatewayProxyResult>;
let handler: Handler;

function event(method: string, path: string, body?: unknown): APIGatewayProxyEvent {
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
    requestContext: {} as APIGatewayProxyEvent['requestContext'],
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
  vi.stubEnv('POWERTOOLS_LOG_LEVEL', 'SILENT');
  vi.stubEnv('POWERTOOLS_METRICS_DISABLED', 'true');
  // Imported after the environment is set, as Lambda does at init.
  handler = (await import('../../functions/api/index.ts')).handler as unknown as Handler;
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

  it('applies the CORS origins the stack configured', async () => {
    const request = event('GET', '/agents');
    const response = await handler(
      { ...request, headers: { ...request.headers, origin: 'https://app.example.com' } },
      lambdaContext('mobius-api'),
    );
    expect(response.headers?.['Access-Control-Allow-Origin']).toBe('https://app.example.com');
  });
});
