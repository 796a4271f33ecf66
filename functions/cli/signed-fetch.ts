import { createHash, createHmac, type Hash, type Hmac } from 'node:crypto';
import { fromNodeProviderChain } from '@aws-sdk/credential-providers';

/** What signs a request: the standard chain's provider, or any of the same shape. */
export type CredentialsProvider = ReturnType<typeof fromNodeProviderChain>;

import { SignatureV4 } from '@smithy/signature-v4';
import { UsageError } from './usage-error.ts';

/** SHA-256 (HMAC when keyed) for the SigV4 signer, on Node's own crypto. */
type SourceData = string | ArrayBuffer | ArrayBufferView;
const bytes = (data: SourceData): Uint8Array | string =>
  typeof data === 'string'
    ? data
    : data instanceof ArrayBuffer
      ? new Uint8Array(data)
      : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);

class Sha256 {
  #hash: Hash | Hmac;
  readonly #secret: Uint8Array | string | undefined;

  constructor(secret?: SourceData) {
    this.#secret = secret === undefined ? undefined : bytes(secret);
    this.#hash =
      this.#secret === undefined ? createHash('sha256') : createHmac('sha256', this.#secret);
  }

  update(data: SourceData): void {
    this.#hash.update(bytes(data));
  }

  async digest(): Promise<Uint8Array> {
    return new Uint8Array(this.#hash.digest());
  }

  reset(): void {
    this.#hash =
      this.#secret === undefined ? createHash('sha256') : createHmac('sha256', this.#secret);
  }
}

export interface ApiResponse {
  readonly status: number;
  readonly body: unknown;
}

export interface CallOptions {
  readonly credentials?: CredentialsProvider;
  /** Extra request headers (lower case), signed with the rest: `accept`, `last-event-id`. */
  readonly headers?: Readonly<Record<string, string>>;
  /** Aborts the request, and the reading of a streamed answer. */
  readonly signal?: AbortSignal;
}

/**
 * Calls the Mobius API. URLs on 127.0.0.1/localhost (the embedded runtime) go unsigned; anything
 * else is API Gateway with IAM auth, so the request is signed with SigV4 (`execute-api`) using the
 * standard credential chain (environment, profile, SSO, instance role). LocalStack's API Gateway
 * on the loopback address (`/_aws/execute-api/<id>/<stage>/…`) is API Gateway too, and signed.
 * The region is taken from the execute-api host name, or AWS_REGION. Signed requests go over https
 * only (plain http on loopback, LocalStack's): a UsageError says so otherwise.
 */
export async function callApi(
  baseUrl: string,
  method: string,
  path: string,
  body?: unknown,
  options: CallOptions = {},
): Promise<ApiResponse> {
  const response = await openApi(baseUrl, method, path, body, options);
  return { status: response.status, body: await bodyOf(response) };
}

/**
 * The same request as callApi, answered with the fetch Response whose body is not read yet: for
 * answers read as they arrive (server-sent events).
 */
export async function openApi(
  baseUrl: string,
  method: string,
  path: string,
  body?: unknown,
  options: CallOptions = {},
): Promise<Response> {
  const url = apiTarget(baseUrl, path);
  const payload = body === undefined ? undefined : JSON.stringify(body);
  const headers: Record<string, string> = {
    host: url.host,
    accept: 'application/json',
    ...options.headers,
  };
  if (payload !== undefined) headers['content-type'] = 'application/json';

  const embedded =
    ['127.0.0.1', 'localhost'].includes(url.hostname) &&
    !url.pathname.startsWith('/_aws/execute-api/');
  if (!embedded) {
    if (url.protocol !== 'https:' && !isLoopbackHost(url.hostname))
      throw new UsageError(
        `Refusing to send a signed request to ${url.origin} over plain http: the signature and any session token would cross the network readable. Use its https URL, as the stack prints it: https://${url.host}/…`,
      );
    const region =
      /\.execute-api\.([a-z0-9-]+)\.amazonaws\.com$/.exec(url.hostname)?.[1] ??
      process.env.AWS_REGION ??
      'us-east-1';
    const signer = new SignatureV4({
      service: 'execute-api',
      region,
      credentials: options.credentials ?? fromNodeProviderChain(),
      sha256: Sha256,
    });
    const signed = await signer
      .sign({
        method,
        protocol: url.protocol,
        hostname: url.hostname,
        ...(url.port ? { port: Number(url.port) } : {}),
        path: url.pathname,
        query: Object.fromEntries(url.searchParams),
        headers,
        ...(payload === undefined ? {} : { body: payload }),
      })
      .catch((error: unknown) => {
        // Signing only fails for want of credentials; say so instead of "cannot reach".
        throw new UsageError(
          `Cannot sign the request to ${url.origin} (the deployed API takes IAM-signed requests): ` +
            `${(error as Error).message}. Configure AWS credentials: AWS_PROFILE, \`aws sso login\`, ` +
            'or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY.',
        );
      });
    Object.assign(headers, signed.headers);
  }
  return fetch(url, {
    method,
    headers,
    ...(payload === undefined ? {} : { body: payload }),
    ...(options.signal === undefined ? {} : { signal: options.signal }),
  });
}

/** 127.0.0.0/8, localhost and ::1: this machine, where plain http never crosses a network. */
export function isLoopbackHost(hostname: string): boolean {
  const name = hostname.toLowerCase();
  return name === 'localhost' || name === '[::1]' || /^127(\.\d{1,3}){3}$/.test(name);
}

/**
 * The URL of `path` (with its query) under the API's base URL, joined as text: the base's origin,
 * its path (the stage), then `path`. Resolving `path` as a URL reference instead would let
 * `//host/x` name another host and `/x` leave the stage, with the request still signed. Throws a
 * UsageError for a path that would leave the base all the same (dot segments, `..` encoded).
 */
export function apiTarget(baseUrl: string, path: string): URL {
  const base = new URL(baseUrl);
  const basePath = base.pathname.replace(/\/+$/, '');
  // Always `origin/…`: whatever `path` holds, it cannot reach the authority.
  const url = new URL(`${base.origin}${basePath}/${path.startsWith('/') ? path.slice(1) : path}`);
  if (url.origin !== base.origin || !`${url.pathname}/`.startsWith(`${basePath}/`))
    throw new UsageError(
      `${JSON.stringify(path)} is not a path under the API at ${base.origin}${basePath}/: it would leave the API's stage.`,
    );
  return url;
}

/** A whole answer's body: its JSON, or its text when it is not JSON. */
export async function bodyOf(response: Response): Promise<unknown> {
  const text = await response.text();
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text; // not JSON: keep the text
  }
}
