import { CachedDirectory } from '../coordination/cached-directory.ts';
import { CoordinationService } from '../coordination/service.ts';
import { StepFunctionsEngine } from '../coordination/step-functions-engine.ts';
import { MessageRouter } from '../core/messaging/router.ts';
import { AgentRegistry } from '../core/registry/agent-registry.ts';
import type { ApiDependencies } from './dependencies.ts';

/** Environment variables the CDK stack sets on the API function. */
export const API_ENVIRONMENT = {
  registryTable: 'MOBIUS_REGISTRY_TABLE',
  eventBus: 'MOBIUS_EVENT_BUS',
  stateMachineArnPrefix: 'MOBIUS_STATE_MACHINE_ARN_PREFIX',
  engineRoleArn: 'MOBIUS_ENGINE_ROLE_ARN',
  engineLogGroupArn: 'MOBIUS_ENGINE_LOG_GROUP_ARN',
  machineNamePrefix: 'MOBIUS_MACHINE_NAME_PREFIX',
  corsOrigins: 'MOBIUS_CORS_ORIGINS',
} as const;

function required(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set; the CDK stack sets it on the API function`);
  return value;
}

/** Dependencies for the API Lambda, from its environment; SDK clients are shared per process. */
export function dependenciesFromEnvironment(): Omit<ApiDependencies, 'metrics'> {
  const registry = new AgentRegistry({ tableName: required(API_ENVIRONMENT.registryTable) });
  const logGroupArn = process.env[API_ENVIRONMENT.engineLogGroupArn];
  const machineNamePrefix = process.env[API_ENVIRONMENT.machineNamePrefix];
  return {
    registry,
    router: new MessageRouter({ registry, eventBusName: required(API_ENVIRONMENT.eventBus) }),
    coordinations: new CoordinationService({
      registry,
      engine: new StepFunctionsEngine({
        arnPrefix: required(API_ENVIRONMENT.stateMachineArnPrefix),
        roleArn: required(API_ENVIRONMENT.engineRoleArn),
        ...(logGroupArn ? { logGroupArn } : {}),
      }),
      recordOutcomes: 'await',
      ...(machineNamePrefix ? { machineNamePrefix } : {}),
      // Warm containers plan from lookups up to a second old (see CachedDirectory).
      directory: new CachedDirectory(registry, { ttlMs: 1000 }),
    }),
  };
}

export function corsOriginsFromEnvironment(): string[] {
  return (process.env[API_ENVIRONMENT.corsOrigins] ?? '')
    .split(',')
    .map((o) => o.trim())
    .filter((o) => o.length > 0);
}
