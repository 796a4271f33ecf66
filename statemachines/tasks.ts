import { AGENT_ERROR_NAMES } from '../functions/core/messaging/agent-errors.ts';
import { TASK_KIND } from '../functions/core/model/task.ts';
import type { ChoiceState, JsonObject, PassState, Retrier, States, TaskState } from './asl.ts';
import { candidateErrorKey, failureCauseExpression } from './records.ts';
import { DEFAULT_RETRY_POLICY, type FailureMode, type RetryPolicy } from './request.ts';

/** The integrations agents are reached through. */
export const RESOURCES = {
  express: 'arn:aws:states:::lambda:invoke',
  standard: 'arn:aws:states:::sqs:sendMessage.waitForTaskToken',
} as const;

/**
 * Errors of the Lambda service itself, retried in every express run: the transient ones AWS
 * recommends retrying (the set CDK's LambdaInvoke retries), plus throttling, which a short
 * backoff usually outlasts.
 */
export const LAMBDA_SERVICE_ERRORS = [
  'Lambda.ClientExecutionTimeoutException',
  'Lambda.ServiceException',
  'Lambda.AWSLambdaException',
  'Lambda.SdkClientException',
  'Lambda.TooManyRequestsException',
];

/** The one Fail state a top-level step's exhausted candidates lead to (fail_fast and retry modes). */
export const COORDINATION_FAILED = 'CoordinationFailed';

/** How a chain of candidates ends when every one of them failed. */
export type Exhaustion =
  /** Record the failure and carry on (best_effort). `carry` is copied into the record as `result`. */
  | { readonly kind: 'record'; readonly next: string | null; readonly carry?: string }
  /** Fail the coordination (fail_fast, retry). `failState` must exist in the same States scope. */
  | { readonly kind: 'fail'; readonly failState: string };

export interface AgentCall {
  /** Name of the first candidate's Task state; fallbacks and handlers are named after it. */
  readonly name: string;
  readonly mode: 'express' | 'standard';
  readonly pattern: string;
  /** A literal step id, or a path to it (`$.item.stepId`). */
  readonly stepId: { readonly literal: string } | { readonly path: string };
  /** Path of candidate k's `{ agentId, target }` object. */
  readonly candidatePath: (k: number) => string;
  readonly candidates: number;
  /** When true, candidate k ≥ 1 may be absent at run time (fan-out items); a Choice checks first. */
  readonly dynamicCandidates: boolean;
  /** Pattern-specific task fields: `input.$`, `context.$`, `previous.$`, `subtask.$`. */
  readonly fields: JsonObject;
  /** The task's timeout; with `timeoutSecondsPath`, the smallest any run may have (heartbeats are sized from it). */
  readonly timeoutSeconds: number;
  /** Where each run reads its own timeout (fan-out items: `$.item.timeoutSeconds`). */
  readonly timeoutSecondsPath?: string;
  readonly failureMode: FailureMode;
  readonly retry?: RetryPolicy;
  /**
   * Where the step's record lives. Candidate k's error goes to `<record>.k<k>`, the outcome
   * (success, or the recorded failure) to `<record>.outcome`.
   */
  readonly recordPath: string;
  /** Set inside Map iterations so the iteration outputs just its record. */
  readonly outputRecord: boolean;
  /** State after success; null ends the scope. */
  readonly next: string | null;
  readonly exhaustion: Exhaustion;
}

/**
 * The states that call one agent, with its fallbacks: candidate 0's Task, then for each further
 * candidate a Task reached through the previous one's Catch (guarded by an IsPresent Choice when
 * the number of candidates is only known at run time), then the exhaustion handler.
 */
export function agentCallStates(call: AgentCall): States {
  const states: States = {};
  const taskName = (k: number) => (k === 0 ? call.name : `${call.name}.fallback${k}`);
  const guardName = (k: number) => `${call.name}.hasFallback${k}`;
  const exhaustedName = (k: number) => `${call.name}.failed${call.candidates > 1 ? k : ''}`;

  for (let k = 0; k < call.candidates; k++) {
    const hasNext = k + 1 < call.candidates;
    const onError = hasNext
      ? call.dynamicCandidates
        ? guardName(k + 1)
        : taskName(k + 1)
      : exhaustedName(k);
    states[taskName(k)] = taskState(call, k, onError);
    if (hasNext && call.dynamicCandidates) {
      const guard: ChoiceState = {
        Type: 'Choice',
        Comment: `Fallback ${k + 1} configured for this item?`,
        Choices: [{ Variable: call.candidatePath(k + 1), IsPresent: true, Next: taskName(k + 1) }],
        Default: exhaustedName(k),
      };
      states[guardName(k + 1)] = guard;
    }
    // With a static count only the last candidate can exhaust the chain; with a dynamic one, any.
    if (!hasNext || call.dynamicCandidates) states[exhaustedName(k)] = exhaustedState(call, k);
  }
  return states;
}

function taskState(call: AgentCall, k: number, onError: string): TaskState {
  const candidate = call.candidatePath(k);
  const payload: JsonObject = {
    kind: TASK_KIND,
    'coordinationId.$': '$.coordinationId',
    ...('literal' in call.stepId
      ? { stepId: call.stepId.literal }
      : { 'stepId.$': call.stepId.path }),
    'agentId.$': `${candidate}.agentId`,
    // Which candidate this Task is (0 the planned agent, 1… its fallbacks): the agent tells a
    // step's first start from a fallback's, and counts Step Functions' retries per candidate.
    candidate: k,
    pattern: call.pattern,
    // The agent learns its time budget when it is per run (fan-out items).
    ...(call.timeoutSecondsPath === undefined
      ? {}
      : { 'timeoutSeconds.$': call.timeoutSecondsPath }),
    ...call.fields,
  };
  const heartbeat = heartbeatSeconds(call.timeoutSeconds);
  const state: TaskState =
    call.mode === 'express'
      ? {
          Type: 'Task',
          Resource: RESOURCES.express,
          Parameters: { 'FunctionName.$': `${candidate}.target`, Payload: payload },
          ResultSelector: { ok: true, attempt: k, 'result.$': '$.Payload' },
        }
      : {
          Type: 'Task',
          Resource: RESOURCES.standard,
          Parameters: {
            'QueueUrl.$': `${candidate}.target`,
            MessageBody: {
              ...payload,
              'taskToken.$': '$$.Task.Token',
              ...(heartbeat === undefined ? {} : { heartbeatSeconds: heartbeat }),
            },
          },
          ...(heartbeat === undefined ? {} : { HeartbeatSeconds: heartbeat }),
          ResultSelector: { ok: true, attempt: k, 'result.$': '$' },
        };
  state.ResultPath = `${call.recordPath}.outcome`;
  if (call.outputRecord) state.OutputPath = call.recordPath;
  if (call.timeoutSecondsPath === undefined) state.TimeoutSeconds = call.timeoutSeconds;
  else state.TimeoutSecondsPath = call.timeoutSecondsPath;
  const retry = retriers(call.mode, call.failureMode, call.retry);
  if (retry.length > 0) state.Retry = retry;
  state.Catch = [
    {
      ErrorEquals: ['States.ALL'],
      ResultPath: `${call.recordPath}.${candidateErrorKey(k)}`,
      Next: onError,
    },
  ];
  if (call.next === null) state.End = true;
  else state.Next = call.next;
  return state;
}

/** What happens once candidate k — the last one tried — has failed too. */
function exhaustedState(call: AgentCall, k: number): PassState {
  const error = `${call.recordPath}.${candidateErrorKey(k)}`;
  if (call.exhaustion.kind === 'fail') {
    const stepArgument = 'literal' in call.stepId ? `'${call.stepId.literal}'` : call.stepId.path;
    return {
      Type: 'Pass',
      Comment: 'Every candidate failed: fail the coordination, naming the agent and the cause.',
      Parameters: {
        'error.$': `${error}.Error`,
        'cause.$': failureCauseExpression(
          `${call.candidatePath(k)}.agentId`,
          stepArgument,
          `${error}.Cause`,
        ),
      },
      ResultPath: '$.failure',
      Next: call.exhaustion.failState,
    };
  }
  const record: PassState = {
    Type: 'Pass',
    Comment: 'Every candidate failed: record it and carry on (best effort).',
    Parameters: {
      ok: false,
      attempt: k,
      'agentId.$': `${call.candidatePath(k)}.agentId`,
      ...(call.exhaustion.carry === undefined ? {} : { 'result.$': call.exhaustion.carry }),
    },
    ResultPath: `${call.recordPath}.outcome`,
  };
  if (call.outputRecord) record.OutputPath = call.recordPath;
  if (call.exhaustion.next === null) record.End = true;
  else record.Next = call.exhaustion.next;
  return record;
}

/**
 * Retriers: Lambda's own transient errors always (express); in retry mode, or when the request
 * gave a policy, agent errors too — except FatalAgentError, which no retry can fix.
 */
export function retriers(
  mode: 'express' | 'standard',
  failureMode: FailureMode,
  policy: RetryPolicy | undefined,
): Retrier[] {
  const result: Retrier[] = [];
  if (mode === 'express') {
    result.push({
      ErrorEquals: LAMBDA_SERVICE_ERRORS,
      IntervalSeconds: 1,
      MaxAttempts: 3,
      BackoffRate: 2,
      JitterStrategy: 'FULL',
    });
  }
  if (failureMode === 'retry' || policy !== undefined) {
    const retry = policy ?? DEFAULT_RETRY_POLICY;
    result.push({ ErrorEquals: [AGENT_ERROR_NAMES.fatal], MaxAttempts: 0 });
    result.push({
      ErrorEquals: ['States.ALL'],
      IntervalSeconds: retry.intervalSeconds,
      MaxAttempts: retry.attempts,
      BackoffRate: retry.backoffRate,
      ...(retry.maxDelaySeconds === undefined ? {} : { MaxDelaySeconds: retry.maxDelaySeconds }),
      JitterStrategy: retry.jitter === 'full' ? 'FULL' : 'NONE',
    });
  }
  return result;
}

/**
 * Standard mode: how often the agent must show signs of life (SendTaskHeartbeat) — at most a
 * minute, always less than the task timeout. Express tasks are synchronous and need none.
 */
export function heartbeatSeconds(timeoutSeconds: number): number | undefined {
  return timeoutSeconds > 2 ? Math.min(60, timeoutSeconds - 1) : undefined;
}
