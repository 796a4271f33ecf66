import { describe, expect, it, vi } from 'vitest';
import type { ApiDependencies } from '../../functions/api/dependencies.ts';
import { buffered, isStreaming } from '../../functions/api/http.ts';
import { fleetHealth } from '../../functions/api/routes/health.ts';

describe('GET /health', () => {
  it('answers the fleet when the running count fails: running reads null and the API logs why', async () => {
    const warn = vi.fn();
    const deps = {
      registry: { list: async () => ({ agents: [] }) },
      coordinations: {
        load: { inFlight: 1, queued: 0, maxInFlight: 16 },
        running: async () => {
          throw new Error('ProvisionedThroughputExceededException');
        },
      },
      logger: { warn },
    } as unknown as ApiDependencies;
    const result = await fleetHealth(deps)();
    if (isStreaming(result)) throw new Error('expected a JSON answer');
    expect(result.statusCode).toBe(200);
    const body = JSON.parse(buffered(result).body) as {
      agents: { total: number };
      coordinations: { inFlight: number; running: unknown };
    };
    expect(body.agents.total).toBe(0);
    expect(body.coordinations).toMatchObject({ inFlight: 1, running: null });
    expect(warn).toHaveBeenCalledWith(
      'GET /health could not count the coordinations running',
      expect.objectContaining({ error: 'ProvisionedThroughputExceededException' }),
    );
  });
});
