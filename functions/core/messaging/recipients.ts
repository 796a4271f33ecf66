import { NoAgentAvailableError, NotFoundError, ValidationError } from '../errors.ts';
import { type AgentCard, isFifoEndpoint } from '../model/agent-card.ts';
import type { AgentRecord, AgentRegistry } from '../registry/agent-registry.ts';
import { type Envelope, negotiateProtocol, offeredVersions } from './envelope.ts';

export type Recipient = AgentRecord;

/**
 * What every delivery to one agent asks of the registry: who the recipient is, whether it takes new
 * work (not while drained), whether its breaker lets the message through, which protocol version it gets, and the outcome afterwards. Shared by
 * direct sends and request-response (direct.ts); broadcasts go through the bus instead.
 */
export class Recipients {
  readonly #registry: AgentRegistry;

  constructor(registry: AgentRegistry) {
    this.#registry = registry;
  }

  /**
   * Feeds metrics and the breaker. Bookkeeping never replaces the delivery's own result or error:
   * a failed write is logged, and an agent deregistered meanwhile has nothing left to record.
   */
  async record(agentId: string, ok: boolean, latencyMs: number): Promise<void> {
    try {
      await this.#registry.recordOutcome(agentId, { ok, latencyMs });
    } catch (error) {
      if (!(error instanceof NotFoundError))
        console.warn(`mobius: could not record the outcome for ${agentId}: ${String(error)}`);
    }
  }

  /** The recipient's registry record; nothing is claimed yet (see admit). */
  async lookup(message: Envelope): Promise<Recipient> {
    return this.#registry.get(recipientId(message));
  }

  /**
   * Refuses new work for an agent an operator drained (NoAgentAvailableError, 503), as planning
   * and discovery pass it over: a request, an event or any other message it has not asked for is
   * new work. A response is not: it answers a request the agent sent, and a drained agent finishes
   * what it has. Messages already in its queue are its own to handle; this only stops new ones.
   * Asked before the breaker, so a refused message claims no probe.
   */
  takesMessage(recipient: Recipient, message: Envelope): void {
    if (recipient.status !== 'drained' || message.type === 'response') return;
    const agentId = recipient.card.agentId;
    const drained = recipient.drained;
    const by = drained === undefined ? '' : ` (${drained.by}, at ${drained.at})`;
    throw new NoAgentAvailableError(
      `Agent ${agentId} is drained: an operator${by} took it out of service, so it takes no new work until resumed (POST /agents/${agentId}/resume, or mobius agent resume ${agentId}); messages already in its queue are still handled.`,
      {
        agentId,
        status: 'drained',
        reason: 'drained',
        ...(drained === undefined ? {} : { drainedAt: drained.at, drainedBy: drained.by }),
      },
    );
  }

  /**
   * The breaker's say, asked last, once the message is known to be sendable: closed lets it
   * through; after the cool-down this caller must win the half-open probe; otherwise
   * NoAgentAvailableError.
   */
  async admit(recipient: Recipient): Promise<void> {
    const { card, circuit } = recipient;
    if (circuit.state === 'closed' || (await this.#registry.tryAcquire(card.agentId))) return;
    // Not the consecutive-failure count: outcomes recorded while the breaker cools down (queued
    // messages still being handled) move it, so it no longer says why the breaker opened.
    const since = circuit.openedAt === null ? '' : ` since ${circuit.openedAt}`;
    const why =
      circuit.state === 'half_open'
        ? 'its circuit breaker is half-open and another request is the probe'
        : `its circuit breaker has been open${since} after repeated failures; once the cool-down has passed, one message is let through as a probe`;
    throw new NoAgentAvailableError(`Agent ${card.agentId} is not accepting messages: ${why}.`, {
      agentId: card.agentId,
      circuit,
    });
  }

  /**
   * The message, re-stamped with the highest protocol version both sides speak: the router offers
   * every version of the protocol it knows up to the message's own (see offeredVersions).
   */
  negotiated(message: Envelope, card: AgentCard): Envelope {
    const version = negotiateProtocol(
      message.protocol.name,
      offeredVersions(message.protocol),
      card,
    );
    return version === message.protocol.version
      ? message
      : { ...message, protocol: { ...message.protocol, version } };
  }
}

export function recipientId(message: Envelope): string {
  if (typeof message.to !== 'string') {
    throw new ValidationError('message', [
      { path: 'to', message: 'direct messages go to one agent id; publish broadcasts instead' },
    ]);
  }

  return message.to;
}

export function queueOf(card: AgentCard): string {
  const queueUrl = card.endpoint.queueUrl;
  if (queueUrl === undefined) {
    throw new ValidationError('message', [
      {
        path: 'to',
        message: `agent ${card.agentId} has no queue; send it a request (synchronous invocation) instead`,
      },
    ]);
  }

  return queueUrl;
}

export function fifoFields(card: AgentCard, message: Envelope) {
  return isFifoEndpoint(card.endpoint)
    ? { MessageGroupId: message.conversationId, MessageDeduplicationId: message.messageId }
    : {};
}

/**
 * The agent's endpoint is gone (its queue deleted, its function removed) or its card names one that
 * never existed: the agent cannot be reached, which is a 503 naming it and the endpoint, and which
 * the caller has already recorded as the agent's failure.
 */
export function unreachable(
  agentId: string,
  endpoint: { queueUrl: string } | { lambdaArn: string },
  cause: Error,
): NoAgentAvailableError {
  const [kind, address] =
    'queueUrl' in endpoint ? ['queue', endpoint.queueUrl] : ['Lambda function', endpoint.lambdaArn];
  return new NoAgentAvailableError(
    `Agent ${agentId} is unreachable: its ${kind} ${address} does not exist. Deploy the agent again, or register it with its current endpoint.`,
    { agentId, ...endpoint },
    { cause },
  );
}
