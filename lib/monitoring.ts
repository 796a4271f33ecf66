import { Duration, Stack } from 'aws-cdk-lib';
import type { RestApiBase } from 'aws-cdk-lib/aws-apigateway';
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
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
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
    | 'invocations'
    | 'errors'
    | 'throttles'
    | 'durationP50'
    | 'durationP99'
    | 'concurrency'
    | 'memoryUsed'
    | 'memorySize'
    | 'inFlight'
    | 'depth'
    | 'age'
    | 'deadLetters',
    GraphWidget
  >;
  readonly #agentErrorRatePercent: number;
  readonly #mobius: ReturnType<typeof emfMetric>;
  /** Queues already on the dashboard: replicas sharing one show it once, with one alarm. */
  readonly #watchedQueues = new Set<IQueue>();

  constructor(scope: Construct, id: string, props: MonitoringProps) {
    super(scope, id);
    this.#agentErrorRatePercent = props.agentErrorRatePercent ?? 5;
    const namespace = metricsNamespaceOf(this);
    const mobius = emfMetric(namespace);
    this.#mobius = mobius;
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
          // Cancelled by an operator: not failures, and outside the failure-rate alarm.
          mobius('CoordinationsCancelled', 'mobius-api', 'Sum'),
        ],
      }),
      new SingleValueWidget({
        title: 'Fleet health (last sweep)',
        width: 12,
        metrics: [
          'AgentsInitializing',
          'AgentsHealthy',
          'AgentsDegraded',
          'AgentsUnhealthy',
          'AgentsDraining',
          'AgentsDrained',
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
      durationP50: agentGraph('Agent duration p50 (ms)'),
      durationP99: agentGraph('Agent duration p99 (ms)'),
      concurrency: agentGraph('Agent concurrent executions (max)'),
      // The agent SDK's own figures (EMF): Lambda Insights is opt-in, and Lambda's REPORT line is
      // in the logs, not in CloudWatch metrics.
      memoryUsed: agentGraph('Agent memory used (MB, max, from the SDK)'),
      memorySize: agentGraph('Agent memory size (MB)'),
      inFlight: agentGraph('Agent work in flight (max, from the SDK)'),
    };
    const w = this.#agentWidgets;
    this.dashboard.addWidgets(w.invocations, w.errors, w.throttles);
    this.dashboard.addWidgets(w.durationP50, w.durationP99, w.concurrency);
    this.dashboard.addWidgets(w.memoryUsed, w.memorySize, w.inFlight);
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

  /**
   * Adds an agent's lines to the dashboard — invocations, errors, throttles, duration p50/p99,
   * concurrent executions, the SDK's memory and in-flight figures, its queue — and its alarms:
   * dead letters, error rate. A queue shared by replicas is drawn and alarmed once.
   */
  addAgent(agent: IAgentTarget): void {
    const w = this.#agentWidgets;
    const label = { label: agent.agentId };
    const fn = agent.function;
    w.invocations.addLeftMetric(fn.metricInvocations(label));
    w.errors.addLeftMetric(fn.metricErrors(label));
    w.throttles.addLeftMetric(fn.metricThrottles(label));
    w.durationP50.addLeftMetric(fn.metricDuration({ ...label, statistic: 'p50' }));
    w.durationP99.addLeftMetric(fn.metricDuration({ ...label, statistic: 'p99' }));
    w.concurrency.addLeftMetric(
      fn.metric('ConcurrentExecutions', { ...label, statistic: 'Maximum' }),
    );
    // Published by the agent SDK with its service (the agent id) and an agentId dimension.
    const sdk = (metricName: string) =>
      this.#mobius(metricName, agent.agentId, 'Maximum', { agentId: agent.agentId }).with(label);
    w.memoryUsed.addLeftMetric(sdk(AGENT_SDK_METRICS.memoryUsed));
    w.memorySize.addLeftMetric(sdk(AGENT_SDK_METRICS.memorySize));
    w.inFlight.addLeftMetric(sdk(AGENT_SDK_METRICS.inFlight));
    this.alarms.push(
      new Alarm(this, `${agent.node.id}ErrorRate`, {
        alarmDescription: `Agent ${agent.agentId} fails more than ${this.#agentErrorRatePercent}% of its invocations.`,
        metric: new MathExpression({
          expression: 'IF(invocations > 0, 100 * errors / invocations, 0)',
          usingMetrics: {
            invocations: fn.metricInvocations({ period: FIVE_MINUTES }),
            errors: fn.metricErrors({ period: FIVE_MINUTES }),
          },
          period: FIVE_MINUTES,
        }),
        threshold: this.#agentErrorRatePercent,
        evaluationPeriods: 1,
        comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
        treatMissingData: TreatMissingData.NOT_BREACHING,
      }),
    );
    if (this.#watchedQueues.has(agent.queue)) return;
    this.#watchedQueues.add(agent.queue);
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
    );
  }

  /**
   * The API on the dashboard — API Gateway's latency p50/p99 and 4XX/5XX, the API function's
   * throttles — and an alarm when its function is throttled: behind the proxy integration a Lambda
   * throttle reaches the caller as a gateway 500, not the API's 503 (see MobiusApi's
   * reservedConcurrency and throttle).
   */
  watchApi(api: { readonly api: RestApiBase; readonly function: IFunction }): Alarm {
    const minute = (statistic: string, label: string) => ({
      statistic,
      label,
      period: Duration.minutes(1),
    });
    const throttles = api.function.metricThrottles({ period: FIVE_MINUTES, statistic: 'Sum' });
    this.dashboard.addWidgets(
      new GraphWidget({
        title: 'API latency (ms)',
        width: 8,
        left: [
          api.api.metricLatency(minute('p50', 'p50')),
          api.api.metricLatency(minute('p99', 'p99')),
        ],
      }),
      new GraphWidget({
        title: 'API errors',
        width: 8,
        left: [
          api.api.metricServerError(minute('Sum', '5XX')),
          api.api.metricClientError(minute('Sum', '4XX')),
        ],
      }),
      new GraphWidget({
        title: 'API function throttles and concurrency',
        width: 8,
        left: [api.function.metricThrottles({ label: 'throttles', statistic: 'Sum' })],
        right: [
          api.function.metric('ConcurrentExecutions', {
            label: 'concurrent executions (max)',
            statistic: 'Maximum',
          }),
        ],
      }),
    );
    const alarm = new Alarm(this, 'ApiFunctionThrottled', {
      alarmDescription:
        'Lambda throttled the API function (reserved concurrency or the account pool): callers got a ' +
        'gateway 500 instead of 503. Keep the stage throttle below what the function may run.',
      metric: throttles,
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: TreatMissingData.NOT_BREACHING,
    });
    this.alarms.push(alarm);
    return alarm;
  }
}

/**
 * Names of the utilisation metrics the agent SDK publishes (EMF, the stack's namespace, dimensions
 * `service` and `agentId` both the agent's id), which the dashboard draws.
 */
export const AGENT_SDK_METRICS = {
  inFlight: 'AgentInFlight',
  memoryUsed: 'AgentMemoryUsedMB',
  memorySize: 'AgentMemorySizeMB',
} as const;
