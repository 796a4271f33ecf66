import {
  DeleteRuleCommand,
  type EventBridgeClient,
  PutRuleCommand,
  PutTargetsCommand,
  RemoveTargetsCommand,
  ResourceNotFoundException,
} from '@aws-sdk/client-eventbridge';
import { ValidationError } from '../errors.ts';
import { type AgentCard, isFifoEndpoint } from '../model/agent-card.ts';
import type { AgentRegistry } from '../registry/agent-registry.ts';
import { parseWith } from '../validation.ts';
import type { EventPattern } from './event-pattern.ts';
import {
  broadcastPattern,
  type RuleKind,
  ruleName,
  type Subscription,
  subscriptionPattern,
  subscriptionSchema,
} from './routing-rules.ts';

/**
 * The bus rules that deliver broadcasts and events to an agent's queue: its broadcast rule, and
 * its subscriptions (declared ones and the run-time one). Patterns come from routing-rules.ts.
 */
export class Subscriptions {
  readonly #registry: AgentRegistry;
  readonly #eventBridge: EventBridgeClient;
  readonly #eventBusName: string;

  constructor(registry: AgentRegistry, eventBridge: EventBridgeClient, eventBusName: string) {
    this.#registry = registry;
    this.#eventBridge = eventBridge;
    this.#eventBusName = eventBusName;
  }

  /** Creates (or refreshes) the rule that delivers broadcasts to `agentId`'s queue. */
  async ensureBroadcastRule(agentId: string): Promise<string> {
    const { card } = await this.#registry.get(agentId);
    return this.#putRule(card, 'broadcast', broadcastPattern(capabilityNames(card)));
  }

  /**
   * Subscribes `agentId` to event types: one rule on the bus targeting its queue. `kind` names the
   * rule: `events` (default) is the agent's run-time subscription, replaced by the next call;
   * `sub<n>` are the subscriptions declared in its definition (see declaredRuleKind).
   */
  async subscribe(
    agentId: string,
    input: Subscription,
    kind: RuleKind = 'events',
  ): Promise<string> {
    const subscription = parseWith(subscriptionSchema, input, 'subscription');
    const { card } = await this.#registry.get(agentId);
    const pattern = subscriptionPattern(
      subscription.eventTypes,
      capabilityNames(card),
      subscription.filter as EventPattern | undefined,
    );
    return this.#putRule(card, kind, pattern);
  }

  /** Removes the agent's subscription (and its target); a missing one is not an error. */
  async unsubscribe(agentId: string, kind: RuleKind = 'events'): Promise<void> {
    const name = ruleName(agentId, kind);
    try {
      await this.#eventBridge.send(
        new RemoveTargetsCommand({
          Rule: name,
          EventBusName: this.#eventBusName,
          Ids: ['agent-queue'],
        }),
      );
      await this.#eventBridge.send(
        new DeleteRuleCommand({ Name: name, EventBusName: this.#eventBusName }),
      );
    } catch (error) {
      if (!(error instanceof ResourceNotFoundException)) throw error;
    }
  }

  async #putRule(card: AgentCard, kind: RuleKind, pattern: EventPattern): Promise<string> {
    const queueArn = card.endpoint.queueArn;
    if (queueArn === undefined) {
      throw new ValidationError('subscription', [
        {
          path: 'agentId',
          message: `agent ${card.agentId} has no queueArn in its card; events are delivered to queues`,
        },
      ]);
    }
    const name = ruleName(card.agentId, kind);
    await this.#eventBridge.send(
      new PutRuleCommand({
        Name: name,
        EventBusName: this.#eventBusName,
        EventPattern: JSON.stringify(pattern),
        State: 'ENABLED',
        Description: `Mobius ${kind} for agent ${card.agentId}`,
      }),
    );
    await this.#eventBridge.send(
      new PutTargetsCommand({
        Rule: name,
        EventBusName: this.#eventBusName,
        Targets: [
          {
            Id: 'agent-queue',
            Arn: queueArn,
            ...(isFifoEndpoint(card.endpoint)
              ? { SqsParameters: { MessageGroupId: `mobius-${kind}` } }
              : {}),
          },
        ],
      }),
    );
    return name;
  }
}

function capabilityNames(card: AgentCard): string[] {
  return [...new Set(card.capabilities.map((c) => c.name))];
}
