// The Node.js side of the mobius-host Lambda executor (lambda_executor.py): one process is one
// execution environment. It loads the function's handler from LAMBDA_TASK_ROOT, tells LocalStack it
// is ready, then runs the invocations LocalStack posts to /invoke one at a time and reports each
// result through LocalStack's executor endpoint — the protocol AWS's runtime interface speaks
// inside LocalStack's Lambda containers (localstack/services/lambda_/invocation/executor_endpoint.py).

import { existsSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const env = process.env;
const runtimeEndpoint = env.LOCALSTACK_RUNTIME_ENDPOINT;
const runtimeId = env.LOCALSTACK_RUNTIME_ID;
const port = Number(env.MOBIUS_RUNTIME_PORT);
const timeoutSeconds = Number(env.AWS_LAMBDA_FUNCTION_TIMEOUT ?? 3);

async function post(path, body) {
  const response = await fetch(`${runtimeEndpoint}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
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

async function loadHandler() {
  const spec = env._HANDLER ?? 'index.handler';
  const dot = spec.lastIndexOf('.');
  const modulePath = spec.slice(0, dot);
  const exportName = spec.slice(dot + 1);
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
  const handler = module[exportName] ?? module.default?.[exportName];
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
    outcome = result.timedOut
      ? {
          error: {
            errorType: 'Sandbox.Timedout',
            errorMessage: `${requestId} Task timed out after ${timeoutSeconds.toFixed(2)} seconds`,
          },
        }
      : { body: JSON.stringify(result.value ?? null) };
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
