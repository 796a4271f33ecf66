import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXAMPLE_AGENTS } from '../../examples/agents/index.ts';
import { exampleRequest } from '../../examples/stack.ts';
import type { CoordinationResult } from '../../functions/coordination/result.ts';
import { NotFoundError } from '../../functions/core/errors.ts';
import type { AgentDefinition } from '../../functions/core/sdk/define-agent.ts';
import { EmbeddedRuntime } from '../../functions/embedded/runtime.ts';

/**
 * Degradation that must work for the user, on the embedded runtime with the example team: the
 * README's own requests, run as a user would run them again and again.
 */
let runtime: EmbeddedRuntime;

/** Two holders of one capability; the first ranks higher. */
const echo = (agentId: string, priority: number): AgentDefinition => ({
  agentId,
  agentType: 'test',
  description: `echoes, ranked ${priority}`,
  capabilities: [{ name: 'echo', version: '1.0.0', priority }],
  handler: (message) => ({ by: agentId, input: message.input }),
});

/** The embedded runtime's planning cache: how long a deregistered agent may still be used. */
const PROMISED_MS = 1000;

beforeAll(async () => {
  runtime = await EmbeddedRuntime.start({
    agents: [
      ...EXAMPLE_AGENTS.map((a) => a.definition),
      echo('echo-first', 10),
      echo('echo-second', 1),
    ],
    // No health sweep during the run: its ping would register a deregistered agent again.
    sweepSeconds: 3600,
  });
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

describe('an open breaker with fallbacks listed', () => {
  it('examples/requests/scatter-gather.json runs with summarizer standing in for a tripped flaky-summarizer', async () => {
    for (let i = 0; i < 5; i++)
      await runtime.registry.recordOutcome('flaky-summarizer', { ok: false, latencyMs: 1 });
    expect((await runtime.registry.get('flaky-summarizer')).circuit.state).toBe('open');
    await new Promise((resolve) => setTimeout(resolve, PROMISED_MS)); // the planning cache catches up

    const result = await run(exampleRequest('scatter-gather'));
    expect(result.status).toBe('succeeded');
    expect(result.steps.find((s) => s.stepId.startsWith('summary'))).toMatchObject({
      agentId: 'summarizer',
      status: 'succeeded',
    });
    // The result says a fallback stood in, for whom and why.
    expect(result).toMatchObject({
      degraded: true,
      standIns: [{ requested: 'flaky-summarizer', agentId: 'summarizer', reason: 'circuit_open' }],
    });
    expect(result.standIns[0]?.stepId).toMatch(/^summary/);
  }, 30_000);
});

describe('the planning cache after a deregistration', () => {
  it(`a deregistered agent is used for ${PROMISED_MS} ms at most, by id or by capability`, async () => {
    const byCapability = { pattern: 'sequential', steps: [{ capability: 'echo' }], payload: {} };
    const byId = { pattern: 'sequential', agents: ['echo-first'], payload: {} };
    const agentOf = (result: CoordinationResult) => result.steps[0]?.agentId;
    // Both lookups cached, as under steady traffic.
    expect(agentOf(await run(byCapability))).toBe('echo-first');
    expect(agentOf(await run(byId))).toBe('echo-first');

    await runtime.registry.deregister('echo-first');
    const deregistered = performance.now();
    const late: string[] = [];
    // Steady traffic for 2.5 s: every run planned after the promised delay must do without it.
    while (performance.now() - deregistered < 2500) {
      const started = performance.now() - deregistered;
      const viaCapability = agentOf(await run(byCapability));
      const viaId = await run(byId).then(agentOf, (error: unknown) => {
        if (error instanceof NotFoundError) return 'not found';
        throw error;
      });
      if (started >= PROMISED_MS && (viaCapability !== 'echo-second' || viaId !== 'not found'))
        late.push(`${Math.round(started)} ms: ${viaCapability}, ${viaId}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(late).toEqual([]);
    expect(agentOf(await run(byCapability))).toBe('echo-second');
  }, 30_000);
});
