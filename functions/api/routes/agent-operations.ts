import * as z from 'zod';
import { agentStatusSchema, circuitStateSchema } from '../../core/model/agent-status.ts';
import { callerIn, requireOperator } from '../caller.ts';
import type { ApiDependencies } from '../dependencies.ts';
import { type ApiEvent, json, pathParameter } from '../http.ts';

/** The body of POST /agents/{id}/circuit/reset. */
export const circuitResetSchema = z.object({
  agentId: z.string(),
  circuit: z.object({
    state: circuitStateSchema,
    consecutiveFailures: z.number(),
    openedAt: z.string().nullable(),
  }),
});
export type CircuitReset = z.output<typeof circuitResetSchema>;

/** The body of POST /agents/{id}/drain. */
export const agentDrainedSchema = z.object({
  agentId: z.string(),
  status: z.literal('drained'),
  /** When the agent was first drained: draining it again keeps it. */
  drainedAt: z.string(),
  /** The principal that first drained it. */
  drainedBy: z.string(),
});
export type AgentDrained = z.output<typeof agentDrainedSchema>;

/** The body of POST /agents/{id}/resume: the status the agent has once the drain is lifted. */
export const agentResumedSchema = z.object({ agentId: z.string(), status: agentStatusSchema });
export type AgentResumed = z.output<typeof agentResumedSchema>;

/** POST /agents/{id}/circuit/reset (operators only): closed, no consecutive failures. */
export const resetAgentCircuit = (deps: ApiDependencies) => async (event: ApiEvent) => {
  const caller = callerIn(deps, event);
  requireOperator(caller, 'reset circuit breakers');
  const agentId = pathParameter(event, 'id');
  const circuit = await deps.registry.resetCircuit(agentId, { caller });
  return json(200, { agentId, circuit } satisfies CircuitReset);
};

/** POST /agents/{id}/drain (operators only): no new work until resumed; idempotent. */
export const drainAgent = (deps: ApiDependencies) => async (event: ApiEvent) => {
  const caller = callerIn(deps, event);
  requireOperator(caller, 'drain agents');
  const drained = await deps.registry.drain(pathParameter(event, 'id'), { caller });
  return json(200, drained satisfies AgentDrained);
};

/** POST /agents/{id}/resume (operators only): lifts a drain; answers the status now. */
export const resumeAgent = (deps: ApiDependencies) => async (event: ApiEvent) => {
  const caller = callerIn(deps, event);
  requireOperator(caller, 'resume agents');
  const record = await deps.registry.resume(pathParameter(event, 'id'), { caller });
  return json(200, { agentId: record.card.agentId, status: record.status } satisfies AgentResumed);
};
