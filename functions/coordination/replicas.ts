import { canonicalJson } from '../core/canonical-json.ts';
import { compareQuality, type DiscoveryMatch } from '../core/registry/discovery.ts';

/**
 * Express coordinations this process has dispatched to each agent and not yet seen finish. The
 * registry's in-flight figure comes from the agents' heartbeats, which can be 30 s old; this is the
 * part of an agent's load the process knows now, so back-to-back runs see each other's work.
 */
export class DispatchedWork {
  readonly #counts = new Map<string, number>();

  /** Work on `agentIds` (each counted once) begins; the returned release ends it, once. */
  hold(agentIds: Iterable<string>): () => void {
    const held = [...new Set(agentIds)];
    for (const id of held) this.#counts.set(id, (this.#counts.get(id) ?? 0) + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      for (const id of held) {
        const left = (this.#counts.get(id) ?? 1) - 1;
        // Idle agents leave no entry: the map holds only the agents with work in flight.
        if (left <= 0) this.#counts.delete(id);
        else this.#counts.set(id, left);
      }
    };
  }

  /** Dispatched to `agentId` and not finished yet. */
  of(agentId: string): number {
    return this.#counts.get(agentId) ?? 0;
  }

  /** Every agent with work in flight from this process, and how much (benchmarks, tests). */
  snapshot(): ReadonlyMap<string, number> {
    return new Map(this.#counts);
  }
}

/** What choosing a replica needs to know about each candidate beyond its discovery match. */
export interface ReplicaLoad {
  /** Work this process has on the agent (DispatchedWork). */
  readonly held: (agentId: string) => number;
  /** The agent's maxConcurrency (its card's), to put held work in the registry's load units. */
  readonly capacities: (agentIds: readonly string[]) => Promise<ReadonlyMap<string, number>>;
}

/** Rotation state kept for at most this many capability queries; beyond, it starts over. */
const MAX_ROTATIONS = 1000;

/**
 * Spreads work over replicas: agents matching a capability equally well (same score, priority,
 * health and versions; see compareQuality). Among them, the least loaded takes the step, and
 * equally loaded ones take turns, the one chosen longest ago first. A better match is never passed
 * over for a less loaded one: only the leading group of equals is reordered.
 *
 * Load is what this process has dispatched to the agent and not seen finish (per maxConcurrency)
 * while it has work in flight on any of the replicas; otherwise — an API Lambda container, which
 * serves one request at a time, always — the registry's in-flight figure. Never both: the figure is
 * a sample from the agent's last heartbeat, up to a sweep interval old (30 s in the embedded
 * runtime), holding this process's own work as it was then. Measured over 60 s of 16 callers on
 * three replicas, adding it to the live count split the work 8 019 / 9 723 / 11 853, taking the
 * larger of the two 13 993 / 6 772 / 13 992 (a stale peak starved its replica until the next
 * heartbeat), and breaking the live count's ties with it 13 790 / 15 830 / 14 507; the live count
 * alone splits it evenly. Processes that each spread their own work evenly spread the sum evenly.
 */
export class ReplicaRotation {
  /** Per capability query: when each agent was last chosen for it (a sequence number). */
  readonly #lastChosen = new Map<string, Map<string, number>>();
  #sequence = 0;

  /**
   * `matches` as discovery ranked them, with the replica to use first moved to the front; the
   * others follow in their ranked order (they are the step's fallbacks).
   */
  async order(
    query: unknown,
    matches: readonly DiscoveryMatch[],
    load: ReplicaLoad,
  ): Promise<DiscoveryMatch[]> {
    const [best] = matches;
    if (best === undefined) return [];
    let equals = 0;
    while (equals < matches.length && compareQuality(matches[equals] as DiscoveryMatch, best) === 0)
      equals++;
    if (equals === 1) return [...matches];
    let replicas = matches.slice(0, equals);

    const held = replicas.map((m) => load.held(m.agentId));
    if (held.some((n) => n > 0)) {
      // Only now is the card's maxConcurrency needed (a cached lookup where planning caches).
      const capacities = await load.capacities(replicas.map((m) => m.agentId));
      const share = replicas.map((m, i) => (held[i] as number) / (capacities.get(m.agentId) ?? 1));
      replicas = leastBy(replicas, share);
    } else {
      replicas = leastBy(
        replicas,
        replicas.map((m) => m.load),
      );
    }

    const key = canonicalJson(query);
    let chosenAt = this.#lastChosen.get(key);
    if (chosenAt === undefined) {
      if (this.#lastChosen.size >= MAX_ROTATIONS) this.#lastChosen.clear();
      chosenAt = new Map();
      this.#lastChosen.set(key, chosenAt);
    }
    let chosen = best;
    let chosenSeq = Number.POSITIVE_INFINITY;
    for (const match of replicas) {
      const at = chosenAt.get(match.agentId) ?? -1;
      if (at < chosenSeq) {
        chosen = match;
        chosenSeq = at;
      }
    }
    chosenAt.set(chosen.agentId, this.#sequence++);
    return [chosen, ...matches.filter((m) => m !== chosen)];
  }
}

/** The matches whose figure is the least (fractions: equal within rounding counts as equal). */
function leastBy(matches: DiscoveryMatch[], figures: readonly number[]): DiscoveryMatch[] {
  const least = Math.min(...figures);
  return matches.filter((_, i) => (figures[i] as number) - least <= 1e-9);
}
