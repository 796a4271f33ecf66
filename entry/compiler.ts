/**
 * `mobius-coordinator/compiler` — coordination requests to Amazon States Language, pure: no AWS SDK,
 * no CDK. `planRequest` resolves a request against agent definitions the way the API does against
 * the registry; `compile` turns the plan into a state machine; `toMermaid` draws it; `aslErrors`
 * checks it with asl-validator.
 *
 * @module mobius-coordinator/compiler
 */

export { planRequest } from '../functions/coordination/plan-request.ts';
export type { StateMachineDefinition } from '../statemachines/asl.ts';
export { type CompiledMachine, type CompileOptions, compile } from '../statemachines/compile.ts';
export { toMermaid } from '../statemachines/mermaid.ts';
export type {
  AgentTarget,
  CoordinationPlan,
  ExecutionInput,
  PassedOverReason,
  PlannedStep,
  PlannedWorker,
  StandIn,
} from '../statemachines/plan.ts';
export {
  type CoordinationRequest,
  type CoordinationRequestInput,
  coordinationRequestSchema,
  FAILURE_MODES,
  type FailureMode,
  PATTERNS,
  type Pattern,
} from '../statemachines/request.ts';
export { aslErrors } from '../statemachines/validate.ts';
