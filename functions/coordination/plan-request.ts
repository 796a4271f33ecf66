import type { CoordinationPlan } from '../../statemachines/plan.ts';
import type { AgentCardInput } from '../core/model/agent-card.ts';
import { CoordinationPlanner } from './planner.ts';
import { StaticDirectory } from './static-directory.ts';

/**
 * Plans `request` against agent definitions, every agent taken as healthy, with the planner the
 * API uses against the registry: what `mobius compile` and synth-time workflows compile. Invalid
 * requests throw a ValidationError naming the field.
 */
export function planRequest(
  request: unknown,
  agents: readonly (Omit<AgentCardInput, 'endpoint'> & { readonly handler?: unknown })[],
): Promise<CoordinationPlan> {
  const planner = new CoordinationPlanner(StaticDirectory.forShapes(agents));
  return planner.plan(planner.parse(request));
}
