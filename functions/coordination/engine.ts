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
  /**
   * Standard: stops a running execution as Step Functions' StopExecution does — no state starts
   * after it, tasks in flight are left to finish unheard, and the run ends ABORTED with `reason`
   * as its error and cause. An execution that had already ended is left as it was: describe()
   * tells which happened. Ends the run in the event log as a finished run is ended (the embedded
   * engine itself; on AWS the monitor, from Step Functions' status-change event).
   */
  stop(coordinationId: string, reason: StopReason): Promise<void>;
}

/** Why a run was stopped: the error and cause its result names (StopExecution's own fields). */
export interface StopReason {
  /** An error name, at most 256 characters (Step Functions' limit). */
  readonly error: string;
  /** Plain text, at most 32 768 characters. */
  readonly cause: string;
}
