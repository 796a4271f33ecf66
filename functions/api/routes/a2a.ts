import { a2aCardOf } from '../../a2a/agent-card.ts';
import { A2aEndpoint } from '../../a2a/endpoint.ts';
import type { JsonRpcResponse } from '../../a2a/json-rpc.ts';
import { A2A_VERSION_HEADER } from '../../a2a/protocol.ts';
import { TaskLog } from '../../a2a/task-log.ts';
import { formatSse } from '../../core/streaming/sse.ts';
import { callerIn } from '../caller.ts';
import type { ApiDependencies } from '../dependencies.ts';
import { type ApiEvent, type ApiResult, json, pathParameter } from '../http.ts';
import { sseResult } from '../sse-stream.ts';
import { MAX_STREAM_TIMEOUT_SECONDS, MAX_WAIT_TIMEOUT_SECONDS } from './messages.ts';

/**
 * Every registered agent as an A2A 1.0 agent (docs/a2a.md): its card, and its JSON-RPC endpoint.
 * An agent nobody registered is a 404, as A2A clients expect of an agent that is not there.
 */

/**
 * GET /a2a/{agentId}/.well-known/agent-card.json: the agent's A2A card, naming its JSON-RPC
 * endpoint by the URL this request came to (API Gateway's domain and stage, or the embedded
 * server's address).
 */
export const a2aAgentCard = (deps: ApiDependencies) => async (event: ApiEvent) => {
  const agentId = pathParameter(event, 'agentId');
  const { card } = await deps.registry.get(agentId);
  return json(
    200,
    a2aCardOf(card, {
      endpointUrl: `${apiBaseUrl(event)}/a2a/${encodeURIComponent(agentId)}`,
      authentication: deps.access?.mode === 'iam' ? 'sigv4' : 'none',
    }),
  );
};

/** What a test may shorten: the keep-alive of a streamed answer. */
export interface A2aRouteOptions {
  /** @default KEEPALIVE_MS */
  readonly keepAliveMs?: number;
}

/**
 * POST /a2a/{agentId}: A2A's JSON-RPC methods. Every JSON-RPC answer is a 200 (errors included, as
 * JSON-RPC over HTTP has them); SendStreamingMessage answers with server-sent events, each one a
 * JSON-RPC response (`event: error` for an error). The caller is the message's sender, as for
 * POST /messages.
 */
export const a2aJsonRpc = (deps: ApiDependencies, options: A2aRouteOptions = {}) => {
  const endpoint = new A2aEndpoint({
    router: deps.router,
    tasks: new TaskLog(deps.events),
    limits: { waitSeconds: MAX_WAIT_TIMEOUT_SECONDS, streamSeconds: MAX_STREAM_TIMEOUT_SECONDS },
    ...(deps.logger ? { logger: deps.logger } : {}),
  });
  return async (event: ApiEvent): Promise<ApiResult> => {
    const caller = callerIn(deps, event);
    const agentId = pathParameter(event, 'agentId');
    await deps.registry.get(agentId);
    const answer = await endpoint.answer({
      agentId,
      sender: caller.principal,
      operator: caller.operator,
      requestId: event.requestContext?.requestId ?? 'unknown',
      version: headerOf(event, A2A_VERSION_HEADER),
      body: bodyOf(event),
    });
    if (answer.kind === 'response') return json(200, answer.response);
    return sseResult((signal) => framed(answer.events(signal)), options.keepAliveMs);
  };
};

async function* framed(responses: AsyncIterable<JsonRpcResponse>): AsyncGenerator<string> {
  for await (const response of responses)
    yield formatSse({ event: 'error' in response ? 'error' : 'message', data: response });
}

/**
 * The API's base URL as this request reached it: `https://<domain>/<stage>` behind API Gateway
 * (the stage is what the request path has in front of the route's path, so a custom domain's base
 * path mapping is kept too), `http://<host>` on the embedded server.
 */
export function apiBaseUrl(event: ApiEvent): string {
  const context = event.requestContext as Partial<ApiEvent['requestContext']> | undefined;
  const domain = context?.domainName;
  const host = domain ?? headerOf(event, 'host') ?? '127.0.0.1';
  const scheme =
    headerOf(event, 'x-forwarded-proto')?.split(',')[0]?.trim() ??
    (domain === undefined ? 'http' : 'https');
  const fullPath = context?.path ?? event.path;
  const prefix = fullPath.endsWith(event.path)
    ? fullPath.slice(0, fullPath.length - event.path.length)
    : context?.stage
      ? `/${context.stage}`
      : '';
  return `${scheme}://${host}${prefix.replace(/\/$/, '')}`;
}

function headerOf(event: ApiEvent, name: string): string | undefined {
  const wanted = name.toLowerCase();
  for (const [key, value] of Object.entries(event.headers ?? {}))
    if (key.toLowerCase() === wanted && value !== undefined) return value;
  return undefined;
}

function bodyOf(event: ApiEvent): string | null {
  if (event.body === null || event.body === undefined) return null;
  return event.isBase64Encoded ? Buffer.from(event.body, 'base64').toString('utf8') : event.body;
}
