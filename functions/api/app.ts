import middy from '@middy/core';
import httpCors from '@middy/http-cors';
import httpRouterHandler, { type Method, type Route } from '@middy/http-router';
import { NotFoundError } from '../core/errors.ts';
import type { ApiDependencies } from './dependencies.ts';
import type { ApiEvent, ApiResult, RouteHandler } from './http.ts';
import { answerError } from './http-errors.ts';
import { a2aAgentCard, a2aJsonRpc } from './routes/a2a.ts';
import { drainAgent, resetAgentCircuit, resumeAgent } from './routes/agent-operations.ts';
import {
  agentHealth,
  deregisterAgent,
  discover,
  getAgent,
  heartbeat,
  listAgents,
  registerAgent,
} from './routes/agents.ts';
import { importAgent } from './routes/agents-import.ts';
import {
  cancelCoordination,
  coordinationEventStream,
  getCoordination,
  listCoordinations,
  runCoordination,
} from './routes/coordinations.ts';
import { fleetHealth } from './routes/health.ts';
import { broadcast, sendMessage } from './routes/messages.ts';
import { agentQueue, deadLetters, redriveDeadLetters } from './routes/queues.ts';

/** The HTTP API of DESIGN.md: the same table API Gateway and the embedded runtime serve. */
export const ROUTES: readonly {
  method: Method;
  path: string;
  handler: (deps: ApiDependencies) => RouteHandler;
}[] = [
  { method: 'GET', path: '/agents', handler: listAgents },
  { method: 'POST', path: '/agents', handler: registerAgent },
  { method: 'POST', path: '/agents/import', handler: importAgent },
  { method: 'GET', path: '/agents/{id}', handler: getAgent },
  { method: 'DELETE', path: '/agents/{id}', handler: deregisterAgent },
  { method: 'POST', path: '/agents/{id}/heartbeat', handler: heartbeat },
  { method: 'GET', path: '/agents/{id}/health', handler: agentHealth },
  { method: 'GET', path: '/agents/{id}/queue', handler: agentQueue },
  { method: 'GET', path: '/agents/{id}/dead-letters', handler: deadLetters },
  { method: 'POST', path: '/agents/{id}/dead-letters/redrive', handler: redriveDeadLetters },
  { method: 'POST', path: '/agents/{id}/circuit/reset', handler: resetAgentCircuit },
  { method: 'POST', path: '/agents/{id}/drain', handler: drainAgent },
  { method: 'POST', path: '/agents/{id}/resume', handler: resumeAgent },
  { method: 'GET', path: '/health', handler: fleetHealth },
  { method: 'POST', path: '/discover', handler: discover },
  { method: 'POST', path: '/messages', handler: sendMessage },
  { method: 'POST', path: '/broadcasts', handler: broadcast },
  { method: 'POST', path: '/coordinations', handler: runCoordination },
  { method: 'GET', path: '/coordinations', handler: listCoordinations },
  { method: 'GET', path: '/coordinations/{id}', handler: getCoordination },
  { method: 'DELETE', path: '/coordinations/{id}', handler: cancelCoordination },
  { method: 'GET', path: '/coordinations/{id}/events', handler: coordinationEventStream },
  { method: 'GET', path: '/a2a/{agentId}/.well-known/agent-card.json', handler: a2aAgentCard },
  { method: 'POST', path: '/a2a/{agentId}', handler: a2aJsonRpc },
];

export interface ApiOptions {
  /** Origins allowed to call the API from a browser; CORS is off when empty. */
  readonly corsOrigins?: readonly string[];
}

/**
 * Builds the API handler: middy's router over thin route handlers, one error mapper for all of
 * them, CORS when configured. Bad input never reaches a 500: it is a ValidationError (400).
 */
export function createApi(deps: ApiDependencies, options: ApiOptions = {}) {
  const router = httpRouterHandler<ApiEvent, ApiResult>({
    routes: ROUTES.map(
      ({ method, path, handler }): Route<ApiEvent, ApiResult> => ({
        method,
        path,
        handler: handler(deps),
      }),
    ),
    notFoundResponse: ({ method, path }) => {
      throw new NotFoundError(`No route ${method} ${path}. See the API table in the README.`, {
        method,
        path,
      });
    },
  });
  const api = middy<ApiEvent, ApiResult>();
  const origins = options.corsOrigins ?? [];
  // Registered before the error mapper so that, running in reverse on errors, it decorates the mapped response too.
  // Browsers hide response headers they are not told about: Retry-After (503) and the request id.
  if (origins.length > 0)
    api.use(
      httpCors({
        origins: [...origins],
        credentials: false,
        exposeHeaders: 'Retry-After, x-amzn-RequestId',
      }),
    );
  api.use({
    onError: async (request) => {
      // A 500 is our bug: the caller sees only the request id, the log has the error to find it by.
      request.response = answerError(
        request.error,
        request.context?.awsRequestId ?? 'unknown',
        deps.logger,
      );
    },
  });
  api.handler((event, context) => router(event, context));
  return api;
}
