import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Context } from 'aws-lambda';
import { asAgentError } from '../core/messaging/agent-errors.ts';
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
  const server: Server = createServer((request, response) => {
    serveInvoke(request, response, handlers).catch((error: unknown) => {
      // Nothing may escape a request: an uncaught rejection here would end the whole process.
      console.error('embedded Lambda endpoint failed:', error);
      if (!response.headersSent) response.writeHead(500, { 'content-type': 'application/json' });
      response.end();
    });
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

async function serveInvoke(
  request: IncomingMessage,
  response: ServerResponse,
  handlers: ReadonlyMap<string, LambdaHandler>,
): Promise<void> {
  const match = INVOKE_PATH.exec(request.url?.split('?')[0] ?? '');
  const name = match ? functionNameOf(decodeURIComponent(match[1] ?? '')) : undefined;
  const handler = name === undefined ? undefined : handlers.get(name);
  // The body is serialised before the status line is written, so a body that cannot become JSON
  // still gets an answer of its own instead of a second writeHead on a started response.
  const send = (status: number, text: string, headers: Record<string, string> = {}) => {
    response.writeHead(status, { 'content-type': 'application/json', ...headers });
    response.end(text);
  };
  if (request.method !== 'POST' || name === undefined)
    return send(404, JSON.stringify({ message: 'not an Invoke request' }));
  if (handler === undefined) {
    return send(404, JSON.stringify({ Type: 'User', message: `Function not found: ${name}` }), {
      'x-amzn-errortype': 'ResourceNotFoundException',
    });
  }
  let event: unknown;
  try {
    const text = await readBody(request);
    event = text.length === 0 ? {} : JSON.parse(text);
  } catch {
    return send(
      400,
      JSON.stringify({ Type: 'User', message: 'Could not parse request body into json' }),
      {
        'x-amzn-errortype': 'InvalidRequestContentException',
      },
    );
  }
  if (request.headers['x-amz-invocation-type'] === 'Event') {
    // Asynchronous invocation: accepted now, run in the background (errors go to the log, as in Lambda).
    send(202, '');
    handler(event, lambdaContext(name)).catch((error: unknown) =>
      console.error(`embedded Lambda ${name} failed:`, error),
    );
    return;
  }
  const functionError = (thrown: unknown) => {
    const { name: errorType, message: errorMessage } = asAgentError(thrown);
    send(200, JSON.stringify({ errorType, errorMessage }), { 'x-amz-function-error': 'Unhandled' });
  };
  let result: unknown;
  try {
    result = await handler(event, lambdaContext(name));
  } catch (error) {
    return functionError(error);
  }
  let text: string;
  try {
    text = JSON.stringify(result ?? null);
  } catch (error) {
    // What Lambda's Node.js runtime answers when a handler's result cannot be serialised.
    return functionError(
      new Error(
        `Unable to stringify response body: ${error instanceof Error ? error.message.split('\n')[0] : String(error)}`,
      ),
    );
  }
  send(200, text, { 'x-amz-executed-version': '$LATEST' });
}

/** `arn:aws:lambda:<region>:<account>:function:<name>[:qualifier]` or a bare name → the name. */
export function functionNameOf(nameOrArn: string): string {
  const parts = nameOrArn.split(':');
  const at = parts.indexOf('function');
  return at >= 0 ? (parts[at + 1] ?? nameOrArn) : nameOrArn;
}
