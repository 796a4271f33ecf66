import type { FailState, States, SucceedState } from '../asl.ts';
import { type CoordinationPlan, candidateKey } from '../plan.ts';
import { agentCallStates, COORDINATION_FAILED } from '../tasks.ts';
import { DONE, failState } from './common.ts';

/**
 * sequential: chained Tasks; each agent gets its input (the payload unless the step set one) and,
 * as context, the records of every step before it.
 * pipeline: chained Tasks; each agent gets the previous agent's result (the first gets the input).
 *
 * Step records live at `$.steps.<id>`: `outcome` is `{ ok, attempt, result }`, and `k<n>` holds the
 * error of candidate n when a fallback had to run.
 */
export function sequenceStates(plan: CoordinationPlan): { startAt: string; states: States } {
  const states: States = {};
  const bestEffort = plan.failureMode === 'best_effort';
  plan.steps.forEach((step, i) => {
    const next = plan.steps[i + 1]?.id ?? DONE;
    const previous = i === 0 ? '$.initial' : `$.steps.${plan.steps[i - 1]?.id}.outcome.result`;
    Object.assign(
      states,
      agentCallStates({
        name: step.id,
        mode: plan.mode,
        pattern: plan.pattern,
        stepId: { literal: step.id },
        candidatePath: (k) => `$.targets.${step.id}.${candidateKey(k)}`,
        candidates: step.candidates.length,
        dynamicCandidates: false,
        fields:
          plan.pattern === 'pipeline'
            ? { 'previous.$': previous }
            : { 'input.$': `$.inputs.${step.id}`, 'context.$': '$.steps' },
        timeoutSeconds: step.timeoutSeconds,
        failureMode: plan.failureMode,
        ...(plan.retry ? { retry: plan.retry } : {}),
        recordPath: `$.steps.${step.id}`,
        outputRecord: false,
        next,
        // A skipped pipeline step passes the last good result on, so the next agent still has input.
        exhaustion: bestEffort
          ? { kind: 'record', next, ...(plan.pattern === 'pipeline' ? { carry: previous } : {}) }
          : { kind: 'fail', failState: COORDINATION_FAILED },
      }),
    );
  });
  const done: SucceedState = { Type: 'Succeed', Comment: 'Every step has run.' };
  states[DONE] = done;
  if (!bestEffort) states[COORDINATION_FAILED] = failState as FailState;
  const first = plan.steps[0];
  if (first === undefined) throw new Error('a sequence needs at least one step');
  return { startAt: first.id, states };
}
