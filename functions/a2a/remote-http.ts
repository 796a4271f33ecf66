import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { request as httpRequest, type IncomingMessage, type RequestOptions } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isIP, type LookupFunction } from 'node:net';
import {
  addressAllowed,
  portOf,
  type RemoteHostPolicy,
  remoteUrlIssue,
} from '../core/model/remote-hosts.ts';

/**
 * HTTP calls to agents outside AWS, held to the deployment's host allow-list (see
 * core/model/remote-hosts.ts) at every step a call could be turned elsewhere:
 * - the URL's host must be allowed before anything is sent;
 * - the addresses its name resolves to are checked as the connection is made — the check and the
 *   connection use the same answer, so a name that resolves to a public address when checked and to
 *   an internal one a moment later (DNS rebinding) still cannot reach it;
 * - a redirect is followed only to the same origin, three at most; one to another host is refused;
 * - an answer larger than its bound is cut and refused, and the whole call ends at its deadline.
 * No proxy settings of the environment apply: the calls go straight to the allowed host.
 */

/** Why a call was not made or not finished; `retryable` says whether trying again could help. */
export class RemoteCallError extends Error {
  override readonly name = 'RemoteCallError';
  readonly retryable: boolean;
  /** The HTTP status, when the remote answered with one. */
  readonly status: number | undefined;

  constructor(message: string, options: { retryable: boolean; status?: number; cause?: unknown }) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.retryable = options.retryable;
    this.status = options.status;
  }
}

export interface RemoteRequest {
  readonly method: 'GET' | 'POST';
  readonly url: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: string;
  /** Ends the call (connect, send, and reading the answer) when aborted. */
  readonly signal: AbortSignal;
  /** The most bytes of answer read; more is refused. */
  readonly maxBytes: number;
}

export interface RemoteResponse {
  readonly status: number;
  readonly contentType: string;
  /** The answer's body, read as it comes (bounded by maxBytes in all). */
  readonly body: AsyncIterable<Buffer>;
  /** Ends reading early (the body is not wanted any more). */
  close(): void;
}

const MAX_REDIRECTS = 3;

/**
 * Calls `request.url` under `policy`; resolves once the status and headers are in. A status of 3xx
 * is followed (same origin only); every other status is the caller's to judge.
 */
export async function remoteCall(
  request: RemoteRequest,
  policy: RemoteHostPolicy,
): Promise<RemoteResponse> {
  let url = request.url;
  for (let hop = 0; ; hop++) {
    const response = await callOnce({ ...request, url }, policy);
    const location = response.headers.location;
    if (
      response.statusCode === undefined ||
      response.statusCode < 300 ||
      response.statusCode >= 400 ||
      location === undefined
    )
      return bounded(response, request);
    response.destroy();
    // A Location that is no URL is the remote's mistake: asking again brings the same answer.
    if (!URL.canParse(location, url))
      throw new RemoteCallError(
        `${url} redirected to "${location.slice(0, 200)}", which is no URL`,
        {
          retryable: false,
          status: response.statusCode,
        },
      );
    const next = new URL(location, url);
    if (next.origin !== new URL(url).origin)
      throw new RemoteCallError(
        `${url} redirected to ${next.origin}, another host: redirects are followed to the same host only`,
        { retryable: false, status: response.statusCode },
      );
    // A POST is only ever repeated where the status says to (307, 308); others would turn it into a GET.
    if (request.method === 'POST' && response.statusCode !== 307 && response.statusCode !== 308)
      throw new RemoteCallError(
        `${url} answered ${response.statusCode} to a POST; nothing was sent on`,
        {
          retryable: false,
          status: response.statusCode,
        },
      );
    if (hop + 1 >= MAX_REDIRECTS)
      throw new RemoteCallError(`${request.url} redirected more than ${MAX_REDIRECTS} times`, {
        retryable: false,
      });
    url = next.href;
  }
}

function callOnce(request: RemoteRequest, policy: RemoteHostPolicy): Promise<IncomingMessage> {
  const issue = remoteUrlIssue(request.url, policy);
  if (issue !== undefined)
    return Promise.reject(new RemoteCallError(`${request.url}: ${issue}`, { retryable: false }));
  const url = new URL(request.url);
  const host = url.hostname.replace(/^\[|\]$/g, '');
  // A literal address is never looked up, so it is checked here rather than in the lookup.
  if (isIP(host) !== 0 && !addressAllowed(host, policy, portOf(url)))
    return Promise.reject(refusedAddress(url, host, policy));
  const options: RequestOptions = {
    method: request.method,
    headers: {
      ...request.headers,
      ...(request.body === undefined
        ? {}
        : { 'content-length': String(Buffer.byteLength(request.body)) }),
    },
    signal: request.signal,
    lookup: guardedLookup(url, policy),
    // No keep-alive pool across calls: each call connects (and checks) anew.
    agent: false,
  };
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const outgoing = send(url, options, resolve);
    outgoing.once('error', (error) => reject(transportError(request.url, error, request.signal)));
    outgoing.end(request.body);
  });
}

/**
 * dns.lookup, with every address of the answer checked against the policy, for the port the call
 * connects to, before any is used.
 */
function guardedLookup(url: URL, policy: RemoteHostPolicy): LookupFunction {
  const port = portOf(url);
  return (hostname, options, callback) => {
    dnsLookup(hostname, { ...options, all: true }, (error, addresses: LookupAddress[]) => {
      if (error) return callback(error, '', 4);
      const refused = addresses.find((entry) => !addressAllowed(entry.address, policy, port));
      if (refused !== undefined || addresses.length === 0)
        return callback(refusedAddress(url, refused?.address ?? '(none)', policy), '', 4);
      if (options.all)
        return (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, addresses);
      const [first] = addresses as [LookupAddress];
      return callback(null, first.address, first.family);
    });
  };
}

function refusedAddress(url: URL, address: string, policy: RemoteHostPolicy): RemoteCallError {
  return new RemoteCallError(
    `${url.host} resolves to ${address}, a private, loopback, link-local or reserved address; ` +
      `calls go there only when an address entry allows it on port ${portOf(url)} (${policy.setting})`,
    { retryable: false },
  );
}

/** A failure to connect or send: transient (refused, reset, timed out, name lookup) unless refused by policy. */
function transportError(url: string, error: Error, signal: AbortSignal): Error {
  if (error instanceof RemoteCallError) return error;
  if (signal.aborted) return signal.reason instanceof Error ? signal.reason : error;
  return new RemoteCallError(`${url}: ${error.message}`, { retryable: true, cause: error });
}

function bounded(response: IncomingMessage, request: RemoteRequest): RemoteResponse {
  const { maxBytes, signal, url } = request;
  return {
    status: response.statusCode ?? 0,
    contentType: String(response.headers['content-type'] ?? ''),
    close: () => response.destroy(),
    body: (async function* () {
      let read = 0;
      try {
        for await (const chunk of response as AsyncIterable<Buffer>) {
          read += chunk.length;
          if (read > maxBytes)
            throw new RemoteCallError(
              `${url} answered more than ${maxBytes} bytes; the answer is refused`,
              {
                retryable: false,
                status: response.statusCode,
              },
            );
          yield chunk;
        }
      } catch (error) {
        if (error instanceof RemoteCallError) throw error;
        throw transportError(url, error as Error, signal);
      } finally {
        response.destroy();
      }
    })(),
  };
}

/** The whole body as text (bounded as the response is). */
export async function textOf(response: RemoteResponse): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of response.body) chunks.push(chunk);
  return Buffer.concat(chunks).toString('utf8');
}
