import * as z from 'zod';
import { heartbeatReportSchema, listFilterSchema } from '../../core/registry/agent-registry.ts';
import { parseWith } from '../../core/validation.ts';
import { callerIn } from '../caller.ts';
import type { ApiDependencies } from '../dependencies.ts';
import { type ApiEvent, json, parseBody, pathParameter, query } from '../http.ts';

const registerQuery = z.strictObject({ update: z.enum(['true', 'false']).optional() });

/** GET /agents?status=&capability=&agentType=&limit=&nextToken= */
export const listAgents = (deps: ApiDependencies) => async (event: ApiEvent) => {
  const filter = parseWith(listFilterSchema, query(event), 'agent list query');
  return json(200, await deps.registry.list(filter));
};

/**
 * POST /agents (?update=true): 201 created (owned by the caller), 200 unchanged or updated, 403
 * when another principal owns the agent, 409 conflict.
 */
export const registerAgent = (deps: ApiDependencies) => async (event: ApiEvent) => {
  const caller = callerIn(deps, event);
  const { update } = parseWith(registerQuery, query(event), 'registration query');
  const card = parseBody(event, z.unknown(), 'agent card');
  const { outcome, record } = await deps.registry.register(card, {
    update: update === 'true',
    caller,
  });
  return json(outcome === 'created' ? 201 : 200, { outcome, agent: record });
};

export const getAgent = (deps: ApiDependencies) => async (event: ApiEvent) =>
  json(200, await deps.registry.get(pathParameter(event, 'id')));

/** DELETE /agents/{id}: the owner or an operator only (403). */
export const deregisterAgent = (deps: ApiDependencies) => async (event: ApiEvent) => {
  const caller = callerIn(deps, event);
  const id = pathParameter(event, 'id');
  return json(200, { deregistered: await deps.registry.deregister(id, { caller }) });
};

/** POST /agents/{id}/heartbeat: the owner or an operator only (403). */
export const heartbeat = (deps: ApiDependencies) => async (event: ApiEvent) => {
  const caller = callerIn(deps, event);
  const report = parseBody(event, heartbeatReportSchema, 'heartbeat', { optional: true });
  return json(200, await deps.registry.heartbeat(pathParameter(event, 'id'), report, { caller }));
};

/** GET /agents/{id}/health: status, metrics, last seen, circuit state. */
export const agentHealth = (deps: ApiDependencies) => async (event: ApiEvent) => {
  const record = await deps.registry.get(pathParameter(event, 'id'));
  return json(200, {
    agentId: record.card.agentId,
    status: record.status,
    lastSeen: record.metrics.lastHeartbeat,
    expiresAt: record.expiresAt,
    metrics: record.metrics,
    circuit: record.circuit,
  });
};

/** POST /discover */
export const discover = (deps: ApiDependencies) => async (event: ApiEvent) => {
  const body = parseBody(event, z.unknown(), 'discovery query');
  return json(200, { matches: await deps.registry.discover(body) });
};
