import {
  CreateStateMachineCommand,
  DescribeExecutionCommand,
  ExecutionDoesNotExist,
  type LoggingConfiguration,
  type SFNClient,
  StartExecutionCommand,
  StartSyncExecutionCommand,
  StateMachineDoesNotExist,
} from '@aws-sdk/client-sfn';
import type { CompiledMachine } from '../../statemachines/compile.ts';
import type { ExecutionInput } from '../../statemachines/plan.ts';
import { sharedSfnClient } from '../core/aws/clients.ts';
import type { CoordinationEngine, ExecutionStatus } from './engine.ts';
import type { ExecutionOutcome } from './execution.ts';

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

  constructor(options: StepFunctionsEngineOptions) {
    this.#options = options;
    this.#sfn = options.sfn ?? sharedSfnClient();
  }

  async runSync(machine: CompiledMachine, input: ExecutionInput): Promise<ExecutionOutcome> {
    const response = await this.#withMachine(machine, (stateMachineArn) =>
      this.#sfn.send(
        new StartSyncExecutionCommand({
          stateMachineArn,
          name: input.coordinationId,
          input: JSON.stringify(input),
        }),
      ),
    );
    if (response.status === 'SUCCEEDED')
      return { status: 'SUCCEEDED', output: JSON.parse(response.output ?? 'null') };
    if (response.status === 'TIMED_OUT') return { status: 'TIMED_OUT' };
    return {
      status: 'FAILED',
      error: response.error ?? 'States.Runtime',
      cause: response.cause ?? null,
    };
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
    const machineName = machineNameOf(coordinationId);
    if (machineName === undefined) return undefined;
    const executionArn = `${this.#options.arnPrefix}:execution:${machineName}:${coordinationId}`;
    try {
      const execution = await this.#sfn.send(new DescribeExecutionCommand({ executionArn }));
      const input = JSON.parse(execution.input ?? '{}') as ExecutionInput;
      const outcome: ExecutionStatus['outcome'] =
        execution.status === 'RUNNING' || execution.status === 'PENDING_REDRIVE'
          ? { status: 'RUNNING' }
          : execution.status === 'SUCCEEDED'
            ? { status: 'SUCCEEDED', output: JSON.parse(execution.output ?? 'null') }
            : execution.status === 'TIMED_OUT'
              ? { status: 'TIMED_OUT' }
              : {
                  status: 'FAILED',
                  error: execution.error ?? execution.status ?? 'States.Runtime',
                  cause: execution.cause ?? null,
                };
      return {
        input,
        startedAt: execution.startDate ?? new Date(0),
        ...(execution.stopDate ? { stoppedAt: execution.stopDate } : {}),
        outcome,
      };
    } catch (error) {
      if (error instanceof ExecutionDoesNotExist) return undefined;
      throw error;
    }
  }

  async #withMachine<T>(machine: CompiledMachine, start: (arn: string) => Promise<T>): Promise<T> {
    const arn = `${this.#options.arnPrefix}:stateMachine:${machine.name}`;
    try {
      return await start(arn);
    } catch (error) {
      if (!(error instanceof StateMachineDoesNotExist)) throw error;
    }
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
    return start(arn);
  }
}

function logging(logGroupArn: string): LoggingConfiguration {
  return {
    level: 'ERROR',
    includeExecutionData: false,
    destinations: [{ cloudWatchLogsLogGroup: { logGroupArn: `${logGroupArn}:*` } }],
  };
}

/**
 * Standard coordination ids are `<machine name>--<uuid>`, so an execution can be found from its
 * id alone (its ARN is `…:execution:<machine name>:<id>`).
 */
export function standardCoordinationId(machine: CompiledMachine, uuid: string): string {
  return `${machine.name}--${uuid}`;
}

function machineNameOf(coordinationId: string): string | undefined {
  const separator = coordinationId.lastIndexOf('--');
  return separator > 0 ? coordinationId.slice(0, separator) : undefined;
}
