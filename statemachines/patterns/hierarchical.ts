import type { ChoiceState, MapState, PassState, States } from '../asl.ts';
import { type CoordinationPlan, candidateKey } from '../plan.ts';
import { agentCallStates, COORDINATION_FAILED } from '../tasks.ts';
import { COORDINATION_ERRORS, DONE, failState } from './common.ts';

const SUPERVISOR = 'Supervisor';
/** The Map that runs a round's workers (its iterations' records land in `$.lastResults`). */
export const WORKERS_STATE = 'Workers';
const WORKER_FAILED = 'WorkerFailed';

/**
 * hierarchical: the supervisor plans (subtasks, each addressed to a worker by index — the agent
 * SDK resolves ids and capabilities against `$.workerInfo`), a Map runs the workers, and the
 * supervisor is called again with their results. The loop ends when the supervisor answers
 * `{ done: true, output }` (no `subtasks`); planning more work after `maxRounds` rounds fails the
 * run with Mobius.RoundsExhausted. Each round's decision and results are kept in `$.loop.history`
 * as nested arrays `[history, decision, results]` (ASL cannot append to a list).
 */
export function hierarchicalStates(plan: CoordinationPlan): { startAt: string; states: States } {
  const supervisor = plan.steps[0];
  if (supervisor === undefined) throw new Error('a hierarchical plan needs a supervisor');
  const maxRounds = plan.maxRounds ?? 3;

  const states: States = agentCallStates({
    name: SUPERVISOR,
    mode: plan.mode,
    pattern: 'hierarchical',
    stepId: { literal: 'supervisor' },
    candidatePath: (k) => `$.targets.supervisor.${candidateKey(k)}`,
    candidates: supervisor.candidates.length,
    dynamicCandidates: false,
    fields: {
      'input.$': '$.payload',
      context: {
        'round.$': '$.loop.round',
        maxRounds,
        'workers.$': '$.workerInfo',
        'results.$': '$.lastResults',
        'history.$': '$.loop.history',
      },
    },
    timeoutSeconds: supervisor.timeoutSeconds,
    failureMode: plan.failureMode,
    ...(plan.retry ? { retry: plan.retry } : {}),
    recordPath: '$.decision',
    outputRecord: false,
    next: 'Decide',
    // Without a plan nothing can go on, whatever the failure mode.
    exhaustion: { kind: 'fail', failState: COORDINATION_FAILED },
  });

  const decide: ChoiceState = {
    Type: 'Choice',
    Comment: 'Finished, out of rounds, or another round of work?',
    Choices: [
      {
        Not: { Variable: '$.decision.outcome.result.output.subtasks', IsPresent: true },
        Next: DONE,
      },
      { Variable: '$.loop.round', NumericGreaterThan: maxRounds, Next: 'RoundsExhausted' },
    ],
    Default: 'Workers',
  };

  const bestEffort = plan.failureMode === 'best_effort';
  const workerStates = agentCallStates({
    name: 'Worker',
    mode: plan.mode,
    pattern: 'hierarchical',
    stepId: { path: '$.subtask.subtaskId' },
    candidatePath: () => '$.worker',
    candidates: 1,
    dynamicCandidates: false,
    fields: { 'subtask.$': '$.subtask' },
    timeoutSeconds: plan.workerTimeoutSeconds ?? supervisor.timeoutSeconds,
    failureMode: plan.failureMode,
    ...(plan.retry ? { retry: plan.retry } : {}),
    recordPath: '$.record',
    outputRecord: true,
    next: null,
    exhaustion: bestEffort
      ? { kind: 'record', next: null }
      : { kind: 'fail', failState: WORKER_FAILED },
  });
  if (!bestEffort) workerStates[WORKER_FAILED] = failState;

  const workers: MapState = {
    Type: 'Map',
    Comment: 'Run the subtasks of this round, each on the worker the plan named.',
    ItemsPath: '$.decision.outcome.result.output.subtasks',
    ItemSelector: {
      'subtask.$': '$$.Map.Item.Value',
      'worker.$': 'States.ArrayGetItem($.workers, $$.Map.Item.Value.worker)',
      'coordinationId.$': '$.coordinationId',
      record: { 'stepId.$': '$$.Map.Item.Value.subtaskId' },
    },
    ItemProcessor: { ProcessorConfig: { Mode: 'INLINE' }, StartAt: 'Worker', States: workerStates },
    ResultPath: '$.lastResults',
    Next: 'NextRound',
  };

  const nextRound: PassState = {
    Type: 'Pass',
    Parameters: {
      'round.$': 'States.MathAdd($.loop.round, 1)',
      'history.$': 'States.Array($.loop.history, $.decision, $.lastResults)',
    },
    ResultPath: '$.loop',
    Next: SUPERVISOR,
  };

  const exhausted: PassState = {
    Type: 'Pass',
    Parameters: {
      error: COORDINATION_ERRORS.roundsExhausted,
      cause: `the supervisor still planned subtasks after maxRounds (${maxRounds}) rounds`,
    },
    ResultPath: '$.failure',
    Next: COORDINATION_FAILED,
  };

  Object.assign(states, {
    Decide: decide,
    [WORKERS_STATE]: workers,
    NextRound: nextRound,
    RoundsExhausted: exhausted,
    [DONE]: { Type: 'Succeed', Comment: 'The supervisor is done.' },
    [COORDINATION_FAILED]: failState,
  });
  return { startAt: SUPERVISOR, states };
}
