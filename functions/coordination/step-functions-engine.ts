import {
  CreateStateMachineCommand,
  DescribeExecutionCommand,
  ExecutionDoesNotExist,
  ExecutionLimitExceeded,
  InvalidArn,
  type LoggingConfiguration,
  type SFNClient,
  StartExecutionCommand,
  StartSyncExecutionCommand,
  StateMachineDoesNotExist,
  StateMachineLimitExceeded,
  StopExecutionCommand,
} from '@aws-sdk/client-sfn';
import type { CompiledMachine } from '../../statemachines/compile.ts';
import type { ExecutionInput } from '../../statemachines/plan.ts';
import { sharedSfnClient } from '../core/aws/sfn.ts';
import { CapacityExceededError } from '../core/errors.ts';
import type { CoordinationEngine, ExecutionStatus, StopReason } from './engine.ts';
import { type ExecutionOutcome, type ExecutionProgress, outcomeOf } from './execution.ts';
import { readProgress } from './execution-history.ts';

export interface StepFunctionsEngineOptions {
  /** Partition, region and account the machines live in: `arn:<partition>:states:<region>:<account>`. */
  readonly arnPrefix: string;
  /** Role the machines run as: may invoke agent Lambdas and send to agent queues. */
  readonly roleArn: string;
  /** Log group for execution logs (`/aws/vendedlogs/states/...`). */
  readonly logGroupArn?: string;
  readonly sfn?: SFNClient;
}

/**
 * Step Functions as the coordination engine. State machine names carry the definition's content
 * hash, so the ARN of a compiled machine is known without a lookup: the hot path is a single
 * StartSyncExecution (express) or StartExecution (standard). Only the first run of a shape nobody
 * deployed creates its machine (CreateStateMachine is idempotent for an identical definition).
 * Standard executions are named by their coordinationId; the machine name is encoded in it.
 */
export class StepFunctionsEngine implements CoordinationEngine {
  readonly #options: StepFunctionsEngineOptions;
  readonly #sfn: SFNClient;
  /** Progress of finished runs already read, oldest first (at most FINISHED_RUNS_KEPT). */
  readonly #finished = new Map<string, ExecutionProgress | undefined>();

  constructor(options: StepFunctionsEngineOptions) {
    this.#options = options;
    this.#sfn = options.sfn ?? sharedSfnClient();
  }

  async runSync(
    machine: CompiledMachine,
    input: ExecutionInput,
    signal?: AbortSignal,
  ): Promise<ExecutionOutcome> {
    const response = await this.#withMachine(machine, (stateMachineArn) =>
      this.#sfn.send(
        new StartSyncExecutionCommand({
          stateMachineArn,
          name: input.coordinationId,
          input: JSON.stringify(input),
        }),
        signal ? { abortSignal: signal } : {},
      ),
    );
    return outcomeOf({ ...response, status: response.status ?? 'FAILED' });
  }

  async start(machine: CompiledMachine, input: ExecutionInput): Promise<void> {
    await this.#withMachine(machine, (stateMachineArn) =>
      this.#sfn.send(
        new StartExecutionCommand({
          stateMachineArn,
          name: input.coordinationId,
          input: JSON.stringify(input),
        }),
      ),
    );
  }

  async describe(coordinationId: string): Promise<ExecutionStatus | undefined> {
    const executionArn = this.#executionArn(coordinationId);
    // Not an id this engine handed out: no such coordination (and no malformed ARN sent to AWS).
    if (executionArn === undefined) return undefined;
    try {
      const execution = await this.#sfn.send(new DescribeExecutionCommand({ executionArn }));
      const input = JSON.parse(execution.input ?? '{}') as ExecutionInput;
      const status = execution.status ?? 'RUNNING';
      let outcome: ExecutionStatus['outcome'] =
        status === 'RUNNING' || status === 'PENDING_REDRIVE'
          ? { status: 'RUNNING' }
          : outcomeOf({ ...execution, status });
      if (outcome.status !== 'SUCCEEDED' && outcome.status !== 'RUNNING') {
        const progress = await this.#progress(executionArn);
        if (progress !== undefined) outcome = { ...outcome, progress };
      }
      return {
        input,
        startedAt: execution.startDate ?? new Date(0),
        ...(execution.stopDate ? { stoppedAt: execution.stopDate } : {}),
        outcome,
      };
    } catch (error) {
      if (error instanceof ExecutionDoesNotExist || error instanceof InvalidArn) return undefined;
      throw error;
    }
  }

  /**
   * StopExecution, on the execution's ARN as describe() builds it. Step Functions ends the run
   * ABORTED with `reason`; its status-change event reaches the monitor, which ends the run in the
   * event log (functions/monitor/coordination-events.ts). An agent that answers a task of the
   * stopped run afterwards is told its token is no longer valid (TaskTimedOut), which the agent
   * SDK takes quietly. Stopping a run that has ended changes nothing.
   */
  async stop(coordinationId: string, reason: StopReason): Promise<void> {
    const executionArn = this.#executionArn(coordinationId);
    if (executionArn === undefined) return;
    try {
      await this.#sfn.send(
        new StopExecutionCommand({
          executionArn,
          error: reason.error.slice(0, STOP_ERROR_CHARS),
          cause: reason.cause.slice(0, STOP_CAUSE_CHARS),
        }),
      );
    } catch (error) {
      if (error instanceof ExecutionDoesNotExist || error instanceof InvalidArn) return;
      throw error;
    }
  }

  /** `…:execution:<machine name>:<id>`, or undefined for an id this engine never handed out. */
  #executionArn(coordinationId: string): string | undefined {
    const machineName = machineNameOf(coordinationId);
    return machineName === undefined
      ? undefined
      : `${this.#options.arnPrefix}:execution:${machineName}:${coordinationId}`;
  }

  /** How far a failed, timed-out or stopped standard run had got (see readProgress), remembered. */
  async #progress(executionArn: string): Promise<ExecutionProgress | undefined> {
    // A finished run's history never changes: read it once per container, not on every poll
    // (GetExecutionHistory has a low rate quota).
    if (this.#finished.has(executionArn)) return this.#finished.get(executionArn);
    const progress = await readProgress(this.#sfn, executionArn);
    if (this.#finished.size >= FINISHED_RUNS_KEPT) {
      const oldest = this.#finished.keys().next().value;
      if (oldest !== undefined) this.#finished.delete(oldest);
    }
    this.#finished.set(executionArn, progress);
    return progress;
  }

  async #withMachine<T>(machine: CompiledMachine, start: (arn: string) => Promise<T>): Promise<T> {
    const arn = `${this.#options.arnPrefix}:stateMachine:${machine.name}`;
    try {
      return await start(arn);
    } catch (error) {
      if (!(error instanceof StateMachineDoesNotExist)) throw quotaError(error);
    }
    await this.#create(machine).catch((error: unknown) => {
      throw quotaError(error);
    });
    return start(arn).catch((error: unknown) => {
      throw quotaError(error);
    });
  }

  async #create(machine: CompiledMachine): Promise<void> {
    await this.#sfn.send(
      new CreateStateMachineCommand({
        name: machine.name,
        definition: machine.json,
        roleArn: this.#options.roleArn,
        type: machine.type,
        tracingConfiguration: { enabled: true },
        ...(this.#options.logGroupArn
          ? { loggingConfiguration: logging(this.#options.logGroupArn) }
          : {}),
      }),
    );
  }
}

/** Finished runs whose progress one container remembers. */
const FINISHED_RUNS_KEPT = 100;

/** StopExecution's limits on its `error` and `cause`. */
const STOP_ERROR_CHARS = 256;
const STOP_CAUSE_CHARS = 32_768;

/**
 * What Step Functions' API answers when a caller exceeds its request rate (StartExecution and
 * StartSyncExecution have token-bucket quotas). The SDK has already retried these with backoff.
 */
const THROTTLING_ERRORS = new Set(['ThrottlingException', 'TooManyRequestsException']);

/**
 * Step Functions quotas and throttling become a 503 the caller may retry; anything else is not
 * ours to rename.
 */
function quotaError(error: unknown): unknown {
  if (error instanceof ExecutionLimitExceeded || error instanceof StateMachineLimitExceeded) {
    return new CapacityExceededError(
      `Step Functions refused the coordination: ${error.message}. Retry later, or raise the quota.`,
      { service: 'states', reason: error.name },
      { cause: error },
    );
  }
  if (error instanceof Error && THROTTLING_ERRORS.has(error.name)) {
    return new CapacityExceededError(
      `Step Functions is throttling coordination starts (${error.message}). Retry with backoff, or ` +
        'ask for a higher StartExecution/StartSyncExecution rate quota.',
      { service: 'states', reason: error.name },
      { cause: error },
    );
  }
  return error;
}

/**
 * Step Functions wants the log group's ARN with its `:*` suffix. CloudFormation's `Arn` of a log
 * group already ends in `:*`, a name-built ARN does not: accept both, never double it.
 */
export function logging(logGroupArn: string): LoggingConfiguration {
  const arn = logGroupArn.endsWith(':*') ? logGroupArn : `${logGroupArn}:*`;
  return {
    level: 'ERROR',
    includeExecutionData: false,
    destinations: [{ cloudWatchLogsLogGroup: { logGroupArn: arn } }],
  };
}

/**
 * Standard coordination ids are `<machine name>--<uuid as 32 hex digits>`, so an execution can be
 * found from its id alone (its ARN is `…:execution:<machine name>:<id>`), within 80 characters.
 */
export function standardCoordinationId(machine: CompiledMachine, uuid: string): string {
  return `${machine.name}--${uuid.replaceAll('-', '')}`;
}

/** Execution and state machine names: at most 80 of these characters. */
const NAME = /^[A-Za-z0-9_-]{1,80}$/;

function machineNameOf(coordinationId: string): string | undefined {
  if (!NAME.test(coordinationId)) return undefined;
  const separator = coordinationId.lastIndexOf('--');
  return separator > 0 ? coordinationId.slice(0, separator) : undefined;
}
