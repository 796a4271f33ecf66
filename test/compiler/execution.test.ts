import { describe, expect, it } from 'vitest';
import type { ExecutionOutcome } from '../../functions/coordination/execution.ts';
import type { TaskRequest } from '../../functions/core/model/task.ts';
import { LocalStateMachines } from '../../functions/embedded/local-executor.ts';
import { compile } from '../../statemachines/compile.ts';
import { estimateCost } from '../../statemachines/cost.ts';
import { type CoordinationPlan, executionInput } from '../../statemachines/plan.ts';
import { executionStateSchema, parseRecords } from '../../statemachines/records.ts';
import { AgentFleet, type Behaviour } from './agents.ts';
import { type PlanOptions, planFor } from './fixtures.ts';

/**
 * The compiled ASL executed by a real ASL interpreter (aws-local-stepfunctions), every Task bound
 * to agents written with the real agent SDK. Retry intervals are zeroed; everything else — Retry,
 * Catch, TimeoutSeconds, Map, Choice, intrinsics — runs as written.
 */
const engine = new LocalStateMachines();
const PAYLOAD = { question: 'what changed?' };

async function run(
  plan: CoordinationPlan,
  behaviours: Record<string, Behaviour> = {},
  fleet = new AgentFleet(behaviours),
) {
  const machine = compile(plan);
  const { outcome, transitions } = await engine.run(
    machine,
    executionInput(plan, 'coord-1', PAYLOAD),
    fleet.invoke,
    {
      retryIntervalMs: 0,
      countTransitions: true,
    },
  );
  return {
    outcome,
    transitions,
    fleet,
    // Parsed with the layout the compiler declares: a machine writing anything else fails here.
    state: parseRecords(
      executionStateSchema,
      outcome.status === 'SUCCEEDED' ? outcome.output : {},
      'The execution state',
    ),
  };
}

function failed(outcome: ExecutionOutcome): { error: string; cause: string | null } {
  if (outcome.status !== 'FAILED')
    throw new Error(`expected FAILED, got ${JSON.stringify(outcome)}`);
  return outcome;
}

/** The trail pipeline agents append their ids to (see AgentFleet). */
const trail = (output: unknown) => (output as { trail?: string[] } | undefined)?.trail;

const plan = (pattern: Parameters<typeof planFor>[0], options: PlanOptions = {}) =>
  planFor(pattern, options);

describe.each(['express', 'standard'] as const)(
  'execution in the ASL interpreter (%s tasks)',
  (mode) => {
    describe('sequential', () => {
      it('runs every step in order; each agent gets the payload and the earlier results', async () => {
        const { outcome, state, fleet } = await run(plan('sequential', { mode }));
        expect(outcome.status).toBe('SUCCEEDED');
        expect(Object.keys(state.steps)).toEqual(['step1', 'step2', 'step3']);
        const third = fleet.calls.get('a3')?.[0] as TaskRequest;
        expect(third.input).toEqual(PAYLOAD);
        expect(Object.keys(third.context as object)).toEqual(['step1', 'step2']);
        expect(fleet.callCount('a2-backup')).toBe(0);
      });

      it('fail_fast: a failing agent fails the run, naming the agent, the step and the cause', async () => {
        const { outcome, fleet } = await run(plan('sequential', { mode }), { a1: { fail: true } });
        expect(failed(outcome)).toMatchObject({
          error: 'FatalAgentError',
          cause: expect.stringMatching(/^a1 failed at step step1: .*a1 cannot do step1/),
        });
        expect(fleet.callCount('a2')).toBe(0);
      });

      it('uses the fallback when the agent fails', async () => {
        const { outcome, state, fleet } = await run(plan('sequential', { mode }), {
          a2: { fail: true },
        });
        expect(outcome.status).toBe('SUCCEEDED');
        expect(state.steps.step2?.outcome).toMatchObject({
          ok: true,
          attempt: 1,
          result: { agentId: 'a2-backup' },
        });
        expect(state.steps.step2?.k0).toMatchObject({ Error: 'FatalAgentError' });
        expect(fleet.callCount('a3')).toBe(1);
        // Each task says which candidate it is: the agent reports a fallback as one.
        expect(fleet.calls.get('a2')?.[0]).toMatchObject({ stepId: 'step2', candidate: 0 });
        expect(fleet.calls.get('a2-backup')?.[0]).toMatchObject({ stepId: 'step2', candidate: 1 });
      });

      it('best_effort: records the failure and runs the remaining steps', async () => {
        const { outcome, state } = await run(
          plan('sequential', { mode, failureMode: 'best_effort' }),
          { a1: { fail: true } },
        );
        expect(outcome.status).toBe('SUCCEEDED');
        expect(state.steps.step1?.outcome).toEqual({ ok: false, attempt: 0, agentId: 'a1' });
        expect(state.steps.step3?.outcome?.ok).toBe(true);
      });

      it('retry: retries a flaky agent and succeeds, but never retries a fatal error', async () => {
        const flaky = await run(plan('sequential', { mode, failureMode: 'retry' }), {
          a1: { flaky: 2 },
        });
        expect(flaky.outcome.status).toBe('SUCCEEDED');
        expect(flaky.fleet.callCount('a1')).toBe(3);

        const fatal = await run(plan('sequential', { mode, failureMode: 'retry' }), {
          a3: { fail: true },
        });
        expect(failed(fatal.outcome).error).toBe('FatalAgentError');
        expect(fatal.fleet.callCount('a3')).toBe(1);
      });

      it('times out a slow agent (TimeoutSeconds) and reports States.Timeout for it', async () => {
        const { outcome } = await run(plan('sequential', { mode, stepTimeoutSeconds: 1 }), {
          a1: { delayMs: 1_500 },
        });
        expect(failed(outcome)).toMatchObject({
          error: 'States.Timeout',
          cause: expect.stringMatching(/^a1 failed at step step1/),
        });
      });
    });

    describe('pipeline', () => {
      it('feeds each output into the next agent', async () => {
        const { outcome, state } = await run(plan('pipeline', { mode }));
        expect(outcome.status).toBe('SUCCEEDED');
        expect(trail(state.steps.step3?.outcome?.result?.output)).toEqual(['a1', 'a2', 'a3']);
      });

      it('best_effort: a skipped step passes the last good result on', async () => {
        const { state } = await run(plan('pipeline', { mode, failureMode: 'best_effort' }), {
          a2: { fail: true },
          'a2-backup': { fail: true },
        });
        expect(state.steps.step2?.outcome).toMatchObject({
          ok: false,
          attempt: 1,
          agentId: 'a2-backup',
        });
        expect(trail(state.steps.step3?.outcome?.result?.output)).toEqual(['a1', 'a3']);
      });
    });

    describe('parallel', () => {
      it('gives every agent the same payload at once', async () => {
        const { outcome, state, fleet } = await run(plan('parallel', { mode }), {
          a1: { delayMs: 200 },
          a2: { delayMs: 200 },
          a3: { delayMs: 200 },
        });
        expect(outcome.status).toBe('SUCCEEDED');
        expect(state.results?.map((r) => r.outcome?.result?.agentId)).toEqual(['a1', 'a2', 'a3']);
        expect(fleet.calls.get('a3')?.[0]?.input).toEqual(PAYLOAD);
      });

      it('fail_fast: one failure fails the run', async () => {
        const { outcome } = await run(plan('parallel', { mode }), { a3: { fail: true } });
        expect(failed(outcome).cause).toMatch(/^a3 failed at step step3/);
      });

      it('times each agent out after its own step’s timeout', async () => {
        const base = plan('parallel', { mode, failureMode: 'best_effort' });
        const perStep = {
          ...base,
          steps: base.steps.map((step, i) => ({ ...step, timeoutSeconds: i === 0 ? 1 : 5 })),
        };
        const { outcome, state, fleet } = await run(perStep, {
          a1: { delayMs: 1_500 },
          a3: { delayMs: 1_500 },
        });
        expect(outcome.status).toBe('SUCCEEDED');
        expect(state.results?.map((r) => r.outcome?.ok)).toEqual([false, true, true]);
        expect(fleet.calls.get('a3')?.[0]?.timeoutSeconds).toBe(5); // the agent knows its budget
      });

      it('falls back per item and best_effort keeps partial results', async () => {
        const { state, fleet } = await run(plan('parallel', { mode, failureMode: 'best_effort' }), {
          a2: { fail: true },
          a3: { fail: true },
        });
        expect(state.results?.map((r) => [r.outcome?.ok, r.outcome?.attempt])).toEqual([
          [true, 0],
          [true, 1],
          [false, 0],
        ]);
        expect(fleet.calls.get('a2')?.[0]).toMatchObject({ candidate: 0 });
        expect(fleet.calls.get('a2-backup')?.[0]).toMatchObject({ candidate: 1 });
      });
    });

    describe('scatter_gather', () => {
      const five = [['s1'], ['s2'], ['s3'], ['s4'], ['s5']];
      it('meets a quorum with partial results', async () => {
        const { outcome, state } = await run(
          plan('scatter_gather', { mode, steps: five, quorum: 3 }),
          { s2: { fail: true }, s4: { fail: true } },
        );
        expect(outcome.status).toBe('SUCCEEDED');
        expect(state.gather).toMatchObject({ successes: 3 });
        expect(state.results?.filter((r) => !r.outcome?.ok).map((r) => r.outcome?.agentId)).toEqual(
          ['s2', 's4'],
        );
      });

      it('fails with Mobius.QuorumNotMet when too few agents succeed', async () => {
        const { outcome } = await run(plan('scatter_gather', { mode, steps: five, quorum: 4 }), {
          s2: { fail: true },
          s4: { fail: true },
        });
        expect(failed(outcome)).toMatchObject({
          error: 'Mobius.QuorumNotMet',
          cause: 'fewer than 4 of 5 agents succeeded',
        });
        const none = await run(
          plan('scatter_gather', { mode, steps: [['s1'], ['s2']], strategy: 'first_successful' }),
          { s1: { fail: true }, s2: { fail: true } },
        );
        expect(failed(none.outcome).error).toBe('Mobius.QuorumNotMet');
      });
    });

    describe('hierarchical', () => {
      const supervisor = async (message: { task?: TaskRequest; input: unknown }) => {
        const context = message.task?.context as {
          round: number;
          results: { outcome: { result?: { output: { by: string } } } }[];
        };
        if (context.round === 1)
          return {
            subtasks: [
              { capability: 'keywords', input: { doc: 1 } },
              { capability: 'sentiment', input: { doc: 1 } },
            ],
          };
        if (context.round === 2) return { subtasks: [{ agentId: 'sent', input: { doc: 2 } }] };
        return {
          done: true,
          output: {
            rounds: context.round - 1,
            last: context.results.map((r) => r.outcome.result?.output.by),
          },
        };
      };

      it('plans, runs workers and aggregates over two rounds', async () => {
        const fleet = new AgentFleet({}, { planner: supervisor });
        const { outcome, state, transitions } = await run(
          plan('hierarchical', { mode, maxRounds: 2 }),
          {},
          fleet,
        );
        expect(outcome.status).toBe('SUCCEEDED');
        expect(state.decision?.outcome?.result?.output).toEqual({
          done: true,
          output: { rounds: 2, last: ['sent'] },
        });
        expect(fleet.callCount('planner')).toBe(3);
        expect(fleet.callCount('kw')).toBe(1);
        expect(fleet.callCount('sent')).toBe(2);
        expect(state.loop?.round).toBe(3);
        // rounds of 2 and 1 workers: (2 + 4) + (1 + 4) + final supervisor, decide, done
        expect(transitions).toBe(2 * 4 + 3 + 3);
        expect(estimateCost('hierarchical', 1.5, 2).transitions).toBe(transitions);
      });

      it('stops a supervisor that never finishes after maxRounds', async () => {
        const endless = async () => ({ subtasks: [{ agentId: 'kw', input: {} }] });
        const fleet = new AgentFleet({}, { planner: endless });
        const { outcome } = await run(plan('hierarchical', { mode, maxRounds: 1 }), {}, fleet);
        // The SDK refuses a plan past maxRounds…
        expect(failed(outcome)).toMatchObject({
          error: 'FatalAgentError',
          cause: expect.stringMatching(/maxRounds is 1/),
        });
        expect(fleet.callCount('kw')).toBe(1);
      });

      it('…and so does the state machine, for supervisors not written with the SDK', async () => {
        const fleet = new AgentFleet();
        // A raw agent that always plans work (the SDK would have refused): bypass defineAgent.
        const invoke = async (target: string, task: Record<string, unknown>) =>
          target.endsWith('planner')
            ? {
                agentId: 'planner',
                output: { subtasks: [{ subtaskId: 'x', worker: 0, agentId: 'kw', input: {} }] },
                durationMs: 1,
              }
            : fleet.invoke(target, task);
        const raw = planFor('hierarchical', { mode, maxRounds: 2 });
        const { outcome } = await engine.run(
          compile(raw),
          executionInput(raw, 'c', PAYLOAD),
          invoke,
          { retryIntervalMs: 0 },
        );
        expect(failed(outcome)).toMatchObject({ error: 'Mobius.RoundsExhausted' });
        expect(fleet.callCount('kw')).toBe(2);
      });
    });

    it.each(['sequential', 'pipeline', 'parallel', 'scatter_gather'] as const)(
      'the cost model for %s matches the transitions the interpreter counts',
      async (pattern) => {
        for (const agents of [1, 4]) {
          const steps = Array.from({ length: agents }, (_, i) => [`n${i}`]);
          const { outcome, transitions } = await run(plan(pattern, { mode, steps }));
          expect(outcome.status).toBe('SUCCEEDED');
          expect(transitions).toBe(estimateCost(pattern, agents).transitions);
        }
      },
    );

    it('the whole-coordination TimeoutSeconds stops a run that takes too long', async () => {
      const { outcome } = await run(plan('sequential', { mode, timeoutSeconds: 1 }), {
        a2: { delayMs: 1_500 },
      });
      expect(outcome.status).toBe('TIMED_OUT');
    });
  },
);

describe('validation of new shapes', () => {
  it('refuses a machine that is not valid ASL before calling any agent, naming the errors', async () => {
    const fleet = new AgentFleet();
    const sequential = planFor('sequential');
    const valid = compile(sequential);
    const broken = {
      ...valid,
      hash: `${valid.hash}-broken`,
      definition: { ...valid.definition, StartAt: 'Nowhere' },
    };
    await expect(
      new LocalStateMachines().run(broken, executionInput(sequential, 'c', PAYLOAD), fleet.invoke),
    ).rejects.toThrow(/is invalid ASL: .*Nowhere/);
    expect(fleet.calls.size).toBe(0);
  });
});
