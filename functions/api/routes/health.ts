import { type FleetSummary, fleetSummary } from '../../core/registry/fleet.ts';
import type { ApiDependencies } from '../dependencies.ts';
import { json } from '../http.ts';

/** The body of GET /health. */
export interface FleetHealth extends FleetSummary {
  /**
   * Coordinations this API instance is running and holding for a slot, against its admission
   * bound. On AWS that is one API Lambda container's; the CoordinationsShed metric covers all.
   */
  readonly coordinations: {
    readonly inFlight: number;
    readonly queued: number;
    /** null: no bound (`{ maxInFlight: Infinity }`, which JSON cannot carry). */
    readonly maxInFlight: number | null;
  };
  readonly generatedAt: string;
}

/** GET /health: the fleet summary (registry reads only; queue figures as the monitor last read them). */
export const fleetHealth = (deps: ApiDependencies) => async () => {
  const { inFlight, queued, maxInFlight } = deps.coordinations.load;
  const body: FleetHealth = {
    ...(await fleetSummary(deps.registry)),
    coordinations: {
      inFlight,
      queued,
      maxInFlight: Number.isFinite(maxInFlight) ? maxInFlight : null,
    },
    generatedAt: new Date().toISOString(),
  };
  return json(200, body);
};
