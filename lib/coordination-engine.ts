import { Stack } from 'aws-cdk-lib';
import { Match, Rule } from 'aws-cdk-lib/aws-events';
import { LambdaFunction } from 'aws-cdk-lib/aws-events-targets';
import { type IGrantable, PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import type { Function as FunctionConstruct } from 'aws-cdk-lib/aws-lambda';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import {
  DefinitionBody,
  LogLevel,
  StateMachine,
  StateMachineType,
} from 'aws-cdk-lib/aws-stepfunctions';
import { Construct, type IConstruct } from 'constructs';
import { assertNamePrefix, compile, DEFAULT_NAME_PREFIX } from '../statemachines/compile.ts';
import type { CoordinationPlan } from '../statemachines/plan.ts';
import type { IAgentEngine, IAgentTarget } from './agent-target.ts';
import type { IEventLogTable } from './events-table.ts';
import { mobiusOwnFunction, statesArnPrefix } from './lambda-defaults.ts';
import { eventDeadLetterQueue } from './message-bus.ts';
import { acknowledge, acknowledgeWildcard } from './nag.ts';

export interface DeclaredWorkflow {
  /** A readable id for the construct tree (the machine's name comes from its content hash). */
  readonly id: string;
  readonly plan: CoordinationPlan;
}

export interface CoordinationEngineProps {
  /** Plans whose machines are deployed ahead of time, so their first run needs no CreateStateMachine. */
  readonly workflows?: readonly DeclaredWorkflow[];
  /**
   * What this engine's machine names start with (see CompileOptions.namePrefix); the grants cover
   * exactly these machines. @default 'mobius'
   */
  readonly machineNamePrefix?: string;
  /** Where the standard-outcome rule's undeliverable events go. @default a queue of its own */
  readonly eventDeadLetterQueue?: IQueue;
  /**
   * The coordination event log, where the outcome recorder appends `coordination.finished` when a
   * standard run ends. @default none: watchers of a standard run never see it end
   */
  readonly eventsTable?: IEventLogTable;
}

/**
 * What a role needs for Step Functions to set up a machine's logging to CloudWatch Logs: the log
 * delivery APIs, which take no resource-level permissions.
 */
const LOG_DELIVERY_ACTIONS = [
  'logs:CreateLogDelivery',
  'logs:GetLogDelivery',
  'logs:UpdateLogDelivery',
  'logs:DeleteLogDelivery',
  'logs:ListLogDeliveries',
  'logs:PutResourcePolicy',
  'logs:DescribeResourcePolicies',
  'logs:DescribeLogGroups',
];

const MACHINES_REASON =
  'Machines are named <prefix>-<pattern>-<content hash>; shapes first seen at run time are created then, so grants cover the prefix.';

/**
 * The coordination engine: the role every compiled machine runs as (invoke registered agents, send
 * to their queues, log, trace), the log group under /aws/vendedlogs/states, and the Express and
 * Standard machines the compiler produces for the declared workflows. Shapes that were not
 * declared are created on their first run by the API, under the same role and naming scheme.
 */
export class CoordinationEngine extends Construct implements IAgentEngine {
  readonly role: Role;
  readonly logGroup: LogGroup;
  readonly machines: StateMachine[] = [];
  readonly machineNamePrefix: string;
  /** Records standard coordinations' outcomes from Step Functions' status-change events. */
  readonly outcomes: FunctionConstruct;
  /** Every machine the engine owns or will create: `<prefix>-*`. */
  readonly #namePattern: string;

  constructor(scope: Construct, id: string, props: CoordinationEngineProps = {}) {
    super(scope, id);
    this.machineNamePrefix = props.machineNamePrefix ?? DEFAULT_NAME_PREFIX;
    assertNamePrefix(this.machineNamePrefix);
    this.#namePattern = `${this.machineNamePrefix}-*`;
    this.logGroup = new LogGroup(this, 'Logs', {
      logGroupName: `/aws/vendedlogs/states/mobius-${Stack.of(this).stackName}`,
      retention: RetentionDays.ONE_MONTH,
    });
    this.role = new Role(this, 'Role', {
      assumedBy: new ServicePrincipal('states.amazonaws.com'),
      description:
        'Runs Mobius coordinations: invokes agents, sends them task tokens, logs and traces',
    });
    // Declared machines would add these through CDK; machines first created at run time (logging
    // and tracing on, under this role) need them even when nothing is declared.
    this.role.addToPrincipalPolicy(
      new PolicyStatement({ actions: LOG_DELIVERY_ACTIONS, resources: ['*'] }),
    );
    this.role.addToPrincipalPolicy(
      new PolicyStatement({
        actions: [
          'xray:PutTraceSegments',
          'xray:PutTelemetryRecords',
          'xray:GetSamplingRules',
          'xray:GetSamplingTargets',
        ],
        resources: ['*'],
      }),
    );
    for (const workflow of props.workflows ?? []) this.declare(workflow);
    this.outcomes = this.#recordStandardOutcomes(
      props.eventDeadLetterQueue ?? eventDeadLetterQueue(this, 'UndeliveredOutcomes'),
      props.eventsTable,
    );
    acknowledge(
      this.role,
      'AwsSolutions-IAM5[Resource::*]',
      'Step Functions logging (CloudWatch Logs delivery APIs) and X-Ray tracing take no resource-level permissions.',
    );
  }

  /**
   * The API sees standard coordinations start, not finish: Step Functions' status-change events
   * (sent to the default bus for standard executions) feed the same outcome metrics instead, and
   * end the run in the coordination event log. An event too large to carry the execution's input
   * or output is completed with DescribeExecution, and a failed run's progress is read from its
   * history.
   */
  #recordStandardOutcomes(
    deadLetterQueue: IQueue,
    eventsTable: IEventLogTable | undefined,
  ): FunctionConstruct {
    const recorder = mobiusOwnFunction(this, 'Outcomes', {
      entry: 'functions/monitor/coordination-events.ts',
      description: 'Records the outcomes of standard Mobius coordinations: metrics, event log',
      environment: {
        POWERTOOLS_SERVICE_NAME: 'mobius-api',
        // Read by functions/monitor/coordination-events.ts.
        ...(eventsTable ? { MOBIUS_EVENTS_TABLE: eventsTable.tableName } : {}),
      },
    });
    eventsTable?.grantAppend(recorder);
    const executions = `${statesArnPrefix(this)}:execution:${this.#namePattern}:*`;
    recorder.addToRolePolicy(
      new PolicyStatement({
        // DescribeExecution: input and output an event left out; GetExecutionHistory: how far a
        // failed run had got (the succeeded steps its coordination.finished carries).
        actions: ['states:DescribeExecution', 'states:GetExecutionHistory'],
        resources: [executions],
      }),
    );
    acknowledgeWildcard(
      recorder,
      executions,
      `Executions are named per coordination; their machine names share the ${this.machineNamePrefix}- prefix.`,
    );
    new Rule(this, 'StandardOutcomes', {
      description: `Finished executions of ${this.machineNamePrefix}-* machines`,
      eventPattern: {
        source: ['aws.states'],
        detailType: ['Step Functions Execution Status Change'],
        detail: {
          status: ['SUCCEEDED', 'FAILED', 'TIMED_OUT', 'ABORTED'],
          stateMachineArn: Match.prefix(
            `${statesArnPrefix(this)}:stateMachine:${this.machineNamePrefix}-`,
          ),
        },
      },
      targets: [new LambdaFunction(recorder, { retryAttempts: 4, deadLetterQueue })],
    });
    return recorder;
  }

  /** Deploys the machine for `workflow` (idempotent per shape: identical shapes share one machine). */
  declare(workflow: DeclaredWorkflow): StateMachine {
    const machine = compile(workflow.plan, { namePrefix: this.machineNamePrefix });
    const existing = this.machines.find((m) => m.node.id === machine.name);
    if (existing) return existing;
    const stateMachine = new StateMachine(this, machine.name, {
      stateMachineName: machine.name,
      definitionBody: DefinitionBody.fromString(machine.json),
      stateMachineType:
        machine.type === 'EXPRESS' ? StateMachineType.EXPRESS : StateMachineType.STANDARD,
      role: this.role,
      tracingEnabled: true,
      logs: { destination: this.logGroup, level: LogLevel.ALL, includeExecutionData: false },
      comment: `Mobius ${workflow.plan.pattern} (${workflow.id})`,
    });
    this.machines.push(stateMachine);
    return stateMachine;
  }

  /** Lets the machines reach `agent` and lets the agent answer their task tokens. */
  addAgent(agent: IAgentTarget): void {
    agent.function.grantInvoke(this.role);
    acknowledgeWildcard(
      this.role,
      `${agent.function.functionArn}:*`,
      `Invoking agent ${agent.agentId} covers its versions and aliases.`,
    );
    agent.queue.grantSendMessages(this.role);
    this.grantTaskResponse(agent.function);
  }

  /** SendTaskSuccess / SendTaskFailure / SendTaskHeartbeat on every Mobius machine. */
  grantTaskResponse(grantee: IGrantable & IConstruct): void {
    const machines = `${statesArnPrefix(this)}:stateMachine:${this.#namePattern}`;
    grantee.grantPrincipal.addToPrincipalPolicy(
      new PolicyStatement({
        actions: ['states:SendTaskSuccess', 'states:SendTaskFailure', 'states:SendTaskHeartbeat'],
        resources: [machines],
      }),
    );
    acknowledgeWildcard(grantee, machines, MACHINES_REASON);
  }

  /**
   * What the coordination API needs: start, describe and stop executions (DELETE
   * /coordinations/{id}), and create the machine of a shape nobody declared (passing the engine
   * role, with logging to the engine's log group).
   */
  grantRun(grantee: IGrantable & IConstruct): void {
    const prefix = statesArnPrefix(this);
    const principal = grantee.grantPrincipal;
    principal.addToPrincipalPolicy(
      new PolicyStatement({
        actions: [
          'states:StartSyncExecution',
          'states:StartExecution',
          'states:CreateStateMachine',
          'states:TagResource',
        ],
        resources: [`${prefix}:stateMachine:${this.#namePattern}`],
      }),
    );
    principal.addToPrincipalPolicy(
      new PolicyStatement({
        // History: how far a failed or cancelled standard run had got (its succeeded steps'
        // outputs). StopExecution: an operator's cancel (the handler admits operators only).
        actions: ['states:DescribeExecution', 'states:GetExecutionHistory', 'states:StopExecution'],
        resources: [`${prefix}:execution:${this.#namePattern}:*`],
      }),
    );
    this.role.grantPassRole(principal);
    acknowledgeWildcard(grantee, `${prefix}:stateMachine:${this.#namePattern}`, MACHINES_REASON);
    acknowledgeWildcard(
      grantee,
      `${prefix}:execution:${this.#namePattern}:*`,
      `Executions are named per coordination; their machine names share the ${this.machineNamePrefix}- prefix.`,
    );
    acknowledge(
      grantee,
      'AwsSolutions-IAM5[Resource::*]',
      'The CloudWatch Logs delivery APIs CreateStateMachine needs for logging take no resource-level permissions.',
    );
    // CreateStateMachine with logging needs the log delivery APIs from the caller too.
    principal.addToPrincipalPolicy(
      new PolicyStatement({ actions: LOG_DELIVERY_ACTIONS, resources: ['*'] }),
    );
  }
}
