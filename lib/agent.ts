import { Annotations, Aws, Duration } from 'aws-cdk-lib';
import {
  type CfnRule,
  type IEventBus,
  Rule,
  RuleTargetInput,
  Schedule,
} from 'aws-cdk-lib/aws-events';
import { LambdaFunction, SqsQueue } from 'aws-cdk-lib/aws-events-targets';
import { Effect, PolicyStatement, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import {
  Alias,
  type Function as FunctionConstruct,
  type IFunction,
  type ILayerVersion,
  type LambdaInsightsVersion,
} from 'aws-cdk-lib/aws-lambda';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import { type IQueue, Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import type { EventPattern } from '../functions/core/messaging/event-pattern.ts';
import { agentQueueNames, QUEUE_SETTINGS } from '../functions/core/messaging/queue-settings.ts';
import {
  broadcastPattern,
  declaredRuleKind,
  declaredSubscriptionsSchema,
  type RuleKind,
  ruleName,
  ruleNamePrefix,
  subscriptionPattern,
} from '../functions/core/messaging/routing-rules.ts';
import { type AgentCardInput, cardFieldsOf } from '../functions/core/model/agent-card.ts';
import { PING_KIND } from '../functions/core/model/task.ts';
import type { AgentDefinition } from '../functions/core/sdk/define-agent.ts';
import { AGENT_ENVIRONMENT } from '../functions/core/sdk/environment.ts';
import { parseWith } from '../functions/core/validation.ts';
import { AgentRegistration } from './agent-registration.ts';
import type { IAgentEngine, IAgentTarget } from './agent-target.ts';
import type { IEventLogTable } from './events-table.ts';
import { mobiusFunction } from './lambda-defaults.ts';
import { eventDeadLetterQueue } from './message-bus.ts';
import type { RegistryTables } from './registry-table.ts';

export interface AgentProps {
  /** The agent's card fields (its defineAgent definition; the handler is not used here). */
  readonly definition: Omit<AgentDefinition, 'handler'> & { readonly handler?: unknown };
  /** Module whose `handler` export is the agent's Lambda entry: absolute, or relative to `projectRoot`. */
  readonly entry: string;
  /**
   * The agent's project: where its package.json is and where bundling resolves its dependencies.
   * @default the directory `cdk synth` runs in
   */
  readonly projectRoot?: string;
  /** The project's lock file. @default the one found in `projectRoot` or above it */
  readonly depsLockFilePath?: string;
  readonly tables: RegistryTables;
  readonly bus: IEventBus;
  /**
   * The coordination event log the agent appends its steps' events and chunks to while it works on
   * a coordination's task (MOBIUS_EVENTS_TABLE; UpdateItem and PutItem on it).
   * @default none: its tasks run, but nobody watching their coordination sees their progress
   *   (MobiusCoordinator passes its own)
   */
  readonly eventsTable?: IEventLogTable;
  /**
   * Response streaming for requests (`POST /messages` with `"stream": true`): a second function
   * is deployed from the same bundle, with MOBIUS_AGENT_ENTRY=streaming (which makes `handler`
   * the SDK's streaming entry of `defineAgent`), the same role, environment, memory, timeout and reserved
   * concurrency, and the card's `endpoint.streamArn` names it. Callers that stream invoke it with
   * InvokeWithResponseStream; everything else still goes to the main function or the queue. The
   * reserved concurrency (`maxConcurrency`) applies to each function: the agent may run up to
   * twice that many invocations at once, half of them streaming.
   * @default false
   */
  readonly streaming?: boolean;
  /** FIFO queue: messages of a conversation are handled in order. @default false */
  readonly ordered?: boolean;
  /** @default 512 */
  readonly memorySize?: number;
  /** @default 30 seconds */
  readonly timeout?: Duration;
  /** Records per invocation from the queue. @default 10 */
  readonly batchSize?: number;
  /** Receives before a message is dead-lettered. @default QUEUE_SETTINGS.maxReceiveCount (5) */
  readonly maxReceiveCount?: number;
  /** Deliver broadcasts (to all, or to a capability the agent holds) to its queue. @default true */
  readonly receiveBroadcasts?: boolean;
  /** Extra environment variables for the handler. */
  readonly environment?: Readonly<Record<string, string>>;
  /** Queue names are `<prefix>-<agentId>` (and `-dlq`); one prefix per deployment. @default 'mobius' */
  readonly queueNamePrefix?: string;
  /**
   * The engine whose machines run this agent: it may invoke the agent and send to its queue, and
   * the agent may answer their task tokens (SendTaskSuccess/Failure/Heartbeat).
   * @default none: call `engine.addAgent(agent)` yourself
   */
  readonly engine?: IAgentEngine;
  /**
   * Where the agent's rules put events they could not deliver to its queue (a standard queue).
   * @default a queue of the agent's own (MobiusCoordinator passes its bus's)
   */
  readonly eventDeadLetterQueue?: IQueue;
  /**
   * Competing consumers: this agent consumes `queue` (another agent's, e.g. an `Agent` of the same
   * type: a replica) instead of a queue of its own, and its card names that queue, so direct
   * messages and standard tasks for any replica go to the one queue and whichever replica is free
   * takes them. It gets no broadcast or subscription rules of its own: the queue owner's deliver
   * each event once, to whichever replica takes it. The queue keeps its owner's settings
   * (visibility timeout, FIFO, maxReceiveCount): give replicas a `timeout` no longer than the owner's.
   * @default a queue of its own
   */
  readonly sharedQueue?: { readonly queue: IQueue; readonly deadLetterQueue: IQueue };
  /**
   * Warm capacity for a hot agent: provisioned concurrency on a `live` alias of the function's
   * current version, `min` environments always initialised, scaled by Application Auto Scaling up
   * to `max` to keep `targetUtilization` (0.1–0.9) of them busy. The alias is what the card names,
   * so the state machines, the router and the health monitor invoke it, and the queue's event
   * source mapping reads into it. Billed while provisioned; at most `maxConcurrency`.
   * @default none: on-demand environments only
   */
  readonly provisionedConcurrency?: ProvisionedConcurrency;
  /**
   * Pings the agent on a schedule of its own (`true`: every 5 minutes), as the health sweep does,
   * so that one execution environment stays initialised between bursts. One: a ping is one
   * invocation, and a burst of N concurrent calls still starts N − 1 environments cold. The
   * health sweep already pings every agent at its interval (a minute by default): this matters
   * when the sweep is slower (`healthCheckInterval`) or the agent must not depend on it. Not with
   * `provisionedConcurrency`, whose environments are kept initialised anyway.
   * @default false
   */
  readonly warm?: boolean | Duration;
  /**
   * Layers for the agent's function, e.g. a Lambda extension. Any external extension makes Lambda
   * send the runtime SIGTERM before it shuts an environment down, which runs the agent's `onStop`
   * (docs/scaling.md, "Graceful shutdown"). @default none
   */
  readonly layers?: readonly ILayerVersion[];
  /**
   * CloudWatch Lambda Insights for the agent's function (its extension layer and the managed
   * policy it writes with): per-invocation memory and CPU figures, billed as Insights, and, being
   * an external extension, SIGTERM at shutdown. @default none
   */
  readonly insightsVersion?: LambdaInsightsVersion;
}

/** Provisioned concurrency on an agent's alias, scaled on utilisation (AgentProps.provisionedConcurrency). */
export interface ProvisionedConcurrency {
  /** Environments kept initialised at all times (≥ 1). */
  readonly min: number;
  /** Most environments auto scaling provisions. @default min (no auto scaling) */
  readonly max?: number;
  /** Share of provisioned environments busy that auto scaling keeps to, 0.1–0.9. @default 0.7 */
  readonly targetUtilization?: number;
}

/** The schedule `warm: true` pings at: well inside the minutes an idle environment is usually kept. */
export const DEFAULT_WARM_INTERVAL = Duration.minutes(5);

/**
 * One Mobius agent: its Lambda (Node.js 22, Arm64, bundled by local esbuild), its SQS queue with a
 * dead-letter queue, the event source mapping with partial batch failures, the grants it needs for
 * the registry and idempotency, a rule delivering broadcasts to its queue, one rule per
 * subscription its definition declares, and its card registered at deploy time. Given its
 * `engine`, the engine may invoke it and the agent may answer task tokens (CoordinationEngine.addAgent).
 *
 * Its card's `maxConcurrency` bounds it on both paths (docs/scaling.md): reserved concurrency on
 * the function, and the event source mapping's maximum concurrency on the queue.
 */
export class Agent extends Construct implements IAgentTarget {
  readonly agentId: string;
  readonly function: FunctionConstruct;
  /** The `live` alias carrying provisioned concurrency, when the agent has some. */
  readonly alias: Alias | undefined;
  /** The response-streaming function (AgentProps.streaming), which the card's streamArn names. */
  readonly streamFunction: FunctionConstruct | undefined;
  /** What the card names and callers invoke: the alias when provisioned, else the function. */
  readonly invokeTarget: IFunction;
  readonly queue: IQueue;
  readonly deadLetterQueue: IQueue;
  /** Whether the queue is another agent's (AgentProps.sharedQueue). */
  readonly sharesQueue: boolean;
  readonly card: AgentCardInput;

  constructor(scope: Construct, id: string, props: AgentProps) {
    super(scope, id);
    const cardFields = cardFieldsOf(props.definition);
    this.agentId = cardFields.agentId;
    // A bad subscription fails the synth with the field named, not the deploy.
    const subscriptions = parseWith(
      declaredSubscriptionsSchema,
      props.definition.subscriptions ?? [],
      `agent ${this.agentId} subscriptions`,
    );
    const provisioned = provisionedSettings(this.agentId, props, cardFields.maxConcurrency);
    const warmEvery = warmInterval(this.agentId, props);
    const timeout = props.timeout ?? Duration.seconds(30);
    this.sharesQueue = props.sharedQueue !== undefined;
    if (props.sharedQueue) {
      const { queue, deadLetterQueue } = props.sharedQueue;
      assertSharable(this.agentId, props, queue);
      this.queue = queue;
      this.deadLetterQueue = deadLetterQueue;
    } else {
      const ordered = props.ordered ?? false;
      const names = agentQueueNames(this.agentId, ordered, props.queueNamePrefix);
      const deadLetterQueue = new Queue(this, 'DeadLetters', {
        queueName: names.deadLetter,
        fifo: ordered || undefined,
        retentionPeriod: Duration.seconds(QUEUE_SETTINGS.deadLetterRetentionSeconds),
        encryption: QueueEncryption.SQS_MANAGED,
        enforceSSL: true,
      });
      this.deadLetterQueue = deadLetterQueue;
      this.queue = new Queue(this, 'Queue', {
        queueName: names.queue,
        fifo: ordered || undefined,
        // EventBridge can target a FIFO queue only with content-based deduplication; the router's
        // own sends carry an explicit deduplication id (the message id), which takes precedence.
        contentBasedDeduplication: ordered || undefined,
        // AWS's guidance for Lambda event sources: at least six times the function timeout.
        visibilityTimeout: Duration.seconds(timeout.toSeconds() * 6),
        retentionPeriod: Duration.seconds(QUEUE_SETTINGS.retentionSeconds),
        deadLetterQueue: {
          queue: deadLetterQueue,
          maxReceiveCount: props.maxReceiveCount ?? QUEUE_SETTINGS.maxReceiveCount,
        },
        encryption: QueueEncryption.SQS_MANAGED,
        enforceSSL: true,
      });
    }
    const ordered = this.queue.fifo;

    const environment = {
      POWERTOOLS_SERVICE_NAME: this.agentId,
      [AGENT_ENVIRONMENT.registryTable]: props.tables.registry.tableName,
      [AGENT_ENVIRONMENT.idempotencyTable]: props.tables.idempotency.tableName,
      [AGENT_ENVIRONMENT.queueUrl]: this.queue.queueUrl,
      [AGENT_ENVIRONMENT.queueArn]: this.queue.queueArn,
      [AGENT_ENVIRONMENT.deadLetterQueueUrl]: this.deadLetterQueue.queueUrl,
      ...(props.eventsTable
        ? { [AGENT_ENVIRONMENT.eventsTable]: props.eventsTable.tableName }
        : {}),
      ...props.environment,
    };
    const settings = {
      entry: props.entry,
      memorySize: props.memorySize ?? 512,
      timeout,
      // The bound on the direct-invoke path: a state machine's invoke past it is throttled
      // (Lambda.TooManyRequestsException), which the compiled Retry backs off and retries and,
      // once spent, hands to the step's fallback.
      ...(cardFields.maxConcurrency === undefined
        ? {}
        : { reservedConcurrentExecutions: cardFields.maxConcurrency }),
      ...(props.layers ? { layers: [...props.layers] } : {}),
      ...(props.insightsVersion ? { insightsVersion: props.insightsVersion } : {}),
    };
    this.function = mobiusFunction(this, 'Function', {
      ...settings,
      description: `Mobius agent ${this.agentId}: ${cardFields.description}`.slice(0, 256),
      environment,
    });
    // The same code and role; MOBIUS_AGENT_ENTRY makes the module's `handler` export the SDK's
    // streaming entry (Lambda's Node.js runtime resolves handlers by export name only).
    this.streamFunction = props.streaming
      ? mobiusFunction(this, 'StreamFunction', {
          ...settings,
          description:
            `Mobius agent ${this.agentId} (response streaming): ${cardFields.description}`.slice(
              0,
              256,
            ),
          environment: { ...environment, [AGENT_ENVIRONMENT.entry]: 'streaming' },
          ...(this.function.role ? { role: this.function.role } : {}),
        })
      : undefined;
    // The main function registers the card: it names the streaming function in it.
    if (this.streamFunction)
      this.function.addEnvironment(AGENT_ENVIRONMENT.streamArn, this.streamFunction.functionArn);
    if (props.definition.onStop !== undefined && !props.layers?.length && !props.insightsVersion)
      Annotations.of(this).addWarningV2(
        'mobius:agent-on-stop-without-extension',
        `Agent ${this.agentId} declares onStop, but Lambda sends SIGTERM (which runs it) only to ` +
          'functions with an extension registered: give the agent layers with an external extension ' +
          'or insightsVersion (docs/scaling.md, "Graceful shutdown"), or onStop never runs on AWS.',
      );
    this.alias =
      provisioned === undefined
        ? undefined
        : new Alias(this, 'Live', {
            aliasName: 'live',
            version: this.function.currentVersion,
            provisionedConcurrentExecutions: provisioned.min,
          });
    if (this.alias && provisioned && provisioned.max > provisioned.min) {
      this.alias
        .addAutoScaling({ minCapacity: provisioned.min, maxCapacity: provisioned.max })
        .scaleOnUtilization({ utilizationTarget: provisioned.targetUtilization });
    }
    this.invokeTarget = this.alias ?? this.function;
    this.invokeTarget.addEventSource(
      new SqsEventSource(this.queue, {
        batchSize: props.batchSize ?? 10,
        reportBatchItemFailures: true,
        // The bound on the queue path: the mapping stops reading at this many invocations, so
        // excess messages wait in the queue instead of being read, throttled and counted as a
        // receive towards the dead-letter queue. Lambda takes 2 at least: with maxConcurrency 1
        // the reserved concurrency alone bounds it (docs/scaling.md says what that costs).
        ...(cardFields.maxConcurrency !== undefined &&
        cardFields.maxConcurrency >= MIN_EVENT_SOURCE_CONCURRENCY
          ? { maxConcurrency: Math.min(cardFields.maxConcurrency, MAX_EVENT_SOURCE_CONCURRENCY) }
          : {}),
      }),
    );
    // One role for both functions: these grants cover the streaming function too.
    props.tables.grantRegistryReadWrite(this.function);
    props.tables.grantIdempotency(this.function);
    props.eventsTable?.grantAppend(this.function);
    this.deadLetterQueue.grantSendMessages(this.function);

    this.card = {
      ...cardFields,
      endpoint: {
        lambdaArn: this.invokeTarget.functionArn,
        ...(this.streamFunction ? { streamArn: this.streamFunction.functionArn } : {}),
        queueUrl: this.queue.queueUrl,
        queueArn: this.queue.queueArn,
      },
    };
    new AgentRegistration(this, 'Registration', { tables: props.tables, card: this.card });

    const capabilities = [...new Set(cardFields.capabilities.map((c) => c.name))];
    // One queue for all of the agent's rules, made only if a rule needs it and none was given.
    let undelivered = props.eventDeadLetterQueue;
    const undeliverable = (): IQueue => {
      undelivered ??= eventDeadLetterQueue(this, 'UndeliveredEvents');
      return undelivered;
    };
    if (warmEvery !== undefined) {
      new Rule(this, 'Warm', {
        description: `Keeps one environment of agent ${this.agentId} initialised`,
        schedule: Schedule.rate(warmEvery),
        targets: [
          new LambdaFunction(this.invokeTarget, {
            // The health sweep's ping: the SDK answers it with a heartbeat, not the handler.
            event: RuleTargetInput.fromObject({ kind: PING_KIND }),
            retryAttempts: 0,
            deadLetterQueue: undeliverable(),
          }),
        ],
      });
    }
    const deliver = (id: string, kind: RuleKind, description: string, pattern: EventPattern) => {
      const rule = new Rule(this, id, {
        eventBus: props.bus,
        ruleName: ruleName(this.agentId, kind),
        description,
        eventPattern: { source: ['mobius'] },
        targets: [
          new SqsQueue(this.queue, {
            ...(ordered ? { messageGroupId: `mobius-${kind}` } : {}),
            deadLetterQueue: undeliverable(),
          }),
        ],
      });
      // The exact pattern the router and the embedded runtime use ($or is beyond the typed L2 props).
      (rule.node.defaultChild as CfnRule).eventPattern = pattern;
    };
    // A replica takes its share of what the queue owner's rules deliver: rules of its own would
    // put a second copy of each event into the same queue.
    if (!this.sharesQueue && (props.receiveBroadcasts ?? true)) {
      deliver(
        'Broadcasts',
        'broadcast',
        `Broadcasts for agent ${this.agentId}`,
        broadcastPattern(capabilities),
      );
    }
    if (!this.sharesQueue) {
      subscriptions.forEach((subscription, index) => {
        deliver(
          `Subscription${index + 1}`,
          declaredRuleKind(index),
          `Events ${subscription.eventTypes.join(', ')} for agent ${this.agentId}`.slice(0, 512),
          subscriptionPattern(
            subscription.eventTypes,
            capabilities,
            subscription.filter as EventPattern | undefined,
          ),
        );
      });
    }
    // Rules the router creates at run time (MessageRouter.subscribe) are named with the agent's
    // rule prefix on this bus; admitting exactly those lets them deliver without a policy change.
    this.queue.addToResourcePolicy(
      new PolicyStatement({
        // One statement per agent on a shared queue (an imported queue takes none: its owner's policy says).
        sid: this.sharesQueue
          ? `RulesOf${this.agentId.replace(/[^A-Za-z0-9]/g, '')}`
          : 'AgentRulesOnTheMobiusBus',
        effect: Effect.ALLOW,
        principals: [new ServicePrincipal('events.amazonaws.com')],
        actions: ['sqs:SendMessage'],
        resources: [this.queue.queueArn],
        conditions: {
          ArnLike: {
            'aws:SourceArn': `arn:${Aws.PARTITION}:events:${Aws.REGION}:${Aws.ACCOUNT_ID}:rule/${props.bus.eventBusName}/${ruleNamePrefix(this.agentId)}*`,
          },
        },
      }),
    );
    props.engine?.addAgent(this);
  }
}

/** Lambda's bounds on an SQS event source mapping's maximum concurrency. */
const MIN_EVENT_SOURCE_CONCURRENCY = 2;
const MAX_EVENT_SOURCE_CONCURRENCY = 1000;

/** `provisionedConcurrency` with its defaults, refused at synth when Lambda would refuse it at deploy. */
function provisionedSettings(
  agentId: string,
  props: AgentProps,
  maxConcurrency: number | undefined,
): Required<ProvisionedConcurrency> | undefined {
  const given = props.provisionedConcurrency;
  if (given === undefined) return undefined;
  const field = `agent ${agentId} provisionedConcurrency`;
  const { min, max = given.min, targetUtilization = 0.7 } = given;
  if (!(Number.isInteger(min) && min >= 1))
    throw new RangeError(`${field}.min must be a whole number ≥ 1; got ${min}`);
  if (!(Number.isInteger(max) && max >= min))
    throw new RangeError(`${field}.max must be a whole number ≥ min (${min}); got ${max}`);
  if (maxConcurrency !== undefined && max > maxConcurrency)
    throw new RangeError(
      `${field}.max (${max}) exceeds the card's maxConcurrency (${maxConcurrency}), the function's ` +
        'reserved concurrency: Lambda cannot provision more than it may run. Lower max or raise maxConcurrency.',
    );
  if (!(targetUtilization >= 0.1 && targetUtilization <= 0.9))
    throw new RangeError(
      `${field}.targetUtilization must be between 0.1 and 0.9; got ${targetUtilization}`,
    );
  if (props.warm !== undefined && props.warm !== false)
    throw new RangeError(
      `agent ${agentId}: warm and provisionedConcurrency together — provisioned environments are ` +
        'kept initialised already, and pings would take them from real work. Drop warm.',
    );
  return { min, max, targetUtilization };
}

/** How often `warm` pings the agent, or undefined when it does not. */
function warmInterval(agentId: string, props: AgentProps): Duration | undefined {
  const { warm } = props;
  if (warm === undefined || warm === false) return undefined;
  const every = warm === true ? DEFAULT_WARM_INTERVAL : warm;
  const minutes = every.toMinutes({ integral: false });
  if (!(Number.isInteger(minutes) && minutes >= 1))
    throw new RangeError(
      `agent ${agentId} warm must be a whole number of minutes ≥ 1 (EventBridge schedules run at ` +
        `most once a minute); got ${every.toHumanString()}`,
    );
  return every;
}

/** Settings that belong to a queue's owner cannot be set by an agent that shares it. */
function assertSharable(agentId: string, props: AgentProps, queue: IQueue): void {
  const field = `agent ${agentId}`;
  if (props.maxReceiveCount !== undefined)
    throw new RangeError(
      `${field}: maxReceiveCount is set on the shared queue by its owner; drop it from the agent sharing it.`,
    );
  if (props.ordered !== undefined && props.ordered !== queue.fifo)
    throw new RangeError(
      `${field}: ordered is ${props.ordered}, but the shared queue is ${queue.fifo ? '' : 'not '}FIFO; ` +
        'a replica takes its ordering from the queue it shares (drop ordered).',
    );
}
