import { Aws, Duration } from 'aws-cdk-lib';
import { type CfnRule, type IEventBus, Rule } from 'aws-cdk-lib/aws-events';
import { SqsQueue } from 'aws-cdk-lib/aws-events-targets';
import { Effect, PolicyStatement, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import type { Function as FunctionConstruct } from 'aws-cdk-lib/aws-lambda';
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
import type { AgentDefinition } from '../functions/core/sdk/define-agent.ts';
import { AGENT_ENVIRONMENT } from '../functions/core/sdk/environment.ts';
import { parseWith } from '../functions/core/validation.ts';
import { AgentRegistration } from './agent-registration.ts';
import type { IAgentEngine, IAgentTarget } from './agent-target.ts';
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
}

/**
 * One Mobius agent: its Lambda (Node.js 22, Arm64, bundled by local esbuild), its SQS queue with a
 * dead-letter queue, the event source mapping with partial batch failures, the grants it needs for
 * the registry and idempotency, a rule delivering broadcasts to its queue, one rule per
 * subscription its definition declares, and its card registered at deploy time. Given its
 * `engine`, the engine may invoke it and the agent may answer task tokens (CoordinationEngine.addAgent).
 */
export class Agent extends Construct implements IAgentTarget {
  readonly agentId: string;
  readonly function: FunctionConstruct;
  readonly queue: Queue;
  readonly deadLetterQueue: Queue;
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
    const ordered = props.ordered ?? false;
    const timeout = props.timeout ?? Duration.seconds(30);
    const names = agentQueueNames(this.agentId, ordered, props.queueNamePrefix);

    this.deadLetterQueue = new Queue(this, 'DeadLetters', {
      queueName: names.deadLetter,
      fifo: ordered || undefined,
      retentionPeriod: Duration.seconds(QUEUE_SETTINGS.deadLetterRetentionSeconds),
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
    });
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
        queue: this.deadLetterQueue,
        maxReceiveCount: props.maxReceiveCount ?? QUEUE_SETTINGS.maxReceiveCount,
      },
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
    });

    this.function = mobiusFunction(this, 'Function', {
      entry: props.entry,
      description: `Mobius agent ${this.agentId}: ${cardFields.description}`.slice(0, 256),
      memorySize: props.memorySize ?? 512,
      timeout,
      environment: {
        POWERTOOLS_SERVICE_NAME: this.agentId,
        [AGENT_ENVIRONMENT.registryTable]: props.tables.registry.tableName,
        [AGENT_ENVIRONMENT.idempotencyTable]: props.tables.idempotency.tableName,
        [AGENT_ENVIRONMENT.queueUrl]: this.queue.queueUrl,
        [AGENT_ENVIRONMENT.queueArn]: this.queue.queueArn,
        [AGENT_ENVIRONMENT.deadLetterQueueUrl]: this.deadLetterQueue.queueUrl,
        ...props.environment,
      },
      ...(cardFields.maxConcurrency === undefined
        ? {}
        : { reservedConcurrentExecutions: cardFields.maxConcurrency }),
    });
    this.function.addEventSource(
      new SqsEventSource(this.queue, {
        batchSize: props.batchSize ?? 10,
        reportBatchItemFailures: true,
      }),
    );
    props.tables.grantRegistryReadWrite(this.function);
    props.tables.grantIdempotency(this.function);
    this.deadLetterQueue.grantSendMessages(this.function);

    this.card = {
      ...cardFields,
      endpoint: {
        lambdaArn: this.function.functionArn,
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
    if (props.receiveBroadcasts ?? true) {
      deliver(
        'Broadcasts',
        'broadcast',
        `Broadcasts for agent ${this.agentId}`,
        broadcastPattern(capabilities),
      );
    }
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
    // Rules the router creates at run time (MessageRouter.subscribe) are named with the agent's
    // rule prefix on this bus; admitting exactly those lets them deliver without a policy change.
    this.queue.addToResourcePolicy(
      new PolicyStatement({
        sid: 'AgentRulesOnTheMobiusBus',
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
