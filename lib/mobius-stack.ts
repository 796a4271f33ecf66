import { Aspects, CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import type { CoordinationRequestInput } from '../statemachines/request.ts';
import type { Agent } from './agent.ts';
import type { MobiusApi } from './api.ts';
import type { CoordinationEngine } from './coordination-engine.ts';
import { LogGroupsWithRetention } from './lambda-defaults.ts';
import type { MessageBus } from './message-bus.ts';
import {
  type CoordinatorAgent,
  MobiusCoordinator,
  type MobiusCoordinatorProps,
  planWorkflows,
} from './mobius-coordinator.ts';
import type { Monitoring } from './monitoring.ts';
import type { RegistryTables } from './registry-table.ts';

/** An agent of the stack (see CoordinatorAgent). */
export type StackAgent = CoordinatorAgent;

export interface MobiusStackProps
  extends StackProps,
    Omit<MobiusCoordinatorProps, 'agents' | 'workflows'> {
  /** The agents this stack deploys (each an Agent construct). */
  readonly agents: readonly StackAgent[];
  /** Coordination requests whose state machines are deployed with the stack. */
  readonly workflows?: readonly {
    readonly id: string;
    readonly request: CoordinationRequestInput;
  }[];
}

/**
 * The example app's stack: one MobiusCoordinator, its declared workflows planned against the
 * stack's own agents, and the outputs a deployment is used by (API URL, table, bus, dashboard).
 * In an app of your own, put a `MobiusCoordinator` into any stack instead.
 */
export class MobiusStack extends Stack {
  readonly coordinator: MobiusCoordinator;

  private constructor(
    scope: Construct,
    id: string,
    props: MobiusStackProps,
    workflows: MobiusCoordinatorProps['workflows'],
  ) {
    super(scope, id, props);
    // Functions CDK adds of its own (singleton helpers) get a log group with retention too.
    Aspects.of(this).add(new LogGroupsWithRetention());
    const {
      agents,
      corsOrigins,
      removalPolicy,
      namePrefix,
      operators,
      allowedAgentAccounts,
      reservedConcurrency,
      throttle,
      healthCheckInterval,
      a2aAllowedHosts,
    } = props;
    this.coordinator = new MobiusCoordinator(this, 'Mobius', {
      agents,
      workflows: workflows ?? [],
      ...(corsOrigins ? { corsOrigins } : {}),
      ...(operators ? { operators } : {}),
      ...(allowedAgentAccounts ? { allowedAgentAccounts } : {}),
      ...(reservedConcurrency !== undefined ? { reservedConcurrency } : {}),
      ...(throttle ? { throttle } : {}),
      ...(healthCheckInterval ? { healthCheckInterval } : {}),
      ...(a2aAllowedHosts ? { a2aAllowedHosts } : {}),
      ...(removalPolicy ? { removalPolicy } : {}),
      ...(namePrefix ? { namePrefix } : {}),
    });
    new CfnOutput(this, 'ApiUrl', {
      value: this.api.api.url,
      description:
        'Base URL of the HTTP API (IAM auth: sign requests with SigV4, service execute-api)',
    });
    new CfnOutput(this, 'RegistryTableName', { value: this.tables.registry.tableName });
    new CfnOutput(this, 'EventsTableName', {
      value: this.coordinator.eventsTable.tableName,
      description: 'The coordination event log (GET /coordinations/{id}/events reads it)',
    });
    new CfnOutput(this, 'EventBusName', { value: this.bus.bus.eventBusName });
    new CfnOutput(this, 'DashboardName', { value: this.monitoring.dashboard.dashboardName });
    // Attach these to the roles that call the API (docs/security.md).
    new CfnOutput(this, 'InvokerPolicyArn', {
      value: this.coordinator.invokerPolicy.managedPolicyArn,
      description: 'Managed policy: run and read coordinations, read the agent registry',
    });
    new CfnOutput(this, 'AgentPolicyArn', {
      value: this.coordinator.agentPolicy.managedPolicyArn,
      description: 'Managed policy: register and keep own agent cards, send messages',
    });
    new CfnOutput(this, 'OperatorPolicyArn', {
      value: this.coordinator.operatorPolicy.managedPolicyArn,
      description: 'Managed policy: every route (name the principal in operators as well)',
    });
  }

  /** Builds the stack; async because declared workflows are planned first (planWorkflows). */
  static async create(scope: Construct, id: string, props: MobiusStackProps): Promise<MobiusStack> {
    return new MobiusStack(
      scope,
      id,
      props,
      await planWorkflows(props.agents, props.workflows ?? []),
    );
  }

  get tables(): RegistryTables {
    return this.coordinator.tables;
  }
  get bus(): MessageBus {
    return this.coordinator.bus;
  }
  get engine(): CoordinationEngine {
    return this.coordinator.engine;
  }
  get api(): MobiusApi {
    return this.coordinator.api;
  }
  get agents(): readonly Agent[] {
    return this.coordinator.agents;
  }
  get monitoring(): Monitoring {
    return this.coordinator.monitoring;
  }
  get namePrefix(): string {
    return this.coordinator.namePrefix;
  }
}
