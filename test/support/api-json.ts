import { randomUUID } from 'node:crypto';
import type { APIGatewayProxyEvent } from 'aws-lambda';

/** An API's JSON answer, its body read by path in assertions. */
// biome-ignore lint/suspicious/noExplicitAny: JSON answers, read by path in the assertions
export type Answer = { status: number; body: Record<string, any> };

/** One JSON request to the API at `base` (a running embedded runtime's apiUrl). */
export async function requestJson(
  base: string,
  method: string,
  path: string,
  body?: unknown,
): Promise<Answer> {
  const response = await fetch(`${base}${path}`, {
    method,
    headers: { 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: response.status, body: (await response.json()) as Answer['body'] };
}

/** What an API Gateway REST proxy event for the API Lambda says, beyond method and path. */
export interface GatewayEventOptions {
  /** Sent as JSON (null: no body). */
  readonly body?: unknown;
  readonly headers?: Record<string, string>;
  /** The route's template (`/coordinations/{id}`); the path itself by default. */
  readonly resource?: string;
  /** The IAM principal API Gateway names (`requestContext.identity.userArn`). */
  readonly caller?: string;
  /** More of the request context (stage, domainName, path…). */
  readonly context?: Record<string, unknown>;
}

/** An API Gateway REST proxy event, as the API Lambda receives it. */
export function gatewayEvent(
  method: string,
  path: string,
  options: GatewayEventOptions = {},
): APIGatewayProxyEvent {
  const { body, headers = {}, resource = path, caller, context = {} } = options;
  return {
    httpMethod: method,
    path,
    resource,
    body: body === undefined ? null : JSON.stringify(body),
    headers,
    multiValueHeaders: {},
    queryStringParameters: null,
    multiValueQueryStringParameters: null,
    pathParameters: null,
    stageVariables: null,
    isBase64Encoded: false,
    requestContext: {
      requestId: `r-${randomUUID()}`,
      ...(caller === undefined
        ? {}
        : { identity: { userArn: caller, accountId: caller.split(':')[4] ?? '' } }),
      ...context,
    } as unknown as APIGatewayProxyEvent['requestContext'],
  };
}
