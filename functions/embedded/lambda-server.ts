import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { EventStreamCodec } from '@smithy/core/event-streams';
import type { Context } from 'aws-lambda';
import {
  type ResponseStream,
  type StreamingHandler,
  writeWithBackPressure,
} from '../core/aws/lambda-streaming.ts';
import { asAgentError } from '../core/messaging/agent-errors.ts';
import { readBody } from './http.ts';
import { lambdaContext } from './lambda-context.ts';

export type LambdaHandler = (event: unknown, context: Context) => Promise<unknown>;

export interface LambdaServer {
  readonly endpoint: string;
  /**
   * Makes `handler` invocable as `functionName` (and by any ARN ending in `:function:<name>`).
   * `streaming`, when given, answers InvokeWithResponseStream, as a function deployed with
   * response streaming does; without it that API answers the plain handler's whole result.
   */
  register(functionName: string, handler: LambdaHandler, streaming?: StreamingHandler): void;
  stop(): Promise<void>;
}

interface RegisteredFunction {
  readonly handler: LambdaHandler;
  readonly streaming: StreamingHandler | undefined;
}

const INVOKE_PATH = /^\/2015-03-31\/functions\/([^/]+)\/invocations$/;
const STREAM_PATH = /^\/2021-11-15\/functions\/([^/]+)\/response-streaming-invocations$/;

/**
 * The Lambda Invoke and InvokeWithResponseStream APIs on 127.0.0.1 for in-process handlers, so
 * code that calls agents through an ordinary LambdaClient (the router's request-response, streamed
 * or not) runs unchanged in the embedded runtime. Speaks the REST protocol of Invoke: a handler's
 * error comes back as `X-Amz-Function-Error: Unhandled` with `{ errorType, errorMessage }`, as
 * Lambda reports it; InvokeWithResponseStream answers in Lambda's event-stream encoding (see
 * serveResponseStream).
 */
export async function startLambdaServer(): Promise<LambdaServer> {
  const functions = new Map<string, RegisteredFunction>();
  const server: Server = createServer((request, response) => {
    serveInvoke(request, response, functions).catch((error: unknown) => {
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
    register: (functionName, handler, streaming) =>
      functions.set(functionNameOf(functionName), { handler, streaming }),
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
  functions: ReadonlyMap<string, RegisteredFunction>,
): Promise<void> {
  const path = request.url?.split('?')[0] ?? '';
  const streamMatch = STREAM_PATH.exec(path);
  const match = streamMatch ?? INVOKE_PATH.exec(path);
  const name = match ? functionNameOf(decodeURIComponent(match[1] ?? '')) : undefined;
  const registered = name === undefined ? undefined : functions.get(name);
  // The body is serialised before the status line is written, so a body that cannot become JSON
  // still gets an answer of its own instead of a second writeHead on a started response.
  const send = (status: number, text: string, headers: Record<string, string> = {}) => {
    response.writeHead(status, { 'content-type': 'application/json', ...headers });
    response.end(text);
  };
  if (request.method !== 'POST' || name === undefined)
    return send(404, JSON.stringify({ message: 'not an Invoke request' }));
  if (registered === undefined) {
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
  const { handler } = registered;
  if (streamMatch !== null) {
    response.writeHead(200, {
      'content-type': EVENT_STREAM_CONTENT_TYPE,
      'x-amz-executed-version': '$LATEST',
    });
    await serveResponseStream(response, name, event, registered);
    return;
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

/** The body of an InvokeWithResponseStream answer: AWS's binary event-stream messages. */
const EVENT_STREAM_CONTENT_TYPE = 'application/vnd.amazon.eventstream';

/**
 * How far a streaming handler may write ahead of the HTTP response before its writes wait: the
 * same as Node's default for a Writable, so a slow reader holds back the agent within a few chunks.
 */
const STREAM_HIGH_WATER_MARK = 16 * 1024;

/**
 * How long a streaming function may write without a pause before the rest of the process gets a
 * turn. On Lambda the function has a process of its own; here it shares one with its reader, the
 * router and the API: a function that produces faster than the socket drains would otherwise fill
 * the socket's buffer in one go before its reader (or any other stream) could run, and its first
 * chunk would reach the client only with that whole burst. Its first write yields too, so the
 * first chunk goes out at once. Measured with bench/streaming.ts (10 000 synthetic chunks): the
 * first chunk over HTTP in 13 ms instead of 65, for 8 % fewer chunks a second.
 */
const FAIR_SHARE_MS = 0.5;

/**
 * The SDK's own event-stream codec (prelude, headers, CRCs), so what this server writes is what
 * the real LambdaClient decodes.
 */
const codec = new EventStreamCodec(
  (bytes) => Buffer.from(bytes).toString('utf8'),
  (text) => new Uint8Array(Buffer.from(text, 'utf8')),
);

function streamEvent(
  eventType: 'PayloadChunk' | 'InvokeComplete',
  contentType: string,
  body: Uint8Array,
): Uint8Array {
  return codec.encode({
    headers: {
      ':message-type': { type: 'string', value: 'event' },
      ':event-type': { type: 'string', value: eventType },
      ':content-type': { type: 'string', value: contentType },
    },
    body,
  });
}

function payloadChunk(bytes: Uint8Array): Uint8Array {
  return streamEvent('PayloadChunk', 'application/octet-stream', bytes);
}

function invokeComplete(error?: { errorType: string; errorMessage: string }): Uint8Array {
  const fields =
    error === undefined ? {} : { ErrorCode: error.errorType, ErrorDetails: error.errorMessage };
  return streamEvent(
    'InvokeComplete',
    'application/json',
    new Uint8Array(Buffer.from(JSON.stringify(fields))),
  );
}

/**
 * One InvokeWithResponseStream call, answered as Lambda answers it: `PayloadChunk` events carrying
 * the function's bytes as it writes them, then one `InvokeComplete`, empty on success, with
 * `ErrorCode` (the error type) and `ErrorDetails` (its message) when the invocation failed.
 *
 * A streaming function writes to a Writable whose writes become PayloadChunk events on the HTTP
 * response, each one accepted only once the response has taken it: a slow reader makes the
 * function's writes wait (back-pressure) instead of filling memory. A reader that goes away
 * destroys that Writable, so the function's next write fails (the agent SDK's streaming entry then
 * stops its handler at its next chunk); nothing else stops. When the function fails (its handler
 * threw, or its crash was contained), what it wrote before is flushed first, then the error: Lambda
 * delivers every byte a function wrote before it failed.
 * A function without a streaming handler answers its whole result as one PayloadChunk, as Lambda
 * does for a function deployed without response streaming.
 */
async function serveResponseStream(
  response: ServerResponse,
  functionName: string,
  event: unknown,
  registered: RegisteredFunction,
): Promise<void> {
  const send = (bytes: Uint8Array) => writeWithBackPressure(response, bytes);
  let failure: { errorType: string; errorMessage: string } | undefined;
  if (registered.streaming === undefined) {
    try {
      const result = await registered.handler(event, lambdaContext(functionName));
      await send(payloadChunk(new Uint8Array(Buffer.from(JSON.stringify(result ?? null)))));
    } catch (error) {
      if (response.destroyed) return;
      const { name: errorType, message: errorMessage } = asAgentError(error);
      failure = { errorType, errorMessage };
    }
  } else {
    const body = functionStream(response, send);
    try {
      await registered.streaming(event, body, lambdaContext(functionName));
      // What the function wrote and did not end (Lambda's runtime ends it when the handler
      // settles) is flushed before the invocation is reported complete.
      await flushed(body);
    } catch (error) {
      if (response.destroyed) return;
      const { name: errorType, message: errorMessage } = asAgentError(error);
      failure = { errorType, errorMessage };
      // Up to a buffer's worth of writes may still be queued in the Writable: they reach the
      // reader before the error does. Once ended, the stream takes no more writes from the
      // failed function (a contained crash may leave its code running).
      try {
        await flushed(body);
      } catch {
        // The reader left meanwhile: checked below.
      }
    }
  }
  if (response.destroyed) return;
  try {
    await send(invokeComplete(failure));
  } catch {
    // The reader left just before the end: nobody is left to tell.
    return;
  }
  response.end();
}

/** The Writable a streaming handler writes its response to, for one invocation. */
function functionStream(
  response: ServerResponse,
  send: (bytes: Uint8Array) => Promise<void>,
): ResponseStream {
  // When the function last let the rest of the process run (see FAIR_SHARE_MS); never, at first.
  let yieldedAt = Number.NEGATIVE_INFINITY;
  const accepted = (callback: () => void) => {
    if (performance.now() - yieldedAt < FAIR_SHARE_MS) {
      callback();
      return;
    }
    setImmediate(() => {
      yieldedAt = performance.now();
      callback();
    });
  };
  const body: ResponseStream = new Writable({
    highWaterMark: STREAM_HIGH_WATER_MARK,
    write(data: Buffer | string, encoding, callback) {
      const bytes = typeof data === 'string' ? Buffer.from(data, encoding) : data;
      if (bytes.length === 0) {
        callback();
        return;
      }
      send(payloadChunk(bytes)).then(() => accepted(callback), callback);
    },
  });
  // The content type a function sets (`awslambda.HttpResponseStream`, `setContentType`) is not
  // forwarded: the router reads the bytes alone, and Lambda reports it only as a response header.
  body.setContentType = () => undefined;
  const gone = () => {
    if (!body.writableFinished)
      body.destroy(new Error('the response stream is closed: its reader went away'));
  };
  response.once('close', gone);
  // A write refused because the reader left is the function's to see (its write rejects); the
  // Writable's own 'error' event must not end the process.
  body.on('error', () => undefined);
  body.once('close', () => response.off('close', gone));
  return body;
}

/** Ends `stream` if the function did not, and resolves once every write has reached the response. */
function flushed(stream: Writable): Promise<void> {
  if (stream.writableFinished) return Promise.resolve();
  // Destroyed already (its reader left): it will emit nothing more.
  if (stream.destroyed)
    return Promise.reject(stream.errored ?? new Error('the response stream was destroyed'));
  return new Promise<void>((resolve, reject) => {
    const onFinish = () => {
      stream.off('close', onClose);
      resolve();
    };
    const onClose = () => {
      stream.off('finish', onFinish);
      if (stream.writableFinished) resolve();
      else reject(stream.errored ?? new Error('the response stream was destroyed before it ended'));
    };
    stream.once('finish', onFinish);
    stream.once('close', onClose);
    if (!stream.writableEnded && !stream.destroyed) stream.end();
  });
}

/** `arn:aws:lambda:<region>:<account>:function:<name>[:qualifier]` or a bare name → the name. */
export function functionNameOf(nameOrArn: string): string {
  const parts = nameOrArn.split(':');
  const at = parts.indexOf('function');
  return at >= 0 ? (parts[at + 1] ?? nameOrArn) : nameOrArn;
}
