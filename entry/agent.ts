/**
 * `mobius-coordinator/agent` — what an agent's own code imports: `defineAgent` (the Lambda handler
 * for every event source, and its streaming entry), the supervisor helpers for hierarchical
 * coordinations, the errors that tell the platform whether a retry could help, and the types —
 * streamed chunks and coordination events included. Loads no CDK and no emulator.
 *
 * @module mobius-coordinator/agent
 */

export type { ResponseStream, StreamingHandler } from '../functions/core/aws/lambda-streaming.ts';
export {
  AGENT_ERROR_NAMES,
  FatalAgentError,
  RetryableAgentError,
} from '../functions/core/messaging/agent-errors.ts';
export type {
  AgentCard,
  AgentCardInput,
  AgentEndpoint,
  Capability,
  Protocol,
} from '../functions/core/model/agent-card.ts';
export type { TaskRequest, TaskResult } from '../functions/core/model/task.ts';
export {
  type AgentContext,
  type AgentDefinition,
  type AgentDependencies,
  type AgentHandler,
  type AgentLambdaHandler,
  type AgentLifecycleContext,
  type AgentLifecycleHook,
  type AgentMessage,
  type AgentStopOptions,
  defineAgent,
  STOP_GRACE_MS,
} from '../functions/core/sdk/define-agent.ts';
export type { JsonValue } from '../functions/core/sdk/json-output.ts';
export {
  type SupervisorContext,
  supervisorContext,
  type WorkerResult,
} from '../functions/core/sdk/supervisor.ts';
export type { StreamChunk } from '../functions/core/streaming/chunks.ts';
export type {
  CoordinationEventLog,
  CoordinationPage,
  RunningCount,
} from '../functions/core/streaming/event-log.ts';
export {
  COORDINATION_EVENT_TYPES,
  type CoordinationEvent,
  type CoordinationEventInput,
  type CoordinationEventType,
  type CoordinationListQuery,
  type CoordinationSummary,
} from '../functions/core/streaming/events.ts';
