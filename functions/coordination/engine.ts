import type { CompiledMachine } from '../../statemachines/compile.ts';
import type { ExecutionInput } from '../../statemachines/plan.ts';
import type { ExecutionOutcome } from './execution.ts';

/** Where a started (standard) coordination stands. */
export interface ExecutionStatus {
  readonly input: ExecutionInput;
  readonly startedAt: Date;
  readonly stoppedAt?: Date;
  readonly outcome: ExecutionOutcome | { readonly status: 'RUNNING' };
}

/**
 * Runs compiled machines. Step Functions on AWS (StepFunctionsEngine); aws-local-stepfunctions in
 * the embedded runtime (EmbeddedEngine). The coordination service does not know which.
 */
export interface CoordinationEngine {
  /** Express: runs the machine to completion. `signal` stops the wait (the run itself may go on). */
  runSync(
    machine: CompiledMachine,
    input: ExecutionInput,
    signal?: AbortSignal,
  ): Promise<ExecutionOutcome>;
  /** Standard: starts the machine; `input.coordinationId` names the execution. */
  start(machine: CompiledMachine, input: ExecutionInput): Promise<void>;
  /** Standard: the execution's status, or undefined when no such coordination exists. */
  describe(coordinationId: string): Promise<ExecutionStatus | undefined>;
}
