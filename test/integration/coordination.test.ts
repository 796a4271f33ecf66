import { beforeAll, describe, expect, it } from 'vitest';
import { CoordinationPlanner } from '../../functions/coordination/planner.ts';
import { CoordinationService } from '../../functions/coordination/service.ts';
import {
  NoAgentAvailableError,
  NotFoundError,
  ValidationError,
} from '../../functions/core/errors.ts';
import type { TaskRequest } from '../../functions/core/model/task.ts';
import { AgentRegistry } from '../../functions/core/registry/agent-registry.ts';
import { EmbeddedEngine } from '../../functions/embedded/embedded-engine.ts';
import { AgentFleet } from '../compiler/agents.ts';
import { freshRegistryTable } from '../support/dynamo.ts';

/**
 * POST /coordinations end to end below HTTP: requests resolved against the registry (dynalite,
 * as embedded), compiled, run by the embedded engine on SDK agents, shaped into results.
 */
const lambda = (id: string) => `arn:aws:lambda:us-east-1:123456789012:function:${id}`;

describe('coordination service (registry on dynalite, embedded engine)', () => {
  let registry: AgentRegistry;
  let fleet: AgentFleet;
  let service: CoordinationService;

  async function agent(
    agentId: string,
    capabilities: string[],
    priority = 0,
    endpoint: Record<string, string> = { lambdaArn: lambda(agentId) },
  ) {
    await registry.register({
      agentId,
      agentType: 'test',
      description: `agent ${agentId}`,
      capabilities: capabilities.map((name) => ({ name, version: '1.0.0', priority })),
      endpoint,
    });
    await registry.heartbeat(agentId);
  }

  beforeAll(async () => {
    const table = await freshRegistryTable('dynalite');
    registry = new AgentRegistry({ tableName: table.tableName, client: table.client });
    fleet = new AgentFleet(
      {
        broken: { fail: true },
        'broken-critic': { fail: true },
        flaky: { flaky: 1 },
        moody: { flaky: 1 },
      },
      {
        editor: (message) => {
          const { round } = (message.task as TaskRequest).context as { round: number };
          return round === 1
            ? { subtasks: [{ capability: 'critique', input: { draft: 1 } }] }
            : { done: true, output: { reviewed: round - 1 } };
        },
        boss: (message) => {
          const context = (message.task as TaskRequest).context as {
            round: number;
            results: { outcome: { result?: { output: { by: string } } } }[];
          };
          if (context.round === 1)
            return {
              subtasks: [
                { capability: 'keywords', input: { part: 1 } },
                { capability: 'sentiment', input: { part: 2 } },
              ],
            };
          if (context.round === 2)
            return { subtasks: [{ capability: 'keywords', input: { part: 3 } }] };
          return { done: true, output: { summary: `done after ${context.round - 1} rounds` } };
        },
      },
    );
    service = new CoordinationService({ registry, engine: new EmbeddedEngine(fleet.invoke) });
    await agent('a1', ['draft']);
    await agent('a2', ['edit']);
    await agent('a3', ['publish']);
    await agent('broken', ['edit'], 10); // ranks first for "edit", then falls back to a2
    await agent('flaky', ['review']);
    await agent('moody', ['mood']);
    await agent('kw', ['keywords']);
    await agent('sent', ['sentiment']);
    await agent('boss', ['plan']);
    await agent('editor', ['edit-plan']);
    await agent('broken-critic', ['critique']);
    await agent('queue-only', ['archive'], 0, {
      queueUrl: 'https://sqs.us-east-1.amazonaws.com/123456789012/q',
    });
    for (const id of ['s1', 's2', 's3']) await agent(id, ['summarize']);
  });

  it('runs the original spec’s request and reports per-step timings', async () => {
    const response = await service.run({
      pattern: 'pipeline',
      agents: ['a1', 'a2', 'a3'],
      payload: { text: 'x' },
      timeout: 30,
      failure_mode: 'fail_fast',
    });
    if (response.state !== 'completed') throw new Error('express runs complete inline');
    const { result } = response;
    expect(result).toMatchObject({
      pattern: 'pipeline',
      mode: 'express',
      status: 'succeeded',
      degraded: false,
      errors: [],
    });
    expect(result.output).toMatchObject({ trail: ['a1', 'a2', 'a3'] });
    expect(result.steps.map((s) => [s.stepId, s.agentId, s.status])).toEqual([
      ['step1', 'a1', 'succeeded'],
      ['step2', 'a2', 'succeeded'],
      ['step3', 'a3', 'succeeded'],
    ]);
    expect(result.timings.steps).toHaveLength(3);
    expect(result.timings.totalMs).toBeGreaterThanOrEqual(result.timings.agentMs);
    expect(result.timings.overheadMs).toBeCloseTo(
      result.timings.totalMs - result.timings.agentMs,
      2,
    );
  });

  it('resolves capabilities, falls back to the next-ranked agent and says it is degraded', async () => {
    const response = await service.run({
      pattern: 'sequential',
      steps: [{ capability: 'draft' }, { capability: 'edit' }],
    });
    if (response.state !== 'completed') throw new Error('unexpected');
    expect(response.result.status).toBe('succeeded');
    expect(response.result.degraded).toBe(true);
    expect(response.result.steps[1]).toMatchObject({ stepId: 'step2', agentId: 'a2', attempt: 1 });
    expect(response.result.errors).toEqual([
      {
        agentId: 'broken',
        stepId: 'step2',
        error: 'FatalAgentError',
        cause: 'broken cannot do step2',
      },
    ]);
    await service.settle();
    expect((await registry.get('broken')).metrics.errors).toBeGreaterThan(0);
  });

  it('fail_fast names the failing agent and step', async () => {
    const response = await service.run({ pattern: 'sequential', agents: ['a1', 'broken'] });
    if (response.state !== 'completed') throw new Error('unexpected');
    expect(response.result).toMatchObject({
      status: 'failed',
      errors: [
        {
          agentId: 'broken',
          stepId: 'step2',
          error: 'FatalAgentError',
          cause: 'broken cannot do step2',
        },
      ],
    });
  });

  it('best effort returns partial results', async () => {
    const response = await service.run({
      pattern: 'parallel',
      agents: ['a1', 'broken', 'a3'],
      failure_mode: 'best_effort',
    });
    if (response.state !== 'completed') throw new Error('unexpected');
    expect(response.result.status).toBe('partial');
    expect(Object.keys(response.result.output as object)).toEqual(['step1', 'step3']);
  });

  it('retries a flaky agent under failure_mode retry', async () => {
    const response = await service.run({
      pattern: 'sequential',
      agents: ['flaky'],
      failure_mode: 'retry',
      retry: { attempts: 2, intervalSeconds: 1 },
    });
    if (response.state !== 'completed') throw new Error('unexpected');
    expect(response.result.status).toBe('succeeded');
  });

  it('records outcomes in the registry in the order they happened', async () => {
    // moody fails its first call and answers the second: its breaker ends with no failures.
    const response = await service.run({
      pattern: 'sequential',
      agents: ['moody', 'moody'],
      failure_mode: 'best_effort',
    });
    if (response.state !== 'completed') throw new Error('unexpected');
    expect(response.result.status).toBe('partial');
    const moody = await registry.get('moody');
    expect(moody.metrics).toMatchObject({ requestsProcessed: 2, errors: 1 });
    expect(moody.circuit.consecutiveFailures).toBe(0);
  });

  it('scatters a capability to every holder and gathers by strategy', async () => {
    const collect = await service.run({
      pattern: 'scatter_gather',
      steps: [{ capability: 'summarize' }],
      gather: { strategy: 'quorum', quorum: 3 },
    });
    if (collect.state !== 'completed') throw new Error('unexpected');
    expect(collect.result.status).toBe('succeeded');
    expect((collect.result.output as unknown[]).length).toBe(3);
    const first = await service.run({
      pattern: 'scatter_gather',
      agents: ['broken', 's2', 's3'],
      gather: { strategy: 'first_successful' },
    });
    if (first.state !== 'completed') throw new Error('unexpected');
    expect(first.result).toMatchObject({ status: 'partial', output: { by: 's2' } });
  });

  it('runs a hierarchical coordination over two rounds', async () => {
    const response = await service.run({
      pattern: 'hierarchical',
      supervisor: 'boss',
      workers: [{ capability: 'keywords' }, 'sent'],
      maxRounds: 2,
    });
    if (response.state !== 'completed') throw new Error('unexpected');
    const { result } = response;
    expect(result).toMatchObject({
      status: 'succeeded',
      output: { summary: 'done after 2 rounds' },
    });
    expect(result.steps.map((s) => [s.stepId, s.agentId, s.round])).toEqual([
      ['supervisor', 'boss', 1],
      ['r1-t1', 'kw', 1],
      ['r1-t2', 'sent', 1],
      ['supervisor', 'boss', 2],
      ['r2-t1', 'kw', 2],
      ['supervisor', 'boss', 3],
    ]);
  });

  it('names the worker that failed in a best-effort hierarchical run', async () => {
    const response = await service.run({
      pattern: 'hierarchical',
      supervisor: 'editor',
      workers: [{ capability: 'critique' }],
      maxRounds: 2,
      failure_mode: 'best_effort',
    });
    if (response.state !== 'completed') throw new Error('unexpected');
    expect(response.result).toMatchObject({ status: 'partial', output: { reviewed: 1 } });
    expect(response.result.errors).toEqual([
      expect.objectContaining({
        agentId: 'broken-critic',
        stepId: 'r1-t1',
        error: 'FatalAgentError',
      }),
    ]);
  });

  it('runs standard coordinations in the background and serves them by id', async () => {
    const started = await service.run({
      pattern: 'sequential',
      agents: ['queue-only'],
      mode: 'standard',
    });
    if (started.state !== 'running') throw new Error('standard runs start in the background');
    expect(started.coordinationId).toMatch(/^mobius-sequential-[0-9a-f]{16}--[0-9a-f]{32}$/);
    expect(started.coordinationId.length).toBeLessThanOrEqual(80);
    let fetched = await service.get(started.coordinationId);
    for (let i = 0; i < 50 && fetched.state === 'running'; i++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      fetched = await service.get(started.coordinationId);
    }
    expect(fetched).toMatchObject({
      state: 'completed',
      result: { status: 'succeeded', mode: 'standard' },
    });
    await expect(service.get('nope')).rejects.toBeInstanceOf(NotFoundError);
  });

  describe('an agent named by id behind an open breaker', () => {
    beforeAll(async () => {
      for (const id of ['tripped', 'tripped-too', 'stand-in']) await agent(id, ['write']);
      for (const id of ['tripped', 'tripped-too'])
        for (let i = 0; i < 5; i++) await registry.recordOutcome(id, { ok: false, latencyMs: 1 });
    });

    it('is stood in for by its fallback, and the plan says who and why', async () => {
      const request = {
        pattern: 'sequential',
        steps: [{ id: 'write', agent: 'tripped', fallbacks: ['tripped-too', 'stand-in'] }],
      };
      const response = await service.run(request);
      if (response.state !== 'completed') throw new Error('unexpected');
      expect(response.result.status).toBe('succeeded');
      expect(response.result.steps).toEqual([
        expect.objectContaining({ stepId: 'write', agentId: 'stand-in', status: 'succeeded' }),
      ]);

      const planner = new CoordinationPlanner(registry);
      const plan = await planner.plan(planner.parse(request));
      expect(plan.steps[0]?.candidates.map((c) => c.agentId)).toEqual(['stand-in']);
      expect(plan.standIns).toEqual([
        {
          stepId: 'write',
          requested: 'tripped',
          agentId: 'stand-in',
          reason: 'circuit_open',
          detail: expect.stringMatching(
            /^Agent tripped \(steps\.0\) cannot take work: its circuit breaker has been open since \d{4}-/,
          ),
        },
      ]);
    });

    it('as a fallback, is left out while the agent itself runs', async () => {
      const response = await service.run({
        pattern: 'sequential',
        steps: [{ agent: 'a1', fallbacks: ['tripped'] }],
      });
      if (response.state !== 'completed') throw new Error('unexpected');
      expect(response.result).toMatchObject({ status: 'succeeded', degraded: false });
    });

    it('refuses the step when no agent of it can take work, naming each', async () => {
      await expect(service.run({ pattern: 'sequential', agents: ['tripped'] })).rejects.toThrow(
        /Agent tripped \(agents\.0\) cannot take work: its circuit breaker has been open/,
      );
      const error = await service
        .run({ pattern: 'sequential', steps: [{ agent: 'tripped', fallbacks: ['tripped-too'] }] })
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(NoAgentAvailableError);
      expect((error as NoAgentAvailableError).message).toMatch(
        /^No agent can take steps\.0, nor any of its fallbacks: Agent tripped .* Agent tripped-too \(steps\.0\.fallbacks\.0\)/,
      );
    });
  });

  it('refuses what cannot run before anything starts, naming the field', async () => {
    await expect(service.run({ pattern: 'pipeline', agents: ['a1', 'ghost'] })).rejects.toThrow(
      /"ghost" \(agents\.1\)/,
    );
    await expect(
      service.run({ pattern: 'pipeline', steps: [{ capability: 'teleport' }] }),
    ).rejects.toBeInstanceOf(NoAgentAvailableError);
    const unreachable = await service
      .run({ pattern: 'pipeline', agents: ['queue-only'] })
      .catch((e: unknown) => e);
    expect(unreachable).toBeInstanceOf(ValidationError);
    expect((unreachable as ValidationError).issues[0]).toMatchObject({
      path: 'agents.0',
      message: expect.stringContaining('use "mode": "standard"'),
    });
    await expect(
      service.run({
        pattern: 'scatter_gather',
        steps: [{ capability: 'summarize' }],
        gather: { strategy: 'quorum', quorum: 5 },
      }),
    ).rejects.toThrow(/only 3 agents were found/);
  });
});
