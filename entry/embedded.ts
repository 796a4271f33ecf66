/**
 * `mobius-coordinator/embedded` — Mobius on one machine, no AWS account: the same handlers,
 * compiled state machines and registry code as on AWS, over in-process engines. Start it in your
 * own tests with your own agents and run coordinations, send messages, query the registry.
 *
 * ```ts
 * const runtime = await EmbeddedRuntime.start({ agents: [greeter] });
 * const response = await runtime.coordinations.run({ pattern: 'sequential', agents: ['greeter'] });
 * await runtime.stop();
 * ```
 *
 * @module mobius-coordinator/embedded
 */

export {
  type AdmissionOptions,
  CoordinationShedError,
  DEFAULT_ADMISSION,
} from '../functions/coordination/admission.ts';
export type {
  CoordinationError,
  CoordinationResult,
  StepResult,
  Timings,
} from '../functions/coordination/result.ts';
export type {
  CoordinationResponse,
  CoordinationService,
  RunOptions,
} from '../functions/coordination/service.ts';
export type { AgentSlotFigures, AgentSlots } from '../functions/embedded/agent-slots.ts';
export {
  EmbeddedRuntime,
  type EmbeddedRuntimeOptions,
  type EmbeddedRuntimeStopOptions,
  type RunningAgent,
  SHUTDOWN_GRACE_MS,
  type TaskEvent,
} from '../functions/embedded/runtime.ts';
