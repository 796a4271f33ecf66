// The Node.js side of the mobius-host Lambda executor (lambda_executor.py): one process is one
// execution environment. It loads the function's handler from LAMBDA_TASK_ROOT, tells LocalStack it
// is ready, then runs the invocations LocalStack posts to /invoke one at a time and reports each
// result through LocalStack's executor endpoint — the protocol AWS's runtime interface speaks
// inside LocalStack's Lambda containers (localstack/services/lambda_/invocation/executor_endpoint.py).

import { existsSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { pathToFileURL } from 'node:url';

const env = process.env;
const runtimeEndpoint = env.LOCALSTACK_RUNTIME_ENDPOINT;
const runtimeId = env.LOCALSTACK_RUNTIME_ID;
const port = Number(env.MOBIUS_RUNTIME_PORT);
const timeoutSeconds = Number(env.AWS_LAMBDA_FUNCTION_TIMEOUT ?? 3);

/**
 * Response streaming as Lambda's Node.js runtime offers it, through the global it defines before
 * it loads the handler's module: `awslambda.streamifyResponse` marks a handler
 * `(event, responseStream, context)` with the runtime's symbol, and `awslambda.HttpResponseStream
 * .from` makes the stream write the HTTP integration prelude (JSON, then eight NUL bytes) just
 * before its first write. (aws-lambda-nodejs-runtime-interface-client: UserFunction,
 * HttpResponseStream, ResponseStream.)
 */
const HANDLER_STREAMING = Symbol.for('aws.lambda.runtime.handler.streaming');
const HANDLER_HIGHWATERMARK = Symbol.for('aws.lambda.runtime.handler.streaming.highWaterMark');
const STREAM_RESPONSE = 'response';
const HTTP_INTEGRATION_CONTENT_TYPE = 'application/vnd.awslambda.http-integration-response';
const PRELUDE_DELIMITER = Buffer.alloc(8);

globalThis.awslambda = {
  ...globalThis.awslambda,
  streamifyResponse(handler, options) {
    handler[HANDLER_STREAMING] = STREAM_RESPONSE;
    if (typeof options?.highWaterMark === 'number')
      handler[HANDLER_HIGHWATERMARK] = Math.trunc(options.highWaterMark);
    return handler;
  },
  HttpResponseStream: {
    from(stream, prelude) {
      stream.setContentType(HTTP_INTEGRATION_CONTENT_TYPE);
      const metadata = JSON.stringify(prelude);
      stream._onBeforeFirstWrite = (write) => {
        write(metadata);
        write(new Uint8Array(PRELUDE_DELIMITER.length));
      };
      return stream;
    },
  },
};

/**
 * The response stream a streaming handler writes to. Lambda sends it on as it is written; an
 * invocation here is answered whole (LocalStack has no InvokeWithResponseStream), so it keeps
 * every byte, with the runtime stream's behaviour: a content type settable until the first write,
 * the prelude hook run just before it, objects written as JSON.
 */
class CollectingResponseStream extends Writable {
  #chunks = [];
  #written = false;
  contentType = 'application/octet-stream';
  _onBeforeFirstWrite = undefined;

  constructor(highWaterMark) {
    super(typeof highWaterMark === 'number' ? { highWaterMark } : {});
  }

  setContentType(contentType) {
    if (this.#written) throw new Error('Cannot set content-type, too late.');
    this.contentType = contentType;
  }

  write(chunk, encoding, callback) {
    if (!this.#written && typeof this._onBeforeFirstWrite === 'function')
      this._onBeforeFirstWrite((piece) => super.write(piece));
    this.#written = true;
    const data =
      typeof chunk === 'string' || chunk instanceof Uint8Array ? chunk : JSON.stringify(chunk);
    return super.write(data, encoding, callback);
  }

  _write(chunk, _encoding, done) {
    this.#chunks.push(Buffer.from(chunk));
    done();
  }

  get bytes() {
    return Buffer.concat(this.#chunks);
  }
}

/**
 * What an invocation of a streaming handler answers. Output that starts with an HTTP prelude
 * (the API function behind API Gateway) becomes the proxy result a buffered Lambda integration
 * reads — the status and headers of the prelude, the body after it — which is what API Gateway
 * makes of the stream on AWS; LocalStack's API Gateway takes buffered integrations only. Any
 * other output (an agent's NDJSON frames) is the payload as it was written, as Lambda's Invoke of
 * a streaming function returns it.
 */
function streamedPayload(stream) {
  const bytes = stream.bytes;
  if (stream.contentType !== HTTP_INTEGRATION_CONTENT_TYPE) return bytes;
  const at = bytes.indexOf(PRELUDE_DELIMITER);
  if (at < 0) return bytes;
  const prelude = JSON.parse(bytes.subarray(0, at).toString('utf8'));
  const body = bytes.subarray(at + PRELUDE_DELIMITER.length);
  let text;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(body);
  } catch {
    text = undefined; // not text: sent base64-encoded, as a proxy result carries bytes
  }
  const multiValueHeaders = { ...prelude.multiValueHeaders };
  if (Array.isArray(prelude.cookies) && prelude.cookies.length > 0)
    multiValueHeaders['set-cookie'] = [
      ...(multiValueHeaders['set-cookie'] ?? []),
      ...prelude.cookies,
    ];
  return JSON.stringify({
    statusCode: prelude.statusCode ?? 200,
    headers: prelude.headers ?? {},
    multiValueHeaders,
    body: text ?? body.toString('base64'),
    isBase64Encoded: text === undefined,
  });
}

async function runStreamingHandler(handler, event, context) {
  const stream = new CollectingResponseStream(handler[HANDLER_HIGHWATERMARK]);
  const result = handler(event, stream, context);
  if (typeof result?.then !== 'function')
    throw new Error('Streaming does not support non-async handlers.');
  await result;
  // Lambda answers once the handler has ended its stream; the invocation's timeout bounds a
  // handler that never does.
  if (!stream.writableFinished) await finished(stream);
  return streamedPayload(stream);
}

async function post(path, body) {
  const raw = typeof body === 'string' || body instanceof Uint8Array;
  const response = await fetch(`${runtimeEndpoint}${path}`, {
    method: 'POST',
    headers: {
      'content-type': body instanceof Uint8Array ? 'application/octet-stream' : 'application/json',
    },
    body: raw ? body : JSON.stringify(body),
  });
  if (!response.ok && response.status !== 202) {
    process.stderr.write(`runtime: ${path} answered ${response.status}\n`);
  }
}

/** The shape Lambda gives a thrown error: what Step Functions matches `Error` / `Cause` against. */
function errorPayload(error) {
  if (error instanceof Error) {
    return {
      // As Lambda's Node.js runtime reports it: the error's name, whatever its class.
      errorType: error.name,
      errorMessage: error.message,
      trace: String(error.stack ?? '').split('\n'),
    };
  }
  return { errorType: 'Error', errorMessage: String(error), trace: [] };
}

/**
 * The handler `_HANDLER` names, resolved as Lambda's Node.js runtime does
 * (aws-lambda-nodejs-runtime-interface-client, function/handler-resolver.ts): the module is the
 * last path segment up to its FIRST dot (with the folders before it), and the rest is a path of
 * properties walked from the module's exports (or its default export) through objects only —
 * `index.lib.handler` resolves, `index.handler.streaming` (a property of a function) does not.
 */
async function loadHandler() {
  const spec = env._HANDLER ?? 'index.handler';
  const slash = spec.lastIndexOf('/');
  const dot = spec.indexOf('.', slash + 1);
  if (dot <= slash + 1 || dot === spec.length - 1) {
    throw Object.assign(new Error(`Bad handler ${spec}: give it as <module>.<export>`), {
      name: 'Runtime.MalformedHandlerName',
    });
  }
  const modulePath = spec.slice(0, dot);
  const exportPath = spec.slice(dot + 1);
  const root = env.LAMBDA_TASK_ROOT ?? process.cwd();
  const file = ['.mjs', '.js', '.cjs']
    .map((extension) => join(root, `${modulePath}${extension}`))
    .find((candidate) => existsSync(candidate));
  if (!file) {
    throw Object.assign(new Error(`Cannot find module '${modulePath}' in ${root}`), {
      name: 'Runtime.ImportModuleError',
    });
  }
  const module = await import(pathToFileURL(file).href);
  const walk = (from) =>
    exportPath
      .split('.')
      .reduce(
        (nested, key) => (nested !== null && typeof nested === 'object' ? nested[key] : undefined),
        from,
      );
  const handler = walk(module) ?? walk(module.default);
  if (typeof handler !== 'function') {
    throw Object.assign(new Error(`${spec} is undefined or not exported`), {
      name: 'Runtime.HandlerNotFound',
    });
  }
  return handler;
}

/**
 * What the running invocation writes to stdout and stderr (console, Powertools' logger and EMF
 * metrics alike), sent to LocalStack as its log (CloudWatch Logs). It still reaches the process
 * output, which the executor keeps as the environment's log.
 */
let invocationLog = [];
for (const stream of [process.stdout, process.stderr]) {
  const write = stream.write.bind(stream);
  stream.write = (chunk, ...rest) => {
    invocationLog.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
    return write(chunk, ...rest);
  };
}

function contextFor(invocation, deadline) {
  return {
    awsRequestId: invocation['invoke-id'],
    invokedFunctionArn: invocation['invoked-function-arn'],
    functionName: env.AWS_LAMBDA_FUNCTION_NAME,
    functionVersion: env.AWS_LAMBDA_FUNCTION_VERSION,
    memoryLimitInMB: env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
    logGroupName: env.AWS_LAMBDA_LOG_GROUP_NAME,
    logStreamName: env.AWS_LAMBDA_LOG_STREAM_NAME,
    callbackWaitsForEmptyEventLoop: true,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
  };
}

function runHandler(handler, event, context) {
  if (handler[HANDLER_STREAMING] === STREAM_RESPONSE)
    return Promise.resolve().then(() => runStreamingHandler(handler, event, context));
  if (handler.length < 3) return Promise.resolve().then(() => handler(event, context));
  // Callback-style handler: (event, context, callback).
  return new Promise((resolve, reject) => {
    const callback = (error, result) => (error ? reject(error) : resolve(result));
    Promise.resolve()
      .then(() => handler(event, context, callback))
      .then((returned) => returned !== undefined && resolve(returned), reject);
  });
}

async function invoke(handler, invocation) {
  const requestId = invocation['invoke-id'];
  const deadline = Date.now() + timeoutSeconds * 1000;
  env._X_AMZN_TRACE_ID = invocation['trace-id'];
  invocationLog = [];
  let timer;
  const timedOut = new Promise((resolve) => {
    timer = setTimeout(() => resolve(true), timeoutSeconds * 1000);
  });
  let outcome;
  try {
    const event = invocation.payload ? JSON.parse(invocation.payload) : {};
    const result = await Promise.race([
      runHandler(handler, event, contextFor(invocation, deadline)).then((value) => ({ value })),
      timedOut.then(() => ({ timedOut: true })),
    ]);
    const streamed = handler[HANDLER_STREAMING] === STREAM_RESPONSE;
    outcome = result.timedOut
      ? {
          error: {
            errorType: 'Sandbox.Timedout',
            errorMessage: `${requestId} Task timed out after ${timeoutSeconds.toFixed(2)} seconds`,
          },
        }
      : { body: streamed ? result.value : JSON.stringify(result.value ?? null) };
  } catch (error) {
    outcome = { error: errorPayload(error) };
  } finally {
    clearTimeout(timer);
  }
  // A timed-out handler may still be running: like Lambda, end this environment. Take no more
  // invocations first; the executor waits for this process to exit and starts a fresh one.
  const timedOutNow = outcome.error?.errorType === 'Sandbox.Timedout';
  if (timedOutNow) server.close();
  await post(`/invocations/${requestId}/logs`, { logs: invocationLog.join('') });
  if (outcome.error) await post(`/invocations/${requestId}/error`, outcome.error);
  else await post(`/invocations/${requestId}/response`, outcome.body);
  if (timedOutNow) process.exit(0);
}

let handler;
try {
  handler = await loadHandler();
} catch (error) {
  await post(`/status/${runtimeId}/error`, errorPayload(error));
  process.exit(1);
}

let queue = Promise.resolve();
const server = createServer((request, response) => {
  if (request.method !== 'POST' || request.url !== '/invoke') {
    response.writeHead(404).end();
    return;
  }
  const chunks = [];
  request.on('data', (chunk) => chunks.push(chunk));
  request.on('end', () => {
    let invocation;
    try {
      invocation = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch {
      response.writeHead(400).end();
      return;
    }
    response.writeHead(200).end();
    queue = queue
      .then(() => invoke(handler, invocation))
      .catch((error) => {
        process.stderr.write(`runtime: invocation failed to report: ${error}\n`);
      });
  });
});
server.listen(port, '127.0.0.1', () => {
  post(`/status/${runtimeId}/ready`, {}).catch((error) => {
    process.stderr.write(`runtime: could not report ready: ${error}\n`);
    process.exit(1);
  });
});
for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => process.exit(0));
// Never outlive LocalStack: if it dies without stopping this environment, the process is
// re-parented (to init or a subreaper) and ends itself.
const parent = process.ppid;
setInterval(() => {
  if (process.ppid !== parent) process.exit(0);
}, 2_000).unref();
