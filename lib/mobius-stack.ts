import { type RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
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

export interface StackAgent {
  readonly definition: AgentProps['definition'];
  readonly entry: string;
  readonly environment?: Readonly<Record<string, string>>;
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

  private constructor(
    scope: Construct,
    id: string,
    props: MobiusStackProps,
    plans: Awaited<ReturnType<typeof planWorkflows>>,
  ) {
    super(scope, id, props);
    this.tables = new RegistryTables(
      this,
      'Tables',
      props.removalPolicy ? { removalPolicy: props.removalPolicy } : {},
    );
    this.bus = new MessageBus(this, 'Messages');
    this.engine = new CoordinationEngine(this, 'Engine', { workflows: plans });
    this.api = new MobiusApi(this, 'Http', {
      tables: this.tables,
      bus: this.bus.bus,
      engine: this.engine,
      ...(props.corsOrigins ? { corsOrigins: props.corsOrigins } : {}),
    });
    const monitor = new HealthMonitor(this, 'Health', { tables: this.tables });
    this.agents = props.agents.map(
      (agent) =>
        new Agent(this, `Agent-${agent.definition.agentId}`, {
          definition: agent.definition,
          entry: agent.entry,
          tables: this.tables,
          bus: this.bus.bus,
          ...(agent.environment ? { environment: agent.environment } : {}),
        }),
    );
    for (const agent of this.agents) {
      this.engine.addAgent(agent);
      this.api.addAgent(agent);
      monitor.addAgent(agent);
    }
    this.monitoring = new Monitoring(this, 'Monitoring', {
      agents: this.agents,
      machines: this.engine.machines,
    });
  }

  /** Builds the stack; async because declared workflows are planned first. */
  static async create(scope: Construct, id: string, props: MobiusStackProps): Promise<MobiusStack> {
    return new MobiusStack(scope, id, props, await planWorkflows(props));
  }
}

/** Plans the declared workflows against the stack's own agents, all assumed healthy. */
async function planWorkflows(props: MobiusStackProps) {
  const directory = new StaticDirectory(
    props.agents.map(({ definition }) => {
      const { handler: _handler, ...card } = definition;
      return { ...card, endpoint: placeholderEndpoint(card.agentId) };
    }),
  );
  const planner = new CoordinationPlanner(directory);
  return Promise.all(
    (props.workflows ?? []).map(async ({ id, request }) => ({
      id,
      plan: await planner.plan(planner.parse(request)),
    })),
  );
}

/** Only the shape of a plan reaches its state machine; these endpoints never leave synth. */
function placeholderEndpoint(agentId: string) {
  return {
    lambdaArn: `arn:aws:lambda:us-east-1:000000000000:function:${agentId}`,
    queueUrl: `https://sqs.us-east-1.amazonaws.com/000000000000/mobius-${agentId}`,
    queueArn: `arn:aws:sqs:us-east-1:000000000000:mobius-${agentId}`,
  };
}
