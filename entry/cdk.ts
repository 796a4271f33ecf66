/**
 * `mobius-coordinator/cdk` — the constructs, for any CDK app. `MobiusCoordinator` is the whole of
 * Mobius in one construct; the parts are exported for apps that compose their own. Needs the
 * peer dependencies `aws-cdk-lib` and `constructs`, and `esbuild` to bundle your agents.
 *
 * @module mobius-coordinator/cdk
 */

export { A2aProxy, type A2aProxyProps } from '../lib/a2a-proxy.ts';
export {
  Agent,
  type AgentProps,
  DEFAULT_WARM_INTERVAL,
  type ProvisionedConcurrency,
} from '../lib/agent.ts';
export type { IAgentEngine, IAgentTarget } from '../lib/agent-target.ts';
export {
  API_FUNCTION_TIMEOUT,
  API_TRANSFER_MODE_CONTEXT,
  MobiusApi,
  type MobiusApiProps,
} from '../lib/api.ts';
export { type ApiRole, ROLE_ROUTES } from '../lib/api-access.ts';
export {
  CoordinationEngine,
  type CoordinationEngineProps,
  type DeclaredWorkflow,
} from '../lib/coordination-engine.ts';
export {
  CoordinationEventsTable,
  type CoordinationEventsTableProps,
  type IEventLogTable,
} from '../lib/events-table.ts';
export { HealthMonitor, type HealthMonitorProps } from '../lib/health-monitor.ts';
export { LogGroupsWithRetention } from '../lib/lambda-defaults.ts';
export { MessageBus, type MessageBusProps } from '../lib/message-bus.ts';
export {
  type CoordinatorAgent,
  MobiusCoordinator,
  type MobiusCoordinatorProps,
  planWorkflows,
} from '../lib/mobius-coordinator.ts';
export { MobiusStack, type MobiusStackProps, type StackAgent } from '../lib/mobius-stack.ts';
export { AGENT_SDK_METRICS, Monitoring, type MonitoringProps } from '../lib/monitoring.ts';
export { RegistryTables, type RegistryTablesProps } from '../lib/registry-table.ts';
