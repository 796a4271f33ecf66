import { createHash } from 'node:crypto';
import { CfnOutput, type RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { CoordinationPlanner } from '../functions/coordination/planner.ts';
import { StaticDirectory } from '../functions/coordination/static-directory.ts';
import type { CoordinationRequestInput } from '../statemachines/request.ts';
import { Agent, type AgentProps } from './agent.ts';
import { MobiusApi } from './api.ts';
import { CoordinationEngine } from './coordination-engine.ts';
import { HealthMonitor } from './health-monitor.ts';
import { MessageBus } from './message-bus.ts';
import { Monitoring } from './monitoring.ts';
import { RegistryTables } from './registry-table.ts';

/** An agent of the stack: its definition and entry, and any Agent setting (defaults as there). */
export interface StackAgent
  extends Pick<
    AgentProps,
    | 'definition'
    | 'entry'
    | 'environment'
    | 'ordered'
    | 'memorySize'
    | 'timeout'
    | 'batchSize'
    | 'maxReceiveCount'
    | 'receiveBroadcasts'
  > {
  /** Permissions the agent's own code needs, e.g. `(agent) => bucket.grantRead(agent.function)`. */
  readonly grant?: (agent: Agent) => void;
}

export interface MobiusStackProps extends StackProps {
  /** The agents this stack deploys (each an Agent construct). */
  readonly agents: readonly StackAgent[];
  /** Coordination requests whose state machines are deployed with the stack. */
  readonly workflows?: readonly {
    readonly id: string;
    readonly request: CoordinationRequestInput;
  }[];
  /** Browser origins allowed to call the API. @default none */
  readonly corsOrigins?: readonly string[];
  /** @default RemovalPolicy.RETAIN for the tables */
  readonly removalPolicy?: RemovalPolicy;
  /**
   * What the names of this deployment's state machines, queues and bus start with, so that several
   * stacks live side by side in one account and region. At most 14 letters, digits and hyphens.
   * @default `mobius-` and 6 hex digits of the stack name's hash
   */
  readonly namePrefix?: string;
}

/**
 * Mobius Coordinator: registry tables, message bus, agents, coordination engine, HTTP API,
 * health monitor, dashboard and alarms. Declared workflows are planned against the stack's own
 * agents at synth time (StaticDirectory) and compiled by the same compiler the API uses at run
 * time, so a run of a declared shape finds its machine already deployed.
 */
export class MobiusStack extends Stack {
  readonly tables: RegistryTables;
  readonly bus: MessageBus;
  readonly engine: CoordinationEngine;
  readonly api: MobiusApi;
  readonly agents: Agent[];
  readonly monitoring: Monitoring;
  readonly namePrefix: string;

  private constructor(
    scope: Construct,
    id: string,
    props: MobiusStackProps,
    plans: Awaited<ReturnType<typeof planWorkflows>>,
  ) {
    super(scope, id, props);
    this.namePrefix = props.namePrefix ?? defaultNamePrefix(this.stackName);
    this.tables = new RegistryTables(
      this,
      'Tables',
      props.removalPolicy ? { removalPolicy: props.removalPolicy } : {},
    );
    this.bus = new MessageBus(this, 'Messages', { eventBusName: `${this.namePrefix}-bus` });
    this.engine = new CoordinationEngine(this, 'Engine', {
      workflows: plans,
      machineNamePrefix: this.namePrefix,
    });
    this.api = new MobiusApi(this, 'Http', {
      tables: this.tables,
      bus: this.bus.bus,
      engine: this.engine,
      ...(props.corsOrigins ? { corsOrigins: props.corsOrigins } : {}),
    });
    const monitor = new HealthMonitor(this, 'Health', { tables: this.tables });
    this.agents = props.agents.map(
      ({ grant: _grant, ...settings }) =>
        new Agent(this, `Agent-${settings.definition.agentId}`, {
          ...settings,
          tables: this.tables,
          bus: this.bus.bus,
          queueNamePrefix: this.namePrefix,
          engine: this.engine,
        }),
    );
    this.agents.forEach((agent, i) => {
      this.api.addAgent(agent);
      monitor.addAgent(agent);
      props.agents[i]?.grant?.(agent);
    });
    this.monitoring = new Monitoring(this, 'Monitoring', {
      agents: this.agents,
      machines: this.engine.machines,
      machineNamePrefix: this.engine.machineNamePrefix,
    });

    new CfnOutput(this, 'ApiUrl', {
      value: this.api.api.url,
      description:
        'Base URL of the HTTP API (IAM auth: sign requests with SigV4, service execute-api)',
    });
    new CfnOutput(this, 'RegistryTableName', { value: this.tables.registry.tableName });
    new CfnOutput(this, 'EventBusName', { value: this.bus.bus.eventBusName });
    new CfnOutput(this, 'DashboardName', { value: this.monitoring.dashboard.dashboardName });
  }

  /** Builds the stack; async because declared workflows are planned first. */
  static async create(scope: Construct, id: string, props: MobiusStackProps): Promise<MobiusStack> {
    return new MobiusStack(scope, id, props, await planWorkflows(props));
  }
}

/** Plans the declared workflows against the stack's own agents, all assumed healthy. */
async function planWorkflows(props: MobiusStackProps) {
  const planner = new CoordinationPlanner(
    StaticDirectory.forShapes(props.agents.map((agent) => agent.definition)),
  );
  return Promise.all(
    (props.workflows ?? []).map(async ({ id, request }) => ({
      id,
      plan: await planner.plan(planner.parse(request)),
    })),
  );
}

/** `mobius-` and 6 hex digits of the stack name: distinct per stack, short enough for every name. */
function defaultNamePrefix(stackName: string): string {
  return `mobius-${createHash('sha256').update(stackName).digest('hex').slice(0, 6)}`;
}
