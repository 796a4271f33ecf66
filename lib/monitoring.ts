import { Duration, Stack } from 'aws-cdk-lib';
import {
  Alarm,
  ComparisonOperator,
  Dashboard,
  GraphWidget,
  MathExpression,
  Metric,
  SingleValueWidget,
  TextWidget,
  TreatMissingData,
} from 'aws-cdk-lib/aws-cloudwatch';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import type { StateMachine } from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { PATTERNS } from '../statemachines/request.ts';
import type { IAgentTarget } from './agent-target.ts';
import { metricsNamespaceOf } from './lambda-defaults.ts';

export interface MonitoringProps {
  /** Agents to watch from the start; more with addAgent. @default none */
  readonly agents?: readonly IAgentTarget[];
  readonly machines: readonly StateMachine[];
  /**
   * What the names of every machine of the engine start with, declared or created at run time
   * (CoordinationEngine.machineNamePrefix): the dashboard finds them all by it.
   */
  readonly machineNamePrefix: string;
  /** Coordination failure rate (%) that raises the alarm. @default 5 */
  readonly failureRatePercent?: number;
  /** Agent error rate (%) that raises an agent's alarm. @default 5 */
  readonly agentErrorRatePercent?: number;
}

const FIVE_MINUTES = Duration.minutes(5);

/** A metric the stack's functions publish with Powertools (EMF) to `namespace`. */
const emfMetric =
  (namespace: string) =>
  (
    metricName: string,
    service: string,
    statistic: string,
    dimensions: Record<string, string> = {},
  ) =>
    new Metric({
      namespace,
      metricName,
      dimensionsMap: { service, ...dimensions },
      statistic,
      period: Duration.minutes(1),
    });

/**
 * The operations view: a CloudWatch dashboard (coordinations, duration and overhead percentiles
 * per pattern, agent invocations/errors/throttles, queue depth and age, dead letters, fleet
 * health, state machines) and alarms (a dead-letter queue not empty, coordination failure rate,
 * agent error rate, each declared state machine throttled, coordination starts Step Functions
 * refused — this one covers machines created at run time too — and coordinations shed by the
 * API's admission control). Mobius's own figures are EMF metrics the functions publish with
 * Powertools (namespace `Mobius/<stack name>`). Alarms have no actions: wire them to your paging
 * with `alarm.addAlarmAction(...)` (see README).
 */
export class Monitoring extends Construct {
  readonly dashboard: Dashboard;
  readonly alarms: Alarm[] = [];
  readonly #agentWidgets: Record<
    'invocations' | 'errors' | 'throttles' | 'depth' | 'age' | 'deadLetters',
    GraphWidget
  >;
  readonly #agentErrorRatePercent: number;

  constructor(scope: Construct, id: string, props: MonitoringProps) {
    super(scope, id);
    this.#agentErrorRatePercent = props.agentErrorRatePercent ?? 5;
    const namespace = metricsNamespaceOf(this);
    const mobius = emfMetric(namespace);
    const started = mobius('CoordinationsStarted', 'mobius-api', 'Sum');
    const failed = mobius('CoordinationsFailed', 'mobius-api', 'Sum');
    const throttled = mobius('CoordinationsThrottled', 'mobius-api', 'Sum');
    const shed = mobius('CoordinationsShed', 'mobius-api', 'Sum');

    // Dashboards are global to the account: the name carries the stack and the region.
    this.dashboard = new Dashboard(this, 'Dashboard', {
      dashboardName: `${Stack.of(this).stackName}-${Stack.of(this).region}`,
    });
    this.dashboard.addWidgets(
      new TextWidget({
        markdown: `# Mobius Coordinator\nCoordinations, agents, queues and state machines. Figures in namespace \`${namespace}\` come from Powertools EMF.`,
        width: 24,
        height: 2,
      }),
    );
    this.dashboard.addWidgets(
      new GraphWidget({
        title: 'Coordinations per minute',
        width: 12,
        left: [
          started,
          mobius('CoordinationsSucceeded', 'mobius-api', 'Sum'),
          mobius('CoordinationsPartial', 'mobius-api', 'Sum'),
          failed,
        ],
      }),
      new SingleValueWidget({
        title: 'Fleet health (last sweep)',
        width: 12,
        metrics: [
          'AgentsHealthy',
          'AgentsDegraded',
          'AgentsUnhealthy',
          'AgentsOffline',
          'AgentPingFailures',
        ].map((name) => mobius(name, 'mobius-health-monitor', 'Maximum')),
      }),
    );
    for (const metricName of ['CoordinationDuration', 'CoordinationOverhead']) {
      this.dashboard.addWidgets(
        new GraphWidget({
          title: `${metricName} p50 (ms)`,
          width: 12,
          left: PATTERNS.map((pattern) =>
            mobius(metricName, 'mobius-api', 'p50', { pattern }).with({ label: pattern }),
          ),
        }),
        new GraphWidget({
          title: `${metricName} p99 (ms)`,
          width: 12,
          left: PATTERNS.map((pattern) =>
            mobius(metricName, 'mobius-api', 'p99', { pattern }).with({ label: pattern }),
          ),
        }),
      );
    }
    // One line per agent in these, and two alarms per agent: added by addAgent.
    const agentGraph = (title: string) => new GraphWidget({ title, width: 8 });
    this.#agentWidgets = {
      invocations: agentGraph('Agent invocations'),
      errors: agentGraph('Agent errors'),
      throttles: agentGraph('Agent throttles'),
      depth: agentGraph('Queue depth'),
      age: agentGraph('Oldest message age (s)'),
      deadLetters: agentGraph('Dead letters'),
    };
    const w = this.#agentWidgets;
    this.dashboard.addWidgets(w.invocations, w.errors, w.throttles);
    this.dashboard.addWidgets(w.depth, w.age, w.deadLetters);
    // Machines of shapes first seen at run time are not in the template: a search over the
    // engine's name prefix finds them along with the declared ones.
    const everyMachine = (metricName: string) =>
      new MathExpression({
        expression: `SEARCH('{AWS/States,StateMachineArn} MetricName="${metricName}" "stateMachine:${props.machineNamePrefix}-"', 'Sum', 300)`,
        label: metricName,
        period: FIVE_MINUTES,
      });
    this.dashboard.addWidgets(
      new GraphWidget({
        title: 'State machines (declared and created at run time): failed and throttled',
        width: 12,
        left: [everyMachine('ExecutionsFailed'), everyMachine('ExecutionThrottled')],
      }),
      new GraphWidget({
        title: 'Coordinations refused: by Step Functions (throttling, quotas), shed (admission)',
        width: 12,
        left: [throttled, shed],
      }),
    );

    this.alarms.push(
      new Alarm(this, 'CoordinationFailureRate', {
        alarmDescription: `More than ${props.failureRatePercent ?? 5}% of coordinations failed in 5 minutes.`,
        metric: new MathExpression({
          expression: 'IF(started > 0, 100 * failed / started, 0)',
          usingMetrics: {
            started: started.with({ period: FIVE_MINUTES }),
            failed: failed.with({ period: FIVE_MINUTES }),
          },
          period: FIVE_MINUTES,
        }),
        threshold: props.failureRatePercent ?? 5,
        evaluationPeriods: 1,
        comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
        treatMissingData: TreatMissingData.NOT_BREACHING,
      }),
    );
    this.alarms.push(
      new Alarm(this, 'CoordinationStartsThrottled', {
        alarmDescription:
          'Step Functions refused coordination starts (throttling or an execution quota): callers got 503.',
        metric: throttled.with({ period: FIVE_MINUTES }),
        threshold: 1,
        evaluationPeriods: 1,
        comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: TreatMissingData.NOT_BREACHING,
      }),
    );
    this.alarms.push(
      new Alarm(this, 'CoordinationsShed', {
        alarmDescription:
          'Admission control shed coordinations (more in flight than the API admits): callers got 503.',
        metric: shed.with({ period: FIVE_MINUTES }),
        threshold: 1,
        evaluationPeriods: 1,
        comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: TreatMissingData.NOT_BREACHING,
      }),
    );
    for (const machine of props.machines) {
      this.alarms.push(
        new Alarm(this, `${machine.node.id}Throttled`, {
          alarmDescription: `State machine ${machine.node.id} is being throttled.`,
          metric: machine.metric('ExecutionThrottled', { period: FIVE_MINUTES, statistic: 'Sum' }),
          threshold: 1,
          evaluationPeriods: 1,
          comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
          treatMissingData: TreatMissingData.NOT_BREACHING,
        }),
      );
    }
    for (const agent of props.agents ?? []) this.addAgent(agent);
  }

  /**
   * An alarm when `queue` (a dead-letter queue that is no agent's, such as the bus's undeliverable
   * events) holds a message: nothing may sit in a dead-letter queue unnoticed.
   */
  watchDeadLetters(id: string, queue: IQueue, description: string): Alarm {
    const alarm = new Alarm(this, id, {
      alarmDescription: description,
      metric: queue.metricApproximateNumberOfMessagesVisible({
        period: Duration.minutes(1),
        statistic: 'Maximum',
      }),
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: TreatMissingData.NOT_BREACHING,
    });
    this.alarms.push(alarm);
    return alarm;
  }

  /** Adds an agent's lines to the dashboard and its alarms: dead letters, error rate. */
  addAgent(agent: IAgentTarget): void {
    const w = this.#agentWidgets;
    const label = { label: agent.agentId };
    w.invocations.addLeftMetric(agent.function.metricInvocations(label));
    w.errors.addLeftMetric(agent.function.metricErrors(label));
    w.throttles.addLeftMetric(agent.function.metricThrottles(label));
    w.depth.addLeftMetric(agent.queue.metricApproximateNumberOfMessagesVisible(label));
    w.age.addLeftMetric(agent.queue.metricApproximateAgeOfOldestMessage(label));
    w.deadLetters.addLeftMetric(
      agent.deadLetterQueue.metricApproximateNumberOfMessagesVisible(label),
    );
    this.alarms.push(
      new Alarm(this, `${agent.node.id}DeadLetters`, {
        alarmDescription: `Agent ${agent.agentId} has dead-lettered messages: inspect and redrive ${agent.deadLetterQueue.queueName}.`,
        metric: agent.deadLetterQueue.metricApproximateNumberOfMessagesVisible({
          period: Duration.minutes(1),
          statistic: 'Maximum',
        }),
        threshold: 1,
        evaluationPeriods: 1,
        comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: TreatMissingData.NOT_BREACHING,
      }),
      new Alarm(this, `${agent.node.id}ErrorRate`, {
        alarmDescription: `Agent ${agent.agentId} fails more than ${this.#agentErrorRatePercent}% of its invocations.`,
        metric: new MathExpression({
          expression: 'IF(invocations > 0, 100 * errors / invocations, 0)',
          usingMetrics: {
            invocations: agent.function.metricInvocations({ period: FIVE_MINUTES }),
            errors: agent.function.metricErrors({ period: FIVE_MINUTES }),
          },
          period: FIVE_MINUTES,
        }),
        threshold: this.#agentErrorRatePercent,
        evaluationPeriods: 1,
        comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
        treatMissingData: TreatMissingData.NOT_BREACHING,
      }),
    );
  }
}
