import semverCompare from 'semver/functions/compare.js';
import semverGt from 'semver/functions/gt.js';
import semverSatisfies from 'semver/functions/satisfies.js';
import * as z from 'zod';
import { type AgentEndpoint, type Capability, identifierSchema } from '../model/agent-card.ts';
import {
  type AgentStatus,
  agentStatusSchema,
  type CircuitState,
  STATUS_RANK,
} from '../model/agent-status.ts';
import { semverRangeSchema } from '../model/semver-range.ts';
import { DEFAULT_MIN_FUZZY_SCORE, fuzzyScore } from './fuzzy.ts';

export const capabilitySelectorSchema = z.strictObject({
  name: z.string().min(1, 'name the capability to look for').max(128),
  /** A semver range the capability's version must satisfy; any version when omitted. */
  version: semverRangeSchema.optional(),
  match: z.enum(['exact', 'fuzzy']).default('exact'),
  /** Fuzzy only: the lowest score that counts as a match (see fuzzy.ts). */
  minScore: z.number().min(0).max(1).default(DEFAULT_MIN_FUZZY_SCORE),
});

export type CapabilitySelector = z.output<typeof capabilitySelectorSchema>;
export type CapabilitySelectorInput = z.input<typeof capabilitySelectorSchema>;

/**
 * A discovery query. Either the shorthand `{ capability, version?, match? }` for one capability, or
 * `capabilities: [...]` for agents holding all of several. Only healthy agents are returned unless
 * `statuses` says otherwise; agents whose circuit is open are never returned.
 */
export const discoveryQuerySchema = z
  .strictObject({
    capability: z.string().min(1).max(128).optional(),
    version: semverRangeSchema.optional(),
    match: z.enum(['exact', 'fuzzy']).optional(),
    minScore: z.number().min(0).max(1).optional(),
    capabilities: z
      .array(capabilitySelectorSchema)
      .min(1, 'list at least one capability')
      .max(10, 'at most 10 capabilities in one all-of query')
      .optional(),
    statuses: z.array(agentStatusSchema).min(1).default(['healthy']),
    agentType: identifierSchema.optional(),
    limit: z.int().min(1).max(1000).default(25),
  })
  .superRefine((query, ctx) => {
    if ((query.capability === undefined) === (query.capabilities === undefined)) {
      ctx.addIssue({
        code: 'custom',
        path: ['capability'],
        message:
          'give either "capability" (one) or "capabilities" (all of several), not both or neither',
      });
    }
    if (query.capabilities !== undefined) {
      for (const key of ['version', 'match', 'minScore'] as const) {
        if (query[key] !== undefined) {
          ctx.addIssue({
            code: 'custom',
            path: [key],
            message: `"${key}" goes inside each entry of "capabilities"`,
          });
        }
      }
    }
  })
  .transform((query) => ({
    selectors: query.capabilities ?? [
      capabilitySelectorSchema.parse({
        name: query.capability,
        version: query.version,
        match: query.match,
        minScore: query.minScore,
      }),
    ],
    statuses: query.statuses,
    agentType: query.agentType,
    limit: query.limit,
  }));

export type DiscoveryQueryInput = z.input<typeof discoveryQuerySchema>;
export type DiscoveryQuery = z.output<typeof discoveryQuerySchema>;

export interface CapabilityMatch {
  /** The selector's name, as asked. */
  readonly requested: string;
  readonly capability: Capability;
  /** 1 for an exact match, the fuzzy score otherwise. */
  readonly score: number;
}

export interface DiscoveryMatch {
  readonly agentId: string;
  readonly agentType: string;
  readonly description: string;
  /** The weakest of the per-capability scores. */
  readonly score: number;
  /** The lowest priority among the matched capabilities. */
  readonly priority: number;
  readonly status: AgentStatus;
  /** inFlight / maxConcurrency, or inFlight when the card sets no maxConcurrency. */
  readonly load: number;
  readonly circuit: CircuitState;
  readonly endpoint: AgentEndpoint;
  /** Every capability the agent declares, by name. */
  readonly capabilities: readonly string[];
  readonly matched: readonly CapabilityMatch[];
}

/** Score of `capabilityName`/`version` against one selector, or null when it is not a match. */
export function selectorScore(
  selector: CapabilitySelector,
  name: string,
  version: string,
): number | null {
  if (selector.version !== undefined && !semverSatisfies(version, selector.version)) return null;
  if (selector.match === 'exact') return name === selector.name ? 1 : null;
  const score = fuzzyScore(selector.name, name);
  return score >= selector.minScore ? score : null;
}

/**
 * Best match per agent for one selector: if an agent declares several versions of a capability,
 * the best-scoring, then highest version, then highest priority one stands for it.
 */
export function bestPerAgent(
  selector: CapabilitySelector,
  candidates: Iterable<{ agentId: string; capability: Capability; score: number }>,
): Map<string, CapabilityMatch> {
  const best = new Map<string, CapabilityMatch>();
  for (const { agentId, capability, score } of candidates) {
    const current = best.get(agentId);
    if (
      current === undefined ||
      score > current.score ||
      (score === current.score && semverGt(capability.version, current.capability.version)) ||
      (score === current.score &&
        capability.version === current.capability.version &&
        capability.priority > current.capability.priority)
    ) {
      best.set(agentId, { requested: selector.name, capability, score });
    }
  }
  return best;
}

/**
 * All-of matching: each agent's best match for every selector, for the agents that matched every
 * one of them (the registry and the synth-time StaticDirectory both decide matches here).
 */
export function matchingAll(
  selectors: readonly CapabilitySelector[],
  candidatesPerSelector: readonly (readonly {
    agentId: string;
    capability: Capability;
    score: number;
  }[])[],
): Map<string, CapabilityMatch[]> {
  const best = selectors.map((selector, i) =>
    bestPerAgent(selector, candidatesPerSelector[i] ?? []),
  );
  const agents = new Set(best.flatMap((perAgent) => [...perAgent.keys()]));
  const matched = new Map<string, CapabilityMatch[]>();
  for (const agentId of agents) {
    const matches = best.flatMap((perAgent) => perAgent.get(agentId) ?? []);
    if (matches.length === selectors.length) matched.set(agentId, matches);
  }
  return matched;
}

/**
 * Ranking: match score (desc), then priority (desc), then health (healthy first), then the matched
 * versions (highest first, selector by selector), then load (asc), then agentId so equal agents
 * always come back in the same order.
 */
export function compareMatches(a: DiscoveryMatch, b: DiscoveryMatch): number {
  return (
    compareQuality(a, b) ||
    a.load - b.load ||
    (a.agentId < b.agentId ? -1 : a.agentId > b.agentId ? 1 : 0)
  );
}

/**
 * How good a match is, load aside: score, priority, health, versions. Matches comparing equal here
 * are equally good holders of what was asked (replicas), among which the planner spreads work.
 */
export function compareQuality(a: DiscoveryMatch, b: DiscoveryMatch): number {
  return (
    b.score - a.score ||
    b.priority - a.priority ||
    STATUS_RANK[a.status] - STATUS_RANK[b.status] ||
    compareVersions(b.matched, a.matched)
  );
}

/** Selector by selector (the matches' order is the query's), the first differing version decides. */
function compareVersions(a: readonly CapabilityMatch[], b: readonly CapabilityMatch[]): number {
  for (const [i, match] of a.entries()) {
    const other = b[i];
    if (other === undefined) return 0;
    const order = semverCompare(match.capability.version, other.capability.version);
    if (order !== 0) return order;
  }
  return 0;
}

/** A match for one agent: its weakest score and lowest priority across the selectors it satisfies. */
export function buildMatch(
  agent: {
    readonly agentId: string;
    readonly agentType: string;
    readonly description: string;
    readonly endpoint: AgentEndpoint;
    readonly capabilityNames: readonly string[];
  },
  matched: readonly CapabilityMatch[],
  live: { readonly status: AgentStatus; readonly load: number; readonly circuit: CircuitState },
): DiscoveryMatch {
  return {
    agentId: agent.agentId,
    agentType: agent.agentType,
    description: agent.description,
    score: Math.min(...matched.map((m) => m.score)),
    priority: Math.min(...matched.map((m) => m.capability.priority)),
    status: live.status,
    load: live.load,
    circuit: live.circuit,
    endpoint: agent.endpoint,
    capabilities: agent.capabilityNames,
    matched,
  };
}
