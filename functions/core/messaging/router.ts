import type { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import type { LambdaClient } from '@aws-sdk/client-lambda';
import type { SQSClient } from '@aws-sdk/client-sqs';
import { sharedEventBridgeClient } from '../aws/eventbridge.ts';
import { sharedLambdaClient } from '../aws/lambda.ts';
import { sharedSqsClient } from '../aws/sqs.ts';
import { type Clock, systemClock } from '../clock.ts';
import type { AgentRegistry } from '../registry/agent-registry.ts';
import { Broadcaster } from './broadcast.ts';
import {
  type BatchReport,
  DirectDelivery,
  type ReplyStream,
  type RequestStreamOptions,
  type SendReceipt,
} from './direct.ts';
import type { Envelope } from './envelope.ts';
import { Recipients } from './recipients.ts';
import type { ReplyListener } from './reply-listener.ts';
import type { RuleKind, Subscription } from './routing-rules.ts';
import { Subscriptions } from './subscriptions.ts';

export type {
  BatchReport,
  ReplyStream,
  RequestStreamOptions,
  SendReceipt,
  StreamedReply,
} from './direct.ts';

export interface MessageRouterOptions {
  readonly registry: AgentRegistry;
  readonly eventBusName: string;
  readonly sqs?: SQSClient;
  readonly eventBridge?: EventBridgeClient;
  readonly lambda?: LambdaClient;
  /** Receives answers to asynchronous requests; required only for `request(..., { via: 'queue' })`. */
  readonly replies?: ReplyListener;
  readonly clock?: Clock;
}

/**
 * Routes messages: direct delivery to an agent's SQS queue and request-response (direct.ts),
 * broadcasts and events over EventBridge (broadcast.ts), and the rules that deliver them
 * (subscriptions.ts). Delivery failures and synchronous outcomes feed the registry's metrics and
 * circuit breaker (recipients.ts); queue-delivered messages are recorded by the agent that handles
 * them (see defineAgent). This class only wires those parts to one set of clients.
 */
export class MessageRouter {
  readonly #direct: DirectDelivery;
  readonly #broadcaster: Broadcaster;
  readonly #subscriptions: Subscriptions;

  constructor(options: MessageRouterOptions) {
    const eventBridge = options.eventBridge ?? sharedEventBridgeClient();
    this.#direct = new DirectDelivery({
      recipients: new Recipients(options.registry),
      sqs: options.sqs ?? sharedSqsClient(),
      lambda: options.lambda ?? sharedLambdaClient(),
      replies: options.replies,
      clock: options.clock ?? systemClock,
    });
    this.#broadcaster = new Broadcaster(eventBridge, options.eventBusName);
    this.#subscriptions = new Subscriptions(options.registry, eventBridge, options.eventBusName);
  }

  /** Sends one message to its recipient's queue (see DirectDelivery.send). */
  send(input: unknown): Promise<SendReceipt> {
    return this.#direct.send(input);
  }

  /** Sends many messages, grouped by queue; returns what could not be sent. */
  sendBatch(inputs: readonly unknown[]): Promise<BatchReport> {
    return this.#direct.sendBatch(inputs);
  }

  /** Sends a request and waits for its response (see DirectDelivery.request). */
  request(input: unknown, options: { via?: 'lambda' | 'queue' } = {}): Promise<Envelope> {
    return this.#direct.request(input, options);
  }

  /**
   * Sends a request and streams the answer: the agent's chunks, then its response (see
   * DirectDelivery.requestStream).
   */
  requestStream(input: unknown, options: RequestStreamOptions = {}): Promise<ReplyStream> {
    return this.#direct.requestStream(input, options);
  }

  /** Publishes broadcasts/events on the bus. */
  publish(inputs: readonly unknown[]): Promise<{ published: number }> {
    return this.#broadcaster.publish(inputs);
  }

  /** Creates (or refreshes) the rule that delivers broadcasts to `agentId`'s queue. */
  ensureBroadcastRule(agentId: string): Promise<string> {
    return this.#subscriptions.ensureBroadcastRule(agentId);
  }

  /** Subscribes `agentId` to event types (see Subscriptions.subscribe). */
  subscribe(agentId: string, input: Subscription, kind: RuleKind = 'events'): Promise<string> {
    return this.#subscriptions.subscribe(agentId, input, kind);
  }

  /** Removes the agent's subscription (and its target); a missing one is not an error. */
  unsubscribe(agentId: string, kind: RuleKind = 'events'): Promise<void> {
    return this.#subscriptions.unsubscribe(agentId, kind);
  }
}
