import type { ChoiceState, MapState, PassState, States } from '../asl.ts';
import { type CoordinationPlan, candidateKey } from '../plan.ts';
import { agentCallStates, COORDINATION_FAILED } from '../tasks.ts';
import { COORDINATION_ERRORS, DONE, failState } from './common.ts';

const FAN_OUT = 'FanOut';
const ITEM_FAILED = 'ItemFailed';

/**
 * parallel and scatter_gather: a Map over `$.items` (one per agent, each with its own fallbacks
 * and timeout), every agent getting the same payload unless its step set an input. Each iteration outputs its
 * record `{ outcome: { ok, attempt, result }, k<n>: error }`; the records land in `$.results`.
 *
 * scatter_gather always records failures per item, then a gather step counts the successes and
 * fails the run with Mobius.QuorumNotMet when fewer than `$.required` agents succeeded (inline Map
 * has no ToleratedFailureCount, so the count is explicit). Which outputs are returned — all,
 * merged, or the first success — is decided when the result is shaped.
 */
export function fanOutStates(plan: CoordinationPlan): { startAt: string; states: States } {
  const scatter = plan.pattern === 'scatter_gather';
  const recordFailures = scatter || plan.failureMode === 'best_effort';
  const maxCandidates = Math.max(...plan.steps.map((s) => s.candidates.length));
  // Each item carries its step's timeout; the shortest sizes the (standard) heartbeat.
  const shortest = Math.min(...plan.steps.map((s) => s.timeoutSeconds));

  const itemStates = agentCallStates({
    name: 'Agent',
    mode: plan.mode,
    pattern: plan.pattern,
    stepId: { path: '$.item.stepId' },
    candidatePath: (k) => `$.item.candidates.${candidateKey(k)}`,
    candidates: maxCandidates,
    dynamicCandidates: true,
    fields: { 'input.$': '$.item.input' },
    timeoutSeconds: shortest,
    timeoutSecondsPath: '$.item.timeoutSeconds',
    failureMode: plan.failureMode,
    ...(plan.retry ? { retry: plan.retry } : {}),
    recordPath: '$.record',
    outputRecord: true,
    next: null,
    exhaustion: recordFailures
      ? { kind: 'record', next: null }
      : { kind: 'fail', failState: ITEM_FAILED },
  });
  if (!recordFailures) itemStates[ITEM_FAILED] = failState;

  const map: MapState = {
    Type: 'Map',
    Comment: 'One iteration per agent; the number of agents is the input, not the definition.',
    ItemsPath: '$.items',
    // The record starts with the step id, so each iteration's output says which step it was.
    ItemSelector: {
      'item.$': '$$.Map.Item.Value',
      'coordinationId.$': '$.coordinationId',
      record: { 'stepId.$': '$$.Map.Item.Value.stepId' },
    },
    ItemProcessor: { ProcessorConfig: { Mode: 'INLINE' }, StartAt: 'Agent', States: itemStates },
    ResultPath: '$.results',
    Next: scatter ? 'Gather' : DONE,
  };
  const states: States = { [FAN_OUT]: map };
  if (scatter) Object.assign(states, gatherStates());
  states[DONE] = { Type: 'Succeed', Comment: 'Every agent has answered.' };
  return { startAt: FAN_OUT, states };
}

function gatherStates(): States {
  const gather: PassState = {
    Type: 'Pass',
    Comment:
      'Did any agent succeed? (A projection that matches nothing is an error, so check first.)',
    Parameters: { 'anySucceeded.$': 'States.ArrayContains($.results[*].outcome.ok, true)' },
    ResultPath: '$.gather',
    Next: 'AnySucceeded',
  };
  const anySucceeded: ChoiceState = {
    Type: 'Choice',
    Choices: [{ Variable: '$.gather.anySucceeded', BooleanEquals: true, Next: 'CountSuccesses' }],
    Default: 'QuorumNotMet',
  };
  const count: PassState = {
    Type: 'Pass',
    Comment: 'Only successful records have outcome.result, so the projection counts successes.',
    Parameters: { 'successes.$': 'States.ArrayLength($.results[*].outcome.result)' },
    ResultPath: '$.gather',
    Next: 'QuorumMet',
  };
  const quorumMet: ChoiceState = {
    Type: 'Choice',
    Choices: [
      { Variable: '$.gather.successes', NumericGreaterThanEqualsPath: '$.required', Next: DONE },
    ],
    Default: 'QuorumNotMet',
  };
  const notMet: PassState = {
    Type: 'Pass',
    Parameters: {
      error: COORDINATION_ERRORS.quorumNotMet,
      'cause.$':
        "States.Format('fewer than {} of {} agents succeeded', $.required, States.ArrayLength($.results))",
    },
    ResultPath: '$.failure',
    Next: COORDINATION_FAILED,
  };
  return {
    Gather: gather,
    AnySucceeded: anySucceeded,
    CountSuccesses: count,
    QuorumMet: quorumMet,
    QuorumNotMet: notMet,
    [COORDINATION_FAILED]: failState,
  };
}
