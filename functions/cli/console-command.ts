import { randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { fromNodeProviderChain } from '@aws-sdk/credential-providers';
import type { APIGatewayProxyResult } from 'aws-lambda';
import { errorResponse } from '../api/http-errors.ts';
import {
  ForbiddenError,
  NotFoundError,
  PayloadTooLargeError,
  ValidationError,
} from '../core/errors.ts';
import {
  type ApiRequestRecord,
  answeredStatus,
  foreignCaller,
  MAX_BODY_BYTES,
} from '../embedded/api-server.ts';
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
  /** http://127.0.0.1:port */
  readonly url: string;
  /**
   * The link to open: `url` with this run's one-time token (`/?token=…`), which lets the page
   * that opens it in. `mobius console` prints it.
   */
  readonly link: string;
  stop(): Promise<void>;
}

/** The header each of the page's calls carries its session in (never forwarded to the API). */
export const SESSION_HEADER = 'x-mobius-console-session';
/** Where the page spends its link's token for the session (console/src/session.ts). */
export const SESSION_PATH = '/console/session';

/**
 * Who may have the console's calls signed: the page that opened its link. The link's token is good
 * once; the page spends it (POST SESSION_PATH) for a session it keeps in its origin's storage —
 * this port's alone: a cookie would also go to every other server on 127.0.0.1 the browser visits —
 * and sends in SESSION_HEADER with every call. A page elsewhere, whose `<img>` or link makes its
 * browser send a GET, carries no such header, nor can it read the answer to one it sets (another
 * origin's custom header needs a CORS preflight this server never grants); other programs and
 * users on this machine have no session. Both secrets are random, per run, and compared in
 * constant time.
 */
class Admission {
  readonly #token = randomBytes(32).toString('base64url');
  readonly #session = randomBytes(32).toString('base64url');
  #spent = false;

  get token(): string {
    return this.#token;
  }

  /** The session, the first time the link's token is given; never again. */
  spend(token: string): string | undefined {
    if (this.#spent || !same(token, this.#token)) return undefined;
    this.#spent = true;
    return this.#session;
  }

  /** Whether the request carries this run's session. */
  admitted(request: IncomingMessage): boolean {
    const value = request.headers[SESSION_HEADER];
    return typeof value === 'string' && same(value, this.#session);
  }
}

function same(given: string, secret: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(secret);
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * Why a call may not be forwarded to the API, if it may not: it lacks the session, or a
 * browser says another site (another origin on 127.0.0.1 included) made it.
 */
function unadmitted(request: IncomingMessage, admission: Admission): ForbiddenError | undefined {
  const site = request.headers['sec-fetch-site'];
  if (site === 'cross-site' || site === 'same-site')
    return new ForbiddenError(
      'Calls made by another site are not forwarded: the console signs only its own page’s calls.',
      { secFetchSite: site },
    );
  if (!admission.admitted(request))
    return new ForbiddenError(
      `This console forwards the calls of the browser that opened its link only: open the link \`mobius console\` printed (http://127.0.0.1:${request.socket.localPort}/?token=…), or restart it for a new one.`,
    );
  return undefined;
}

/**
 * Serves the web console on 127.0.0.1 for a deployed stack: its page and files from this package,
 * and every other request — the page's API calls — forwarded to `api`, SigV4-signed with the
 * operator's AWS credentials (the same signing as every `--api` command: signed-fetch.ts). Answers
 * come back as they arrive: a coordination's server-sent events pass through chunk by chunk,
 * unbuffered, and a page that leaves ends its upstream request. Only the browser that opened the
 * server's link (`link`: its one-time token, spent for a session) has calls forwarded;
 * like the embedded API it also refuses a foreign Host or Origin (a rebound DNS name, a page
 * elsewhere) and, for forwarded calls, a browser's `Sec-Fetch-Site: cross-site|same-site`.
 */
export async function startConsoleServer(options: ConsoleServerOptions): Promise<ConsoleServer> {
  const credentials = options.credentials ?? fromNodeProviderChain();
  const admission = new Admission();
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
          // The link's token stays out of the log (spent or not).
          path: (request.url ?? '/').replace(/([?&]token=)[^&]*/, '$1…'),
          status: answeredStatus(response),
          ms: performance.now() - started,
          requestId: String(response.getHeader('x-amzn-requestid') ?? requestId),
          completed: response.writableFinished,
        }),
      );
    }
    handle(request, response, requestId, options.api, credentials, admission).catch(
      (error: unknown) => {
        if (response.headersSent) response.destroy();
        else writeResult(response, requestId, errorResponse(error, requestId));
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? DEFAULT_CONSOLE_PORT, '127.0.0.1', resolve);
  });
  server.removeAllListeners('error');
  server.on('error', () => undefined);
  const { port } = server.address() as AddressInfo;
  url = `http://127.0.0.1:${port}`;
  return {
    url,
    link: `${url}/?token=${admission.token}`,
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
  admission: Admission,
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
  if (target.pathname === SESSION_PATH && method === 'POST') {
    request.resume();
    startSession(request, response, requestId, admission);
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
  const outside = unadmitted(request, admission) ?? outsideTheApi(target, api);
  if (outside !== undefined) {
    request.resume();
    writeResult(response, requestId, errorResponse(outside, requestId));
    return;
  }
  await forward(request, response, requestId, method, target, api, credentials);
}

/**
 * The link's token (in the `x-mobius-console-token` header: it stays out of URLs and logs), spent
 * for the session: 200 `{ session }`, once. A spent or wrong token is refused, told how to get a
 * new link; a page already let in keeps the session it has (console/src/session.ts).
 */
function startSession(
  request: IncomingMessage,
  response: ServerResponse,
  requestId: string,
  admission: Admission,
): void {
  const given = request.headers['x-mobius-console-token'];
  const session = typeof given === 'string' ? admission.spend(given) : undefined;
  if (session !== undefined) {
    writeResult(response, requestId, {
      statusCode: 200,
      headers: { 'content-type': 'application/json', 'cache-control': 'no-store' },
      body: JSON.stringify({ session }),
    });
    return;
  }
  const refused = new ForbiddenError(
    'This link’s token is not good (any more): each link `mobius console` prints lets one browser in, once. Open the console in the browser that opened it, or restart `mobius console` for a new link.',
  );
  writeResult(response, requestId, errorResponse(refused, requestId));
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
  io.out(`${green('●')} Mobius console at ${bold(server.link)}  ${dim(`→ ${api}`)}`);
  io.out(
    dim(
      'Open that link: its token lets one browser in, once. The page’s API calls go to that API signed with your AWS credentials (SigV4), as every --api command’s do. Ctrl-C to stop.',
    ),
  );
  await until;
  io.err(dim('stopping…'));
  await server.stop();
  return 0;
}
