import { a2aPolicyFromEnvironment } from '../a2a/settings.ts';
import { CachedDirectory } from '../coordination/cached-directory.ts';
import { CoordinationService } from '../coordination/service.ts';
import { StepFunctionsEngine } from '../coordination/step-functions-engine.ts';
import type { OldestMessageAge } from '../core/messaging/queue-inspector.ts';
import { MessageRouter } from '../core/messaging/router.ts';
import type { EndpointPolicy } from '../core/model/agent-card.ts';
import { AgentRegistry } from '../core/registry/agent-registry.ts';
import { LOCAL_OPERATOR, normalisePrincipal } from '../core/registry/ownership.ts';
import { DynamoEventLog } from '../core/streaming/dynamo-event-log.ts';
import type { AccessSettings } from './caller.ts';
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
  /** Comma-separated IAM principals (role or user ARNs) who may change every card. */
  operators: 'MOBIUS_OPERATORS',
  /** Comma-separated accounts whose queues and functions cards may name (the stack's by default). */
  agentAccounts: 'MOBIUS_AGENT_ACCOUNTS',
  /** The coordination event log's table; without it the SSE routes answer 503. */
  eventsTable: 'MOBIUS_EVENTS_TABLE',
} as const;

function required(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set; the CDK stack sets it on the API function`);
  return value;
}

/** Dependencies for the API Lambda, from its environment; SDK clients are shared per process. */
export function dependenciesFromEnvironment(): Omit<ApiDependencies, 'metrics'> {
  const registry = new AgentRegistry({
    tableName: required(API_ENVIRONMENT.registryTable),
    endpointPolicy: endpointPolicyFromEnvironment(),
  });
  const logGroupArn = process.env[API_ENVIRONMENT.engineLogGroupArn];
  const machineNamePrefix = process.env[API_ENVIRONMENT.machineNamePrefix];
  const eventsTable = process.env[API_ENVIRONMENT.eventsTable];
  const events = eventsTable ? new DynamoEventLog({ tableName: eventsTable }) : undefined;
  return {
    registry,
    access: accessFromEnvironment(),
    // The queue routes use the shared SQS client; the age of a queue's oldest message is CloudWatch's.
    oldestMessageAge: cloudWatchOldestMessageAge(),
    ...(events === undefined ? {} : { events }),
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
      ...(events === undefined ? {} : { events }),
    }),
  };
}

const listOf = (value: string | undefined): string[] =>
  (value ?? '')
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item.length > 0);

export function corsOriginsFromEnvironment(): string[] {
  return listOf(process.env[API_ENVIRONMENT.corsOrigins]);
}

/**
 * Callers are IAM principals; operators are the ones the stack names (see docs/security.md). With
 * an endpoint configured (AWS_ENDPOINT_URL, which LocalStack sets on every function it runs), a
 * request without an identity is the local operator: LocalStack's API Gateway checks no signature
 * and passes none. On AWS no function has it set and IAM authorisation always passes one.
 */
export function accessFromEnvironment(env: NodeJS.ProcessEnv = process.env): AccessSettings {
  return {
    mode: 'iam',
    operators: listOf(env[API_ENVIRONMENT.operators]).map(normalisePrincipal),
    ...(env.AWS_ENDPOINT_URL ? { anonymous: LOCAL_OPERATOR } : {}),
  };
}

/**
 * Where cards registered through the API may point: SQS queues and Lambda functions of the
 * function's own region (AWS_REGION, which Lambda sets) in the accounts the stack allows. With an
 * endpoint configured (AWS_ENDPOINT_URL_SQS or AWS_ENDPOINT_URL: LocalStack, emulators), queue URLs
 * must be on it instead of SQS's public endpoints.
 */
export function endpointPolicyFromEnvironment(
  env: NodeJS.ProcessEnv = process.env,
): EndpointPolicy {
  const region = env.AWS_REGION ?? env.AWS_DEFAULT_REGION;
  if (!region) throw new Error('AWS_REGION is not set; Lambda sets it on every function');
  const accounts = listOf(env[API_ENVIRONMENT.agentAccounts]);
  if (accounts.length === 0) {
    throw new Error(
      `${API_ENVIRONMENT.agentAccounts} is not set; the CDK stack sets it on the API function`,
    );
  }
  const sqsEndpoint = env.AWS_ENDPOINT_URL_SQS || env.AWS_ENDPOINT_URL;
  // Imported A2A agents' hosts and proxy, when the stack deploys one (a2aAllowedHosts).
  return {
    region,
    accounts,
    ...(sqsEndpoint ? { sqsEndpoint } : {}),
    ...a2aPolicyFromEnvironment(env),
  };
}

/**
 * CloudWatch's reading of a queue's oldest message, its SDK client loaded at the first read: only
 * the operators' queue route asks, and every other request's cold start need not evaluate it.
 */
function cloudWatchOldestMessageAge(): OldestMessageAge {
  let reader: Promise<OldestMessageAge> | undefined;
  return {
    seconds: async (queue) => {
      reader ??= import('../core/messaging/oldest-message-age.ts').then(
        ({ CloudWatchOldestMessageAge }) => new CloudWatchOldestMessageAge(),
      );
      return (await reader).seconds(queue);
    },
  };
}
