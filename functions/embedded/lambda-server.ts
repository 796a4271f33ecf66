import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Context } from 'aws-lambda';
import { readBody } from './http.ts';
import { lambdaContext } from './lambda-context.ts';

export type LambdaHandler = (event: unknown, context: Context) => Promise<unknown>;

export interface LambdaServer {
  readonly endpoint: string;
  /** Makes `handler` invocable as `functionName` (and by any ARN ending in `:function:<name>`). */
  register(functionName: string, handler: LambdaHandler): void;
  stop(): Promise<void>;
}

const INVOKE_PATH = /^\/2015-03-31\/functions\/([^/]+)\/invocations$/;

/**
 * The Lambda Invoke API on 127.0.0.1 for in-process handlers, so code that calls agents through an
 * ordinary LambdaClient (the router's request-response) runs unchanged in the embedded runtime.
 * Speaks the REST protocol of Invoke: a handler's error comes back as `X-Amz-Function-Error:
 * Unhandled` with `{ errorType, errorMessage }`, as Lambda reports it.
 */
export async function startLambdaServer(): Promise<LambdaServer> {
  const handlers = new Map<string, LambdaHandler>();
  const server: Server = createServer(async (request, response) => {
    const match = INVOKE_PATH.exec(request.url?.split('?')[0] ?? '');
    const name = match ? functionNameOf(decodeURIComponent(match[1] ?? '')) : undefined;
    const handler = name === undefined ? undefined : handlers.get(name);
    const send = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      response.writeHead(status, { 'content-type': 'application/json', ...headers });
      response.end(body === null && status === 202 ? '' : JSON.stringify(body));
    };
    if (request.method !== 'POST' || name === undefined)
      return send(404, { message: 'not an Invoke request' });
    if (handler === undefined) {
      return send(
        404,
        { Type: 'User', message: `Function not found: ${name}` },
        { 'x-amzn-errortype': 'ResourceNotFoundException' },
      );
    }
    let event: unknown;
    try {
      const text = await readBody(request);
      event = text.length === 0 ? {} : JSON.parse(text);
    } catch {
      return send(
        400,
        { Type: 'User', message: 'Could not parse request body into json' },
        { 'x-amzn-errortype': 'InvalidRequestContentException' },
      );
    }
    if (request.headers['x-amz-invocation-type'] === 'Event') {
      // Asynchronous invocation: accepted now, run in the background (errors go to the log, as in Lambda).
      send(202, null);
      handler(event, lambdaContext(name)).catch((error: unknown) =>
        console.error(`embedded Lambda ${name} failed:`, error),
      );
      return;
    }
    try {
      const result = await handler(event, lambdaContext(name));
      send(200, result ?? null, { 'x-amz-executed-version': '$LATEST' });
    } catch (error) {
      const failure = error instanceof Error ? error : new Error(String(error));
      send(
        200,
        { errorType: failure.name, errorMessage: failure.message },
        { 'x-amz-function-error': 'Unhandled' },
      );
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    register: (functionName, handler) => handlers.set(functionNameOf(functionName), handler),
    stop: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
}

/** `arn:aws:lambda:<region>:<account>:function:<name>[:qualifier]` or a bare name → the name. */
export function functionNameOf(nameOrArn: string): string {
  const parts = nameOrArn.split(':');
  const at = parts.indexOf('function');
  return at >= 0 ? (parts[at + 1] ?? nameOrArn) : nameOrArn;
}
