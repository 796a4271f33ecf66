import * as z from 'zod';
import { importA2aAgent, importRequestSchema } from '../../a2a/import-agent.ts';
import { parseWith } from '../../core/validation.ts';
import { callerIn, requireOperator } from '../caller.ts';
import type { ApiDependencies } from '../dependencies.ts';
import { type ApiEvent, json, parseBody, query } from '../http.ts';

const importQuery = z.strictObject({ update: z.enum(['true', 'false']).optional() });

/**
 * POST /agents/import (?update=true), operators only: reads a remote A2A agent's card at `url`
 * (or under it), validates it and registers the agent, owned by the caller, reached through the
 * deployment's A2A proxy (docs/a2a.md, "Importing remote agents"). 201 created, 200 unchanged or
 * updated; 400 naming the setting for a host not allowed, and each bad field of a bad card; 503 or
 * 504 when the remote cannot be read; 403 and 409 as for POST /agents.
 */
export const importAgent = (deps: ApiDependencies) => async (event: ApiEvent) => {
  const caller = callerIn(deps, event);
  requireOperator(caller, 'import A2A agents');
  const { update } = parseWith(importQuery, query(event), 'import query');
  const request = parseBody(event, importRequestSchema, 'A2A import');
  const { outcome, record } = await importA2aAgent({
    registry: deps.registry,
    policy: deps.registry.endpointPolicy?.a2a,
    request,
    caller,
    update: update === 'true',
  });
  return json(outcome === 'created' ? 201 : 200, { outcome, agent: record });
};
