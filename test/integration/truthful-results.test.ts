import { beforeAll, describe, expect, it } from 'vitest';
import type { CoordinationResult } from '../../functions/coordination/result.ts';
import { CoordinationService } from '../../functions/coordination/service.ts';
import { AgentRegistry } from '../../functions/core/registry/agent-registry.ts';
import { EmbeddedEngine } from '../../functions/embedded/embedded-engine.ts';
import { AgentFleet } from '../compiler/agents.ts';
import { freshRegistryTable } from '../support/dynamo.ts';

/**
 * What a coordination that did not fully succeed reports (issue 15, items 12 and 13): the agent
 * that failed and the step it failed at, the agents a timeout cut off, and the outputs of the steps
 * that had succeeded before the run stopped. Registry on dynalite, compiled ASL run by the embedded
 * engine, agents written with the SDK.
 */
const lambda = (id: string) => `arn:aws:lambda:us-east-1:123456789012:function:${id}`;

describe('coordination results that tell the truth', () => {
  let service: CoordinationService;

  async function run(request: Record<string, unknown>): Promise<CoordinationResult> {
    const response = await service.run({ payload: { topic: 'truth' }, ...request });
    if (response.state !== 'completed') throw new Error(`unexpected ${response.state}`);
    return response.result;
  }

  beforeAll(async () => {
    const table = await freshRegistryTable('dynalite');
    const registry = new AgentRegistry({ tableName: table.tableName, client: table.client });
    const fleet = new AgentFleet({
      broken: { fail: true },
      'late-broken': { fail: true, delayMs: 300 },
      slow: { delayMs: 2_500 },
    });
    service = new CoordinationService({ registry, engine: new EmbeddedEngine(fleet.invoke) });
    for (const agentId of ['a1', 'a3', 'broken', 'late-broken', 'slow']) {
      await registry.register({
        agentId,
        agentType: 'test',
        description: `agent ${agentId}`,
        capabilities: [{ name: `cap-${agentId}`, version: '1.0.0' }],
        endpoint: { lambdaArn: lambda(agentId) },
      });
      await registry.heartbeat(agentId);
    }
  });

  it('pipeline best_effort: the skipped step names the agent that failed, not the one before it', async () => {
    const result = await run({
      pattern: 'pipeline',
      agents: ['a1', 'broken', 'a3'],
      failure_mode: 'best_effort',
    });
    expect(result.status).toBe('partial');
    expect(result.steps.map((s) => [s.stepId, s.agentId, s.status])).toEqual([
      ['step1', 'a1', 'succeeded'],
      ['step2', 'broken', 'failed'],
      ['step3', 'a3', 'succeeded'],
    ]);
    expect(result.errors).toEqual([
      expect.objectContaining({ agentId: 'broken', stepId: 'step2', error: 'FatalAgentError' }),
    ]);
  });

  it('fail_fast keeps the outputs of the steps that had succeeded', async () => {
    const result = await run({ pattern: 'sequential', agents: ['a1', 'broken', 'a3'] });
    expect(result.status).toBe('failed');
    expect(result.steps).toEqual([
      expect.objectContaining({
        stepId: 'step1',
        agentId: 'a1',
        status: 'succeeded',
        output: expect.objectContaining({ by: 'a1' }),
      }),
      expect.objectContaining({ stepId: 'step2', agentId: 'broken', status: 'failed' }),
    ]);
    expect(result.errors).toEqual([
      {
        agentId: 'broken',
        stepId: 'step2',
        error: 'FatalAgentError',
        cause: 'broken cannot do step2',
      },
    ]);
  });

  it('a fan-out that fails keeps the items that had finished', async () => {
    const result = await run({ pattern: 'parallel', agents: ['a1', 'late-broken'] });
    expect(result.status).toBe('failed');
    expect(result.steps).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ stepId: 'step1', agentId: 'a1', status: 'succeeded' }),
        expect.objectContaining({ stepId: 'step2', agentId: 'late-broken', status: 'failed' }),
      ]),
    );
  });

  it('scatter-gather below its quorum names every agent that failed', async () => {
    const result = await run({ pattern: 'scatter_gather', agents: ['a1', 'broken'] });
    expect(result.status).toBe('failed');
    expect(result.errors).toEqual([
      expect.objectContaining({ agentId: 'broken', stepId: 'step2', error: 'FatalAgentError' }),
      expect.objectContaining({ agentId: null, error: 'Mobius.QuorumNotMet' }),
    ]);
    expect(result.steps.find((s) => s.agentId === 'a1')).toMatchObject({
      status: 'succeeded',
      output: expect.objectContaining({ by: 'a1' }),
    });
  });

  it('a coordination timeout names the step and the agent still running, and keeps what finished', async () => {
    const result = await run({ pattern: 'sequential', agents: ['a1', 'slow', 'a3'], timeout: 1 });
    expect(result.status).toBe('failed');
    expect(result.errors).toEqual([
      {
        agentId: 'slow',
        stepId: 'step2',
        error: 'Mobius.CoordinationTimeout',
        cause: 'the coordination ran past its timeout while slow was still working on step step2',
      },
    ]);
    expect(result.steps).toEqual([
      expect.objectContaining({ stepId: 'step1', agentId: 'a1', status: 'succeeded' }),
      expect.objectContaining({ stepId: 'step2', agentId: 'slow', status: 'failed' }),
    ]);
  });
});
