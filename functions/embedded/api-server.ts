import { randomUUID } from 'node:crypto';
import diagnostics from 'node:diagnostics_channel';
import {
  createServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
  STATUS_CODES,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { Logger } from '@aws-lambda-powertools/logger';
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import { type ApiResult, isStreaming, pipeStream, type StreamingResult } from '../api/http.ts';
import { errorResponse } from '../api/http-errors.ts';
import { ForbiddenError, PayloadTooLargeError, ValidationError } from '../core/errors.ts';
import { type ConsoleAnswer, consoleAnswer, isConsolePath } from './console-assets.ts';
import { readBody } from './http.ts';
import { lambdaContext } from './lambda-context.ts';

export interface ApiServer {
  readonly url: string;
  stop(): Promise<void>;
}

type ApiHandler = (event: APIGatewayProxyEvent, context: Context) => Promise<ApiResult>;

/** Where a failure of the server itself (not of a route: the API logs those) is logged. */
type ErrorLog = Pick<Logger, 'error'>;

/** Lambda's synchronous invocation payload limit, which API Gateway's proxy events are under. */
export const MAX_BODY_BYTES = 6 * 1024 * 1024;
/** The request line and headers together (Node's default, stated so the API document can say it). */
export const MAX_HEADER_BYTES = 16 * 1024;

/**
 * One request the server answered, published on API_REQUEST_CHANNEL when its response closes: what
 * `mobius dev` prints as its request log.
 */
export interface ApiRequestRecord {
  /** The server's URL (http://127.0.0.1:port), telling apart several servers in one process. */
  readonly server: string;
  readonly method: string;
  /** The request target as sent: path and query. */
  readonly path: string;
  /**
   * The status answered; 0 when none was: the client left, or the connection broke, before the
   * answer began (Node's statusCode would say 200 there, for an answer never sent).
   */
  readonly status: number;
  /** From the request's arrival to its response's end (a stream's whole life). */
  readonly ms: number;
  /** The id the response carries in x-amzn-requestid, and error bodies and logs quote. */
  readonly requestId: string;
  /** False when the connection closed before the response was complete (a reader that left). */
  readonly completed: boolean;
}

/**
 * The diagnostics channel (node:diagnostics_channel) each answered request is published on. A
 * channel rather than an option: whoever wants the log subscribes (`mobius dev`, a test), without
 * every layer between it and the server (the embedded runtime) passing a logger along, and with no
 * cost while nobody listens.
 */
export const API_REQUEST_CHANNEL = 'mobius:api:request';
const requestChannel = diagnostics.channel(API_REQUEST_CHANNEL);

/** Calls `listener` for every request any API server of this process answers; returns the unsubscribe. */
export function onApiRequest(listener: (record: ApiRequestRecord) => void): () => void {
  const subscriber = (message: unknown) => listener(message as ApiRequestRecord);
  diagnostics.subscribe(API_REQUEST_CHANNEL, subscriber);
  return () => {
    diagnostics.unsubscribe(API_REQUEST_CHANNEL, subscriber);
  };
}

/**
 * Error codes this server answers with itself, beside the domain's (functions/api/http-errors.ts):
 * requests that never reach a route, and the 500 of a bug.
 */
export const TRANSPORT_ERRORS = {
  BAD_REQUEST: 400,
  REQUEST_TIMEOUT: 408,
  HEADERS_TOO_LARGE: 431,
  INTERNAL: 500,
} as const;

/**
 * Serves the API handler over HTTP on 127.0.0.1, translating each request into the API Gateway
 * proxy event the handler receives in Lambda — so routes, bodies and status codes are the same
 * as behind API Gateway (without its IAM signature check: it only listens on loopback). The web
 * console is served beside it, at `/` and under `/console/` (functions/embedded/console-assets.ts),
 * so its page calls the API on the same origin. Each answered request is published on
 * API_REQUEST_CHANNEL.
 *
 * No request can take the process down: a target that is not a URL is a 400, a malformed request
 * a 400 and oversized headers a 431 (both answered by Node's parser, as JSON here), and anything
 * the handler throws, or a result that cannot be written, a 500 carrying the request id that the
 * log line carries too.
 */
export async function startApiServer(
  handler: ApiHandler,
  options: { port?: number; logger?: ErrorLog } = {},
): Promise<ApiServer> {
  const logger = options.logger ?? new Logger({ serviceName: 'mobius-api' });
  let url = '';
  const server: Server = createServer({ maxHeaderSize: MAX_HEADER_BYTES }, (request, response) => {
    const requestId = randomUUID();
    if (requestChannel.hasSubscribers) publishWhenClosed(url, request, response, requestId);
    serve(handler, request, response, requestId).catch((error: unknown) => {
      logger.error('unexpected error', { requestId, error });
      answerInternalError(response, requestId);
    });
  });
  server.on('clientError', answerClientError);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 4000, '127.0.0.1', resolve);
  });
  server.removeAllListeners('error');
  // Once listening, a server error (accept failing for lack of file descriptors, say) is logged:
  // an 'error' event without a listener would end the process.
  server.on('error', (error) => logger.error('API server error', { error }));
  const { port } = server.address() as AddressInfo;
  url = `http://127.0.0.1:${port}`;
  return {
    url,
    stop: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
}

/** Publishes the request's record on API_REQUEST_CHANNEL once its response has closed. */
function publishWhenClosed(
  server: string,
  request: IncomingMessage,
  response: ServerResponse,
  requestId: string,
): void {
  const started = performance.now();
  response.once('close', () => {
    const record: ApiRequestRecord = {
      server,
      method: request.method ?? 'GET',
      path: request.url ?? '/',
      status: answeredStatus(response),
      ms: performance.now() - started,
      requestId,
      completed: response.writableFinished,
    };
    requestChannel.publish(record);
  });
}

/** The status a response was answered with, or 0 when it never began (ApiRequestRecord.status). */
export function answeredStatus(response: ServerResponse): number {
  return response.headersSent ? response.statusCode : 0;
}

async function serve(
  handler: ApiHandler,
  request: IncomingMessage,
  response: ServerResponse,
  requestId: string,
): Promise<void> {
  const url = requestUrl(request.url);
  const refused = url instanceof ValidationError ? url : foreignCaller(request);
  if (refused !== undefined || url instanceof ValidationError) {
    // Drain the body unread: the answer does not depend on it.
    request.resume();
    write(response, requestId, errorResponse(refused ?? url, requestId));
    return;
  }
  if (isConsolePath(url.pathname)) {
    const page = await consoleAnswer(request.method ?? 'GET', url.pathname);
    if (page !== undefined) {
      request.resume();
      writeConsoleFile(response, requestId, page);
      return;
    }
  }
  let body: string;
  try {
    body = await readBody(request, MAX_BODY_BYTES);
  } catch (error) {
    if ((error as { tooLarge?: boolean }).tooLarge !== true) {
      // The client went away mid-body: nobody is left to answer.
      response.destroy();
      return;
    }
    const tooLarge = new PayloadTooLargeError('Request bodies are limited to 6 MB, as in Lambda.', {
      limitBytes: MAX_BODY_BYTES,
    });
    write(response, requestId, errorResponse(tooLarge, requestId), { connection: 'close' });
    return;
  }
  const headers = Object.fromEntries(
    Object.entries(request.headers).map(([name, value]) => [
      name,
      Array.isArray(value) ? value.join(',') : (value ?? ''),
    ]),
  );
  const query = Object.fromEntries(url.searchParams);
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
  if (isStreaming(result)) await writeStream(response, requestId, result);
  else write(response, requestId, result);
}

/**
 * A streamed answer: status and headers at once, then each piece as the route yields it, waiting
 * while the client's socket is full — a slow client slows its own stream and holds no more than
 * the socket's buffer. A client that goes away (or whose connection errors) ends only its own
 * stream: the iteration is stopped (`return()`), and the route's cleanup runs; nothing else is
 * cancelled. The same pipe as the API's Lambda entry (pipeStream).
 */
async function writeStream(
  response: ServerResponse,
  requestId: string,
  result: StreamingResult,
): Promise<void> {
  response.writeHead(result.statusCode, { 'x-amzn-requestid': requestId, ...result.headers });
  response.flushHeaders();
  await pipeStream(result.stream, response);
}

/**
 * Every caller of the embedded API is its one local operator (no signatures on loopback), so it
 * must be a program on this machine, not a web page: a page anywhere could otherwise post to
 * 127.0.0.1 (a "simple" cross-origin request needs no preflight) or reach it through a rebound
 * DNS name. Refused: a Host other than the loopback address the server listens on, and an Origin
 * other than the server's own (its own pages, such as the console it serves, are fine).
 * `mobius console` guards its signing proxy with the same check: a page elsewhere must not get
 * requests signed with the operator's AWS credentials.
 */
export function foreignCaller(request: IncomingMessage): ForbiddenError | undefined {
  const port = request.socket.localPort;
  const loopback = ['127.0.0.1', 'localhost', '[::1]'];
  const own = new Set(loopback.map((name) => `${name}:${port}`));
  const host = request.headers.host;
  // A rebound name cannot make a browser send a loopback Host, with or without the port.
  if (
    host !== undefined &&
    !own.has(host.toLowerCase()) &&
    !loopback.includes(host.toLowerCase())
  ) {
    return new ForbiddenError(
      `This API answers on 127.0.0.1:${port} only, not as "${host}" (a rebound DNS name would look like this).`,
      { host },
    );
  }
  const origin = request.headers.origin;
  if (origin !== undefined && !own.has(origin.toLowerCase().replace(/^http:\/\//, ''))) {
    return new ForbiddenError(
      `Browser pages from ${origin} may not call the embedded API: every caller here is its local operator. Call it from a program, or from a page it serves.`,
      { origin },
    );
  }
  // A page elsewhere can still make the browser send a GET without an Origin (an <img>, a link):
  // browsers say where it came from in Sec-Fetch-Site, which pages cannot set. Programs send none.
  // A top-level navigation (a link to the console) is let through: the page it opens holds
  // nothing secret, and the site that linked to it cannot read what it shows.
  const site = request.headers['sec-fetch-site'];
  const navigation = request.headers['sec-fetch-mode'] === 'navigate';
  if ((site === 'cross-site' || site === 'same-site') && !navigation) {
    return new ForbiddenError(
      `Browser requests from other sites (Sec-Fetch-Site: ${site}) may not call the embedded API: every caller here is its local operator. Open its console at its own address.`,
      { site },
    );
  }
  return undefined;
}

/**
 * The request target as a URL, or the 400 to answer. Origin-form (`/agents`) and absolute-form
 * (`http://host/agents`, RFC 9112 §3.2.2) are both accepted; only the path and query are used.
 */
function requestUrl(target: string | undefined): URL | ValidationError {
  const raw = target ?? '/';
  const url = URL.parse(raw, 'http://127.0.0.1');
  if (url !== null && (url.protocol === 'http:' || url.protocol === 'https:')) return url;
  const shown = raw.length > 200 ? `${raw.slice(0, 200)}…` : raw;
  return new ValidationError('request target', [
    {
      path: 'url',
      message: `${JSON.stringify(shown)} is not a valid request target; send a path such as /agents (percent-encode "%" as %25)`,
    },
  ]);
}

function write(
  response: ServerResponse,
  requestId: string,
  result: APIGatewayProxyResult,
  extraHeaders: Record<string, string> = {},
): void {
  const body = result.isBase64Encoded
    ? Buffer.from(result.body, 'base64')
    : Buffer.from(result.body ?? '', 'utf8');
  // Headers are validated before anything is sent: a bad one throws here, still in time for a 500.
  response.writeHead(result.statusCode, {
    'x-amzn-requestid': requestId,
    ...Object.fromEntries(
      Object.entries(result.multiValueHeaders ?? {}).map(([name, values]) => [
        name,
        values.map(String),
      ]),
    ),
    ...(result.headers as Record<string, string> | undefined),
    ...extraHeaders,
    'content-length': String(body.length),
  });
  response.end(body);
}

/** A file of the web console, as consoleAnswer made it (HEAD: its headers, no body). */
function writeConsoleFile(response: ServerResponse, requestId: string, page: ConsoleAnswer): void {
  response.writeHead(page.statusCode, { 'x-amzn-requestid': requestId, ...page.headers });
  response.end(page.body);
}

/** The answer when the handler failed or its result could not be written; never throws. */
function answerInternalError(response: ServerResponse, requestId: string): void {
  if (response.headersSent || response.destroyed) {
    response.destroy();
    return;
  }
  try {
    for (const name of response.getHeaderNames()) response.removeHeader(name);
    write(response, requestId, errorResponse(new Error('unexpected'), requestId));
  } catch {
    response.destroy();
  }
}

/**
 * Requests Node's HTTP parser refuses before any handler runs: answered in the API's error format
 * (Node's own answer has no body), then the connection is closed, as the parser cannot go on.
 */
function answerClientError(error: Error & { code?: string }, socket: Duplex): void {
  if (error.code === 'ECONNRESET' || !socket.writable) {
    socket.destroy();
    return;
  }
  const code =
    error.code === 'HPE_HEADER_OVERFLOW'
      ? 'HEADERS_TOO_LARGE'
      : error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? 'REQUEST_TIMEOUT'
        : 'BAD_REQUEST';
  const messages = {
    HEADERS_TOO_LARGE: `The request line and headers are larger than the server accepts (${MAX_HEADER_BYTES / 1024} KB); shorten the query string or headers.`,
    REQUEST_TIMEOUT: 'The request did not arrive in time.',
    BAD_REQUEST: 'The request is not valid HTTP/1.1.',
  };
  const status = TRANSPORT_ERRORS[code];
  const body = JSON.stringify({
    error: { code, message: messages[code], details: { reason: error.code ?? 'unknown' } },
  });
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
  );
}
