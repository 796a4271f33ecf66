import { createHash } from 'node:crypto';
import { type Duration, type RemovalPolicy, Stack } from 'aws-cdk-lib';
import type { IRole, IUser, ManagedPolicy } from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import { A2A_ENVIRONMENT } from '../functions/a2a/settings.ts';
import { planRequest } from '../functions/coordination/plan-request.ts';
import type { CoordinationRequestInput } from '../statemachines/request.ts';
import { A2aProxy } from './a2a-proxy.ts';
import { Agent, type AgentProps } from './agent.ts';
import type { IAgentTarget } from './agent-target.ts';
import { MobiusApi, type MobiusApiProps } from './api.ts';
import { CoordinationEngine, type DeclaredWorkflow } from './coordination-engine.ts';
import { CoordinationEventsTable } from './events-table.ts';
import { HealthMonitor } from './health-monitor.ts';
import { MessageBus } from './message-bus.ts';
import { Monitoring } from './monitoring.ts';
import { RegistryTables } from './registry-table.ts';

/** An agent the construct deploys: its definition and entry, and any Agent setting (defaults as there). */
export interface CoordinatorAgent
  extends Pick<
    AgentProps,
    | 'definition'
    | 'entry'
    | 'projectRoot'
    | 'depsLockFilePath'
    | 'environment'
    | 'ordered'
    | 'memorySize'
    | 'timeout'
    | 'batchSize'
    | 'maxReceiveCount'
    | 'receiveBroadcasts'
    | 'provisionedConcurrency'
    | 'warm'
    | 'layers'
    | 'insightsVersion'
    | 'streaming'
  > {
  /**
   * Competing consumers: the id of an agent this construct deployed before this one (a replica's
   * original), whose queue this agent consumes and names in its card instead of one of its own
   * (AgentProps.sharedQueue). @default a queue of its own
   */
  readonly sharesQueueWith?: string;
  /** Permissions the agent's own code needs, e.g. `(agent) => bucket.grantRead(agent.function)`. */
  readonly grant?: (agent: Agent) => void;
}

export interface MobiusCoordinatorProps {
  /** The agents this construct deploys (each an `Agent` construct). @default none */
  readonly agents?: readonly CoordinatorAgent[];
  /**
   * Coordinations whose state machines deploy with the stack, so their first run needs no
   * CreateStateMachine. Plan them with `planWorkflows` (async) before building the construct.
   * Shapes not declared are created on their first run. @default none
   */
  readonly workflows?: readonly DeclaredWorkflow[];
  /** Browser origins allowed to call the API. @default none (no CORS) */
  readonly corsOrigins?: readonly string[];
  /**
   * IAM principals (role or user ARNs) the API treats as operators (docs/security.md); give them
   * the operator policy too, or call `grantOperator`. @default none
   */
  readonly operators?: readonly string[];
  /**
   * Accounts whose queues and functions cards registered through the API may name, besides the
   * stack's own. @default only the stack's account
   */
  readonly allowedAgentAccounts?: readonly string[];
  /**
   * Concurrency reserved for the API's function: the bound on requests (coordinations among them)
   * in flight at once on AWS; keep `throttle` below what it serves (docs/deploying.md,
   * "Back-pressure"). @default none — the account's unreserved pool (Lambda keeps a minimum of it
   * unreserved, and a new account may have 10 in all: a reservation leaving less fails the deploy)
   */
  readonly reservedConcurrency?: number;
  /**
   * API Gateway's throttling of the API's stage; requests past it get 503 `CAPACITY_EXCEEDED`
   * with `Retry-After`. @default 100 requests per second, bursts of 200
   */
  readonly throttle?: MobiusApiProps['throttle'];
  /**
   * How often the health monitor sweeps: pings every agent (keeping one environment of each warm
   * as a side effect) and publishes the fleet's health. @default 1 minute
   */
  readonly healthCheckInterval?: Duration;
  /** @default RemovalPolicy.RETAIN for the registry tables and the coordination event log */
  readonly removalPolicy?: RemovalPolicy;
  /**
   * What the names of this deployment's state machines, queues and bus start with, so that several
   * deployments live side by side in one account and region. At most 14 letters, digits and hyphens.
   * @default `mobius-` and 6 hex digits of the stack name's hash
   */
  readonly namePrefix?: string;
  /**
   * Hosts remote A2A agents may be imported from (POST /agents/import, docs/a2a.md): host names
   * (`agents.example.com`, `*.example.com`, with `:port` to name one), addresses or ranges
   * (`203.0.113.7`, `10.0.0.0/8`), https only. With any, the stack deploys the A2A proxy that
   * calls them. @default context `mobius:a2aAllowedHosts` (comma-separated), else none: no import
   */
  readonly a2aAllowedHosts?: readonly string[];
}

/** Context key the example app and the LocalStack suite set a2aAllowedHosts with. */
export const A2A_ALLOWED_HOSTS_CONTEXT = 'mobius:a2aAllowedHosts';

/**
 * Mobius Coordinator in any CDK stack: registry tables, message bus, agents, coordination engine,
 * coordination event log, HTTP API (IAM auth, streaming), health monitor, dashboard and alarms. The constructor is synchronous; add
 * agents later with `addAgent`, including imported ones (`IAgentTarget`).
 *
 * ```ts
 * const mobius = new MobiusCoordinator(stack, 'Mobius', {
 *   agents: [{ definition: summarizer, entry: 'agents/summarizer.ts' }],
 * });
 * ```
 */
export class MobiusCoordinator extends Construct {
  readonly tables: RegistryTables;
  /**
   * The coordination event log: agents append their steps' events and chunks, the API serves them
   * (GET /coordinations/{id}/events), the outcome recorder ends standard runs in it.
   */
  readonly eventsTable: CoordinationEventsTable;
  readonly bus: MessageBus;
  readonly engine: CoordinationEngine;
  readonly api: MobiusApi;
  readonly monitor: HealthMonitor;
  readonly monitoring: Monitoring;
  readonly namePrefix: string;
  /** The A2A proxy, when hosts are allowed for imported A2A agents (a2aAllowedHosts). */
  readonly a2aProxy: A2aProxy | undefined;
  readonly #agents: Agent[] = [];

  constructor(scope: Construct, id: string, props: MobiusCoordinatorProps = {}) {
    super(scope, id);
    this.namePrefix = props.namePrefix ?? defaultNamePrefix(Stack.of(this).stackName);
    this.tables = new RegistryTables(
      this,
      'Tables',
      props.removalPolicy ? { removalPolicy: props.removalPolicy } : {},
    );
    this.eventsTable = new CoordinationEventsTable(
      this,
      'Events',
      props.removalPolicy ? { removalPolicy: props.removalPolicy } : {},
    );
    this.bus = new MessageBus(this, 'Messages', {
      eventBusName: `${this.namePrefix}-bus`,
      deadLetterQueueName: `${this.namePrefix}-events-dlq`,
    });
    this.engine = new CoordinationEngine(this, 'Engine', {
      workflows: props.workflows ?? [],
      machineNamePrefix: this.namePrefix,
      eventDeadLetterQueue: this.bus.deadLetterQueue,
      eventsTable: this.eventsTable,
    });
    this.api = new MobiusApi(this, 'Http', {
      tables: this.tables,
      eventsTable: this.eventsTable,
      bus: this.bus.bus,
      engine: this.engine,
      ...(props.corsOrigins ? { corsOrigins: props.corsOrigins } : {}),
      ...(props.operators ? { operators: props.operators } : {}),
      ...(props.allowedAgentAccounts ? { allowedAgentAccounts: props.allowedAgentAccounts } : {}),
      ...(props.reservedConcurrency !== undefined
        ? { reservedConcurrency: props.reservedConcurrency }
        : {}),
      ...(props.throttle ? { throttle: props.throttle } : {}),
    });
    this.monitor = new HealthMonitor(this, 'Health', {
      tables: this.tables,
      eventDeadLetterQueue: this.bus.deadLetterQueue,
      ...(props.healthCheckInterval ? { interval: props.healthCheckInterval } : {}),
    });
    const a2aAllowedHosts = props.a2aAllowedHosts ?? contextList(this, A2A_ALLOWED_HOSTS_CONTEXT);
    this.a2aProxy = a2aAllowedHosts.length === 0 ? undefined : this.#a2aProxy(a2aAllowedHosts);
    this.monitoring = new Monitoring(this, 'Monitoring', {
      machines: this.engine.machines,
      machineNamePrefix: this.engine.machineNamePrefix,
    });
    this.monitoring.watchApi(this.api);
    this.monitoring.watchDeadLetters(
      'UndeliveredEvents',
      this.bus.deadLetterQueue,
      'EventBridge could not deliver events to a rule target of Mobius (an agent queue, the health ' +
        `sweep, the outcome recorder): inspect ${this.bus.deadLetterQueue.queueName}.`,
    );
    for (const agent of props.agents ?? []) this.addAgent(agent);
  }

  /**
   * The A2A proxy and its wiring: the engine invokes it for imported agents' steps, the API for
   * their requests (streamed ones too) and imports (its ARNs and the allow-list in the API's
   * environment, which the endpoint policy checks cards against), the monitor for their pings.
   */
  #a2aProxy(allowedHosts: readonly string[]): A2aProxy {
    const proxy = new A2aProxy(this, 'A2aProxy', {
      tables: this.tables,
      eventsTable: this.eventsTable,
      allowedHosts,
    });
    proxy.grantInvoke(this.engine.role);
    proxy.grantInvoke(this.api.function, { streaming: true });
    proxy.grantInvoke(this.monitor.monitor);
    this.api.function.addEnvironment(A2A_ENVIRONMENT.allowedHosts, allowedHosts.join(','));
    this.api.function.addEnvironment(A2A_ENVIRONMENT.proxyArn, proxy.function.functionArn);
    this.api.function.addEnvironment(
      A2A_ENVIRONMENT.proxyStreamArn,
      proxy.streamFunction.functionArn,
    );
    return proxy;
  }

  /** `execute-api:Invoke` to run and read coordinations and read the registry. */
  get invokerPolicy(): ManagedPolicy {
    return this.api.invokerPolicy;
  }

  /** `execute-api:Invoke` to register and keep a card, and send messages and broadcasts. */
  get agentPolicy(): ManagedPolicy {
    return this.api.agentPolicy;
  }

  /** `execute-api:Invoke` on every route; operators must also be named (see grantOperator). */
  get operatorPolicy(): ManagedPolicy {
    return this.api.operatorPolicy;
  }

  /** Makes `principal` an operator of this coordinator: its policy, and the API's list. */
  grantOperator(principal: IRole | IUser): void {
    this.api.grantOperator(principal);
  }

  /** The agents this construct deployed. */
  get agents(): readonly Agent[] {
    return this.#agents;
  }

  /** Deploys an agent: its function, queues, rules and card, wired to the engine, API and monitor. */
  addAgent(settings: CoordinatorAgent): Agent {
    const { grant, sharesQueueWith, ...agentSettings } = settings;
    const agentId = settings.definition.agentId;
    let sharedQueue: Agent | undefined;
    if (sharesQueueWith !== undefined) {
      sharedQueue = this.#agents.find((a) => a.agentId === sharesQueueWith);
      if (sharedQueue === undefined)
        throw new RangeError(
          `agent ${agentId} sharesQueueWith '${sharesQueueWith}', which this coordinator has not ` +
            `deployed; deployed so far: ${this.#agents.map((a) => a.agentId).join(', ') || 'none'}. ` +
            'List the queue owner before the agents sharing its queue.',
        );
    }
    const agent = new Agent(this, `Agent-${agentId}`, {
      ...agentSettings,
      ...(sharedQueue ? { sharedQueue } : {}),
      tables: this.tables,
      eventsTable: this.eventsTable,
      bus: this.bus.bus,
      queueNamePrefix: this.namePrefix,
      eventDeadLetterQueue: this.bus.deadLetterQueue,
    });
    this.#agents.push(agent);
    this.addTarget(agent);
    grant?.(agent);
    return agent;
  }

  /**
   * Lets the engine, the API and the health monitor reach an agent this construct did not deploy
   * (its function and queues, e.g. imported by ARN). Its card is registered by the agent itself.
   */
  addTarget(target: IAgentTarget): void {
    this.engine.addAgent(target);
    this.api.addAgent(target);
    this.monitor.addAgent(target);
    this.monitoring.addAgent(target);
  }
}

/**
 * Plans declared workflows against the agents they will run on, all assumed healthy, with the
 * planner the API uses at run time: the machines deployed are the ones runs will look for.
 */
export async function planWorkflows(
  agents: readonly Pick<CoordinatorAgent, 'definition'>[],
  workflows: readonly { readonly id: string; readonly request: CoordinationRequestInput }[],
): Promise<DeclaredWorkflow[]> {
  const definitions = agents.map((agent) => agent.definition);
  return Promise.all(
    workflows.map(async ({ id, request }) => ({
      id,
      plan: await planRequest(request, definitions),
    })),
  );
}

/** A comma-separated context value as a list (empty when unset). */
function contextList(scope: Construct, key: string): string[] {
  return String(scope.node.tryGetContext(key) ?? '')
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item.length > 0);
}

/** `mobius-` and 6 hex digits of the stack name: distinct per stack, short enough for every name. */
function defaultNamePrefix(stackName: string): string {
  return `mobius-${createHash('sha256').update(stackName).digest('hex').slice(0, 6)}`;
}
