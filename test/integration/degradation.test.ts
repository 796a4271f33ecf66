import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXAMPLE_AGENTS } from '../../examples/agents/index.ts';
import { exampleRequest } from '../../examples/stack.ts';
import type { CoordinationResult } from '../../functions/coordination/result.ts';
import { EmbeddedRuntime } from '../../functions/embedded/runtime.ts';

/**
 * Degradation that must work for the user, on the embedded runtime with the example team: the
 * README's own requests, run as a user would run them again and again.
 */
let runtime: EmbeddedRuntime;

beforeAll(async () => {
  runtime = await EmbeddedRuntime.start({ agents: EXAMPLE_AGENTS.map((a) => a.definition) });
}, 60_000);

afterAll(async () => {
  await runtime?.stop();
});

async function run(request: Record<string, unknown>): Promise<CoordinationResult> {
  const response = await runtime.coordinations.run(request);
  if (response.state !== 'completed') throw new Error('express runs complete inline');
  return response.result;
}

describe('the breaker counts failures in a row, not failures per flush', () => {
  it('examples/requests/scatter-gather.json run 12 times: flaky-summarizer (one failure in a row at most) stays usable', async () => {
    const request = exampleRequest('scatter-gather');
    // flaky-summarizer fails every other call; its fallback answers for it. Eleven runs land in
    // one background flush (every 5 s) once settled: [fail, ok, fail, …, fail].
    for (let i = 0; i < 11; i++) expect((await run(request)).status).toBe('succeeded');
    await runtime.coordinations.settle();
    const flaky = await runtime.registry.get('flaky-summarizer');
    expect(flaky.metrics).toMatchObject({ requestsProcessed: 11, errors: 6 });
    expect(flaky.circuit).toMatchObject({ state: 'closed', consecutiveFailures: 1 });

    // The twelfth run reaches flaky-summarizer itself (its even call, which succeeds).
    const twelfth = await run(request);
    expect(twelfth.status).toBe('succeeded');
    expect(twelfth.steps.find((s) => s.stepId.startsWith('summary'))).toMatchObject({
      agentId: 'flaky-summarizer',
      status: 'succeeded',
      attempt: 0,
    });
  }, 60_000);
});
