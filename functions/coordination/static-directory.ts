import { NotFoundError } from '../core/errors.ts';
import {
  type AgentCard,
  type AgentCardInput,
  agentCardSchema,
  cardFieldsOf,
} from '../core/model/agent-card.ts';
import type { AgentRecord } from '../core/registry/agent-registry.ts';
import {
  buildMatch,
  compareMatches,
  type DiscoveryMatch,
  discoveryQuerySchema,
  matchingAll,
  selectorScore,
} from '../core/registry/discovery.ts';
import { idleMetrics } from '../core/registry/metrics.ts';
import { parseWith } from '../core/validation.ts';
import type { AgentDirectory } from './planner.ts';

/**
 * A directory of known cards, every agent healthy: what the CDK app plans declared workflows
 * against at synth time, so the machines it deploys are the ones runs will look for. Matching and
 * ranking are the registry's own (discovery.ts); only the data source differs.
 */
export class StaticDirectory implements AgentDirectory {
  readonly #cards: Map<string, AgentCard>;

  /**
   * For planning shapes only (synth time, `mobius compile`): agent definitions without deployed
   * endpoints get placeholder ones. A compiled machine never holds an endpoint, so the placeholders
   * never leave the plan.
   */
  static forShapes(
    definitions: readonly (Omit<AgentCardInput, 'endpoint'> & { readonly handler?: unknown })[],
  ): StaticDirectory {
    return new StaticDirectory(
      definitions.map(cardFieldsOf).map((card) => ({
        ...card,
        endpoint: {
          lambdaArn: `arn:aws:lambda:us-east-1:000000000000:function:${card.agentId}`,
          queueUrl: `https://sqs.us-east-1.amazonaws.com/000000000000/${card.agentId}`,
          queueArn: `arn:aws:sqs:us-east-1:000000000000:${card.agentId}`,
        },
      })),
    );
  }

  constructor(cards: readonly AgentCardInput[]) {
    this.#cards = new Map(
      cards.map((card) => {
        const parsed = parseWith(agentCardSchema, card, `agent card ${card.agentId}`);
        return [parsed.agentId, parsed];
      }),
    );
  }

  async get(agentId: string): Promise<AgentRecord> {
    const card = this.#cards.get(agentId);
    if (card === undefined)
      throw new NotFoundError(`No agent ${agentId} in this stack.`, { agentId });
    const now = new Date().toISOString();
    return {
      card,
      status: 'healthy',
      metrics: idleMetrics(now, card.maxConcurrency),
      circuit: { state: 'closed', consecutiveFailures: 0, openedAt: null },
      registeredAt: now,
      updatedAt: now,
      expiresAt: now,
    };
  }

  async getMany(agentIds: readonly string[]): Promise<Map<string, AgentRecord>> {
    const found = new Map<string, AgentRecord>();
    for (const id of agentIds) if (this.#cards.has(id)) found.set(id, await this.get(id));
    return found;
  }

  async discover(input: unknown): Promise<DiscoveryMatch[]> {
    const query = parseWith(discoveryQuerySchema, input, 'discovery query');
    const cards = [...this.#cards.values()].filter(
      (c) => query.agentType === undefined || c.agentType === query.agentType,
    );
    const matchedByAgent = matchingAll(
      query.selectors,
      query.selectors.map((selector) =>
        cards.flatMap((card) =>
          card.capabilities.flatMap((capability) => {
            const score = selectorScore(selector, capability.name, capability.version);
            return score === null ? [] : [{ agentId: card.agentId, capability, score }];
          }),
        ),
      ),
    );
    return cards
      .flatMap((card): DiscoveryMatch[] => {
        const matched = matchedByAgent.get(card.agentId);
        if (matched === undefined || !query.statuses.includes('healthy')) return [];
        return [
          buildMatch(
            { ...card, capabilityNames: [...new Set(card.capabilities.map((c) => c.name))] },
            matched,
            { status: 'healthy', load: 0, circuit: 'closed' },
          ),
        ];
      })
      .sort(compareMatches)
      .slice(0, query.limit);
  }
}
