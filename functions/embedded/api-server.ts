import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import { readBody } from './http.ts';
import { lambdaContext } from './lambda-context.ts';

export interface ApiServer {
  readonly url: string;
  stop(): Promise<void>;
}

type ApiHandler = (event: APIGatewayProxyEvent, context: Context) => Promise<APIGatewayProxyResult>;

/**
 * Serves the API handler over HTTP on 127.0.0.1, translating each request into the API Gateway
 * proxy event the handler receives in Lambda — so routes, bodies and status codes are the same
 * as behind API Gateway (without its IAM signature check: it only listens on loopback).
 */
export async function startApiServer(
  handler: ApiHandler,
  options: { port?: number } = {},
): Promise<ApiServer> {
  const server: Server = createServer(async (request, response) => {
    const url = new URL(request.url ?? '/', 'http://127.0.0.1');
    let body: string;
    try {
      body = await readBody(request);
    } catch {
      response.writeHead(413, { 'content-type': 'application/json', connection: 'close' });
      response.end(
        JSON.stringify({
          error: {
            code: 'PAYLOAD_TOO_LARGE',
            message: 'Request bodies are limited to 6 MB, as in Lambda.',
            details: {},
          },
        }),
      );
      return;
    }
    const headers = Object.fromEntries(
      Object.entries(request.headers).map(([name, value]) => [
        name,
        Array.isArray(value) ? value.join(',') : (value ?? ''),
      ]),
    );
    const query = Object.fromEntries(url.searchParams);
    const requestId = randomUUID();
    const event: APIGatewayProxyEvent = {
      httpMethod: request.method ?? 'GET',
      path: url.pathname,
      resource: url.pathname,
      headers,
      multiValueHeaders: {},
      queryStringParameters: Object.keys(query).length > 0 ? query : null,
      multiValueQueryStringParameters: null,
      pathParameters: null,
      stageVariables: null,
      body: body.length > 0 ? body : null,
      isBase64Encoded: false,
      requestContext: {
        requestId,
        stage: 'local',
        httpMethod: request.method ?? 'GET',
        path: url.pathname,
      } as APIGatewayProxyEvent['requestContext'],
    };
    const result = await handler(event, lambdaContext('mobius-api'));
    response.writeHead(result.statusCode, {
      'x-amzn-requestid': requestId,
      ...(result.headers as Record<string, string> | undefined),
    });
    response.end(result.body);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 4000, '127.0.0.1', resolve);
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    stop: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
}
