import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { fromNodeProviderChain } from '@aws-sdk/credential-providers';
import type { APIGatewayProxyResult } from 'aws-lambda';
import { errorResponse } from '../api/http-errors.ts';
import { NotFoundError, PayloadTooLargeError, ValidationError } from '../core/errors.ts';
import { type ApiRequestRecord, foreignCaller, MAX_BODY_BYTES } from '../embedded/api-server.ts';
import { consoleAnswer, isConsolePath } from '../embedded/console-assets.ts';
import { readBody } from '../embedded/http.ts';
import { bold, dim, green } from './format.ts';
import type { Io } from './io.ts';
import { requestLine } from './request-log.ts';
import { apiTarget, type CredentialsProvider, isLoopbackHost, openApi } from './signed-fetch.ts';
import { UsageError } from './usage-error.ts';

/** Beside `mobius dev`'s 4000, so both can run at once. */
export const DEFAULT_CONSOLE_PORT = 4001;

/** Request headers the page's calls carry on to the API (the rest are the browser's own). */
const FORWARDED_REQUEST_HEADERS = ['accept', 'last-event-id'] as const;
/**
 * Response headers carried back. Not content-length or content-encoding: fetch has already
 * decoded the body, which goes on chunk by chunk.
 */
const FORWARDED_RESPONSE_HEADERS = [
  'content-type',
  'cache-control',
  'retry-after',
  'x-accel-buffering',
  'x-amzn-requestid',
  'allow',
] as const;

export interface ConsoleServerOptions {
  /** The deployed API's base URL (API Gateway's invoke URL, stage included). */
  readonly api: string;
  /** 127.0.0.1:port; 0 for any free port. @default DEFAULT_CONSOLE_PORT */
  readonly port?: number;
  /** Signs the forwarded calls. @default the standard chain (environment, profile, SSO, role) */
  readonly credentials?: CredentialsProvider;
  /** Told of every request answered (the command prints it). */
  readonly log?: (record: ApiRequestRecord) => void;
}

export interface ConsoleServer {
  readonly url: string;
  stop(): Promise<void>;
}

/**
 * Serves the web console on 127.0.0.1 for a deployed stack: its page and files from this package,
 * and every other request — the page's API calls — forwarded to `api`, SigV4-signed with the
 * operator's AWS credentials (the same signing as every `--api` command: signed-fetch.ts). Answers
 * come back as they arrive: a coordination's server-sent events pass through chunk by chunk,
 * unbuffered, and a page that leaves ends its upstream request. Like the embedded API, it answers
 * only pages it serves itself (Host and Origin checked), so no other site can have requests
 * signed with the operator's credentials.
 */
export async function startConsoleServer(options: ConsoleServerOptions): Promise<ConsoleServer> {
  const credentials = options.credentials ?? fromNodeProviderChain();
  let url = '';
  const server: Server = createServer((request, response) => {
    const requestId = randomUUID();
    const started = performance.now();
    if (options.log !== undefined) {
      const log = options.log;
      response.once('close', () =>
        log({
          server: url,
          method: request.method ?? 'GET',
          path: request.url ?? '/',
          status: response.statusCode,
          ms: performance.now() - started,
          requestId: String(response.getHeader('x-amzn-requestid') ?? requestId),
          completed: response.writableFinished,
        }),
      );
    }
    handle(request, response, requestId, options.api, credentials).catch((error: unknown) => {
      if (response.headersSent) response.destroy();
      else writeResult(response, requestId, errorResponse(error, requestId));
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? DEFAULT_CONSOLE_PORT, '127.0.0.1', resolve);
  });
  server.removeAllListeners('error');
  server.on('error', () => undefined);
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    stop: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
}

async function handle(
  request: IncomingMessage,
  response: ServerResponse,
  requestId: string,
  api: string,
  credentials: CredentialsProvider,
): Promise<void> {
  const method = request.method ?? 'GET';
  const target = URL.parse(request.url ?? '/', 'http://127.0.0.1');
  const refused =
    target === null
      ? new ValidationError('request target', [
          { path: 'url', message: 'not a valid request target; send a path such as /agents' },
        ])
      : foreignCaller(request);
  if (refused !== undefined || target === null) {
    request.resume();
    writeResult(response, requestId, errorResponse(refused, requestId));
    return;
  }
  if (isConsolePath(target.pathname)) {
    request.resume();
    const page = await consoleAnswer(method, target.pathname);
    if (page === undefined) {
      const missing = new NotFoundError(`The console has no ${method} ${target.pathname}.`, {
        method,
        path: target.pathname,
      });
      writeResult(response, requestId, errorResponse(missing, requestId));
      return;
    }
    response.writeHead(page.statusCode, { 'x-amzn-requestid': requestId, ...page.headers });
    response.end(page.body);
    return;
  }
  const outside = outsideTheApi(target, api);
  if (outside !== undefined) {
    request.resume();
    writeResult(response, requestId, errorResponse(outside, requestId));
    return;
  }
  await forward(request, response, requestId, method, target, api, credentials);
}

/**
 * Why a request target may not be forwarded, if it may not: only paths under the API's stage are
 * signed and sent. A raw client (not a browser, which normalises its URLs) can send `/.//x`, which
 * URL parsing turns into `//x`: refused here as nonsense, and joined as text under the stage by
 * apiTarget, which refuses what would still leave it.
 */
function outsideTheApi(target: URL, api: string): ValidationError | undefined {
  const refuse = (message: string) =>
    new ValidationError('request target', [{ path: 'url', message }]);
  if (target.pathname.startsWith('//'))
    return refuse(`${JSON.stringify(target.pathname)} is not an API path: it begins with "//".`);
  try {
    apiTarget(api, `${target.pathname}${target.search}`);
    return undefined;
  } catch (error) {
    return refuse((error as Error).message);
  }
}

/** The page's API call, signed and sent to the API; its answer streamed back as it arrives. */
async function forward(
  request: IncomingMessage,
  response: ServerResponse,
  requestId: string,
  method: string,
  target: URL,
  api: string,
  credentials: CredentialsProvider,
): Promise<void> {
  let text: string;
  try {
    text = await readBody(request, MAX_BODY_BYTES);
  } catch (error) {
    if ((error as { tooLarge?: boolean }).tooLarge !== true) {
      response.destroy();
      return;
    }
    const tooLarge = new PayloadTooLargeError('Request bodies are limited to 6 MB, as in Lambda.', {
      limitBytes: MAX_BODY_BYTES,
    });
    writeResult(response, requestId, errorResponse(tooLarge, requestId));
    return;
  }
  // openApi sends JSON (the only bodies the API takes); it is parsed here and written again.
  let body: unknown;
  if (text.length > 0) {
    try {
      body = JSON.parse(text);
    } catch (error) {
      const invalid = new ValidationError('request body', [
        { path: 'body', message: `not JSON: ${(error as Error).message}` },
      ]);
      writeResult(response, requestId, errorResponse(invalid, requestId));
      return;
    }
  }
  const headers: Record<string, string> = {};
  for (const name of FORWARDED_REQUEST_HEADERS) {
    const value = request.headers[name];
    if (typeof value === 'string') headers[name] = value;
  }
  // The page leaving (EventSource closed, navigation) ends the upstream request too.
  const leaving = new AbortController();
  response.once('close', () => leaving.abort());
  let upstream: Response;
  try {
    upstream = await openApi(api, method, `${target.pathname}${target.search}`, body, {
      credentials,
      headers,
      signal: leaving.signal,
    });
  } catch (error) {
    if (leaving.signal.aborted) return;
    writeResult(response, requestId, unreachable(api, error, requestId));
    return;
  }
  const forwarded: Record<string, string> = { 'x-amzn-requestid': requestId };
  for (const name of FORWARDED_RESPONSE_HEADERS) {
    const value = upstream.headers.get(name);
    if (value !== null) forwarded[name] = value;
  }
  // Set one by one (not through writeHead) so the request log reads the API's own request id.
  for (const [name, value] of Object.entries(forwarded)) response.setHeader(name, value);
  response.writeHead(upstream.status);
  // Status and headers at once (an event stream may stay quiet for a while), then each chunk as
  // it comes, with back-pressure: nothing is collected first.
  response.flushHeaders();
  if (upstream.body === null) {
    response.end();
    return;
  }
  try {
    await pipeline(Readable.fromWeb(upstream.body as WebReadableStream<Uint8Array>), response);
  } catch {
    // The page left, or the API's connection broke mid-answer: nothing is left to tell.
    response.destroy();
  }
}

/** 502: the API could not be reached, or the request could not be signed (no credentials). */
function unreachable(api: string, error: unknown, requestId: string): APIGatewayProxyResult {
  const cause = error as Error & { cause?: { message?: string } };
  const message =
    error instanceof UsageError
      ? error.message
      : `Cannot reach the API at ${api}: ${cause.cause?.message ?? cause.message}`;
  return {
    statusCode: 502,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      error: { code: 'BAD_GATEWAY', message, details: { api, requestId } },
    }),
  };
}

function writeResult(
  response: ServerResponse,
  requestId: string,
  result: APIGatewayProxyResult,
): void {
  const body = Buffer.from(result.body ?? '', 'utf8');
  response.writeHead(result.statusCode, {
    ...(result.headers as Record<string, string> | undefined),
    'x-amzn-requestid': requestId,
    'content-length': String(body.length),
  });
  response.end(body);
}

/**
 * The API URL as given, checked: an https URL (plain http only on this machine, as LocalStack
 * serves it: signed requests and session tokens must not cross a network in clear), or a
 * UsageError naming the fix.
 */
export function apiUrl(value: string): URL {
  const url = URL.parse(value);
  if (url === null || (url.protocol !== 'https:' && url.protocol !== 'http:'))
    throw new UsageError(
      `--api must be the deployed API's URL, such as https://abc123.execute-api.eu-west-1.amazonaws.com/prod (got ${JSON.stringify(value)}); the stack prints it as its ApiUrl output.`,
    );
  if (url.protocol === 'http:' && !isLoopbackHost(url.hostname))
    throw new UsageError(
      `--api ${value} is plain http: the console would send your signed requests and session token across the network readable. Use the API's https URL (https://${url.host}${url.pathname}), as the stack prints it.`,
    );
  return url;
}

/**
 * `mobius console --api <url>`: the web console on 127.0.0.1 for a deployed stack, until
 * interrupted; one line per request, as `mobius dev` prints them.
 */
export async function consoleCommand(
  options: { api: string; port?: number },
  io: Io,
  until: Promise<void>,
  deps: { credentials?: CredentialsProvider } = {},
): Promise<number> {
  const api = apiUrl(options.api).href;
  const port = options.port ?? DEFAULT_CONSOLE_PORT;
  const server = await startConsoleServer({
    api,
    port,
    ...(deps.credentials === undefined ? {} : { credentials: deps.credentials }),
    log: (record) => io.out(requestLine(record)),
  }).catch((error: unknown) => {
    if ((error as { code?: string }).code === 'EADDRINUSE')
      throw new UsageError(
        `Port ${port} on 127.0.0.1 is in use. Stop what uses it, or pick another port: mobius console --port <n>.`,
      );
    throw error;
  });
  io.out(`${green('●')} Mobius console at ${bold(server.url)}  ${dim(`→ ${api}`)}`);
  io.out(
    dim(
      'The page’s API calls go to that API signed with your AWS credentials (SigV4), as every --api command’s do. Ctrl-C to stop.',
    ),
  );
  await until;
  io.err(dim('stopping…'));
  await server.stop();
  return 0;
}
