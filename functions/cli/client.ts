import { fromNodeProviderChain } from '@aws-sdk/credential-providers';
import { type components, operationRoutes, type operations } from './api-types.ts';
import { type CredentialsProvider, callApi } from './signed-fetch.ts';

/**
 * A typed client for the Mobius HTTP API, deployed (SigV4-signed) or embedded (`mobius dev`):
 * one method per operationId of docs/openapi.json, with request and response types generated from
 * that document (functions/cli/api-types.ts). Requests go through callApi; nothing else is needed
 * at run time.
 *
 * ```ts
 * const mobius = createClient('https://abc123.execute-api.eu-west-1.amazonaws.com/v1');
 * const { body } = await mobius.getAgent({ path: { id: 'summarizer' } });
 * ```
 */

/** The API's schemas by name, e.g. `Schemas['CoordinationRequest']`. */
export type Schemas = components['schemas'];
export type OperationId = keyof operations;

type Operation<K extends OperationId> = operations[K];
type JsonOf<T> = T extends { content: { 'application/json': infer Body } } ? Body : never;
type Present<T> = [Exclude<T, undefined>] extends [never] ? false : true;
/** Keeps only the keys an operation really has (openapi-typescript marks the others `never`). */
type Only<T> = { [P in keyof T as Present<T[P]> extends true ? P : never]: T[P] };

type ParametersOf<K extends OperationId> = Only<Pick<Operation<K>['parameters'], 'path' | 'query'>>;
type BodyOf<K extends OperationId> =
  Present<Operation<K>['requestBody']> extends false
    ? unknown
    : Operation<K> extends { requestBody: infer Body }
      ? { body: JsonOf<Body> }
      : { body?: JsonOf<Operation<K>['requestBody']> };

/** What an operation takes: `path` and `query` parameters and a JSON `body`, where it has them. */
export type RequestOf<K extends OperationId> = ParametersOf<K> & BodyOf<K>;

type Responses<K extends OperationId> = Operation<K>['responses'];
/** What an operation answers when it succeeds (2xx), by status; anything else is an ApiError. */
export type ResponseOf<K extends OperationId> = {
  [S in keyof Responses<K>]: `${S & number}` extends `2${string}`
    ? { readonly status: S; readonly body: JsonOf<Responses<K>[S]> }
    : never;
}[keyof Responses<K>];

export type MobiusClient = {
  readonly [K in OperationId]: (
    ...request: object extends RequestOf<K> ? [request?: RequestOf<K>] : [request: RequestOf<K>]
  ) => Promise<ResponseOf<K>>;
};

/** The API answered 4xx or 5xx; `body` is its `{ error: { code, message, details } }`. */
export class ApiError extends Error {
  override readonly name = 'ApiError';
  readonly operationId: OperationId;
  readonly status: number;
  readonly body: unknown;

  constructor(operationId: OperationId, status: number, body: unknown) {
    const error = (body as Partial<Schemas['Error']> | undefined)?.error;
    super(`The API answered ${status}: ${error?.message ?? JSON.stringify(body)}`);
    this.operationId = operationId;
    this.status = status;
    this.body = body;
  }

  /** The error code (`NOT_FOUND`, `VALIDATION_FAILED`, …) when the body is the API's error shape. */
  get code(): string | undefined {
    return (this.body as Partial<Schemas['Error']> | undefined)?.error?.code;
  }
}

interface AnyRequest {
  readonly path?: Readonly<Record<string, string | number>>;
  readonly query?: Readonly<Record<string, string | number | boolean | undefined>>;
  readonly body?: unknown;
}

/** `/agents/{id}` with its parameters filled in (encoded), plus the query string. */
function target(template: string, { path = {}, query = {} }: AnyRequest): string {
  const filled = template.replace(/\{([^}]+)\}/g, (_, name: string) => {
    const value = path[name];
    if (value === undefined) throw new TypeError(`${template} needs the path parameter ${name}`);
    return encodeURIComponent(String(value));
  });
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(query))
    if (value !== undefined) search.append(name, String(value));
  const text = search.toString();
  return text === '' ? filled : `${filled}?${text}`;
}

/**
 * The provider's credentials, fetched once and reused until five minutes before they expire
 * (profiles, SSO and instance roles are not asked again for every request).
 */
function reused(provider: CredentialsProvider): CredentialsProvider {
  let current: ReturnType<CredentialsProvider> | undefined;
  return async () => {
    current ??= provider();
    try {
      const identity = await current;
      const expiresAt = identity.expiration?.getTime();
      if (expiresAt !== undefined && expiresAt - Date.now() < 300_000) current = undefined;
      return identity;
    } catch (error) {
      current = undefined; // let the next request try again
      throw error;
    }
  };
}

/**
 * A client for the API at `baseUrl` (its stage URL, or `http://127.0.0.1:4000` for `mobius dev`).
 * Requests to API Gateway are signed with `credentials`, by default the standard chain
 * (environment, profile, SSO, instance role), resolved once for the client and cached by it.
 */
export function createClient(
  baseUrl: string,
  options: { readonly credentials?: CredentialsProvider } = {},
): MobiusClient {
  const credentials = options.credentials ?? reused(fromNodeProviderChain());
  const call = async (operationId: OperationId, request: AnyRequest = {}) => {
    const { method, path } = operationRoutes[operationId];
    const { status, body } = await callApi(baseUrl, method, target(path, request), request.body, {
      credentials,
    });
    if (status >= 400) throw new ApiError(operationId, status, body);
    return { status, body };
  };
  const methods = Object.keys(operationRoutes).map((id) => [
    id,
    (request?: AnyRequest) => call(id as OperationId, request),
  ]);
  // The generated route table and the generated types describe the same operations.
  return Object.fromEntries(methods) as MobiusClient;
}
