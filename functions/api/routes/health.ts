import { type FleetSummary, fleetSummary } from '../../core/registry/fleet.ts';
import type { ApiDependencies } from '../dependencies.ts';
import { json } from '../http.ts';

/** The body of GET /health. */
export interface FleetHealth extends FleetSummary {
  readonly coordinations: {
    /**
     * Coordinations this API instance is running and holding for a slot, against its admission
     * bound. On AWS that is one API Lambda container's; the CoordinationsShed metric covers all.
     */
    readonly inFlight: number;
    readonly queued: number;
    /** null: no bound (`{ maxInFlight: Infinity }`, which JSON cannot carry). */
    readonly maxInFlight: number | null;
    /**
     * Coordinations running in the whole deployment, every API instance's, express and standard:
     * those started since `since` (a day before) whose end is not logged, counted from the event
     * log's listing — at most a few pages of it: `truncated` when the count stopped there and more
     * are running. null when this API keeps no event log. Always sent; optional to its readers,
     * since an API older than it (a deployed stack not yet updated) leaves it out.
     */
    readonly running?: {
      readonly count: number;
      readonly since: string;
      readonly truncated: boolean;
    } | null;
  };
  readonly generatedAt: string;
}

/**
 * GET /health: the fleet summary (registry reads only; queue figures as the monitor last read
 * them) and the coordinations running (the event log's listing).
 */
export const fleetHealth = (deps: ApiDependencies) => async () => {
  const { inFlight, queued, maxInFlight } = deps.coordinations.load;
  const [fleet, running] = await Promise.all([
    fleetSummary(deps.registry),
    // The fleet's health matters more than this count: a failing count reads as unknown (null).
    deps.coordinations.running().catch((error: unknown) => {
      deps.logger?.warn('GET /health could not count the coordinations running', {
        error: error instanceof Error ? error.message : String(error),
      });
      return undefined;
    }),
  ]);
  const body: FleetHealth = {
    ...fleet,
    coordinations: {
      inFlight,
      queued,
      maxInFlight: Number.isFinite(maxInFlight) ? maxInFlight : null,
      running: running ?? null,
    },
    generatedAt: new Date().toISOString(),
  };
  return json(200, body);
};
