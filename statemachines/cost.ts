import type { Pattern } from './request.ts';

/**
 * The cost model: state transitions (what Standard workflows bill per) and Lambda invocations
 * (express tasks) for a successful run with `agents` agents. Failures add the transitions of their
 * Catch/fallback states. The execution tests check these formulas against the transitions the ASL
 * interpreter actually counts.
 *
 * | pattern        | transitions        | agent invocations |
 * | -------------- | ------------------ | ----------------- |
 * | sequential     | N + 1              | N                 |
 * | pipeline       | N + 1              | N                 |
 * | parallel       | N + 2              | N                 |
 * | scatter_gather | N + 6              | N                 |
 * | hierarchical   | R × (W + 4) + 3    | R × W + R + 1     |
 *
 * (hierarchical: R rounds of W workers; the supervisor runs R + 1 times.)
 */
export interface CostEstimate {
  readonly transitions: number;
  readonly agentInvocations: number;
}

export function estimateCost(pattern: Pattern, agents: number, rounds = 2): CostEstimate {
  switch (pattern) {
    case 'sequential':
    case 'pipeline':
      return { transitions: agents + 1, agentInvocations: agents };
    case 'parallel':
      return { transitions: agents + 2, agentInvocations: agents };
    case 'scatter_gather':
      return { transitions: agents + 6, agentInvocations: agents };
    case 'hierarchical':
      return {
        transitions: rounds * (agents + 4) + 3,
        agentInvocations: rounds * agents + rounds + 1,
      };
  }
}
