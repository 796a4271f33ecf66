import { type AgentStatus, agentStatusSchema, type CircuitState } from '../model/agent-status.ts';
import type { AgentRecord, AgentRegistry } from './agent-registry.ts';

/** What `GET /health` says about the agents (the API adds the coordinations in flight). */
export interface FleetSummary {
  readonly agents: {
    readonly total: number;
    readonly byStatus: Readonly<Record<AgentStatus, number>>;
  };
  /** Agents whose breaker is not closed: open (refusing work) or half-open (one probe let through). */
  readonly openCircuits: readonly {
    readonly agentId: string;
    readonly state: Exclude<CircuitState, 'closed'>;
    readonly openedAt: string | null;
  }[];
  /** Work in flight at the agents' last heartbeats (offline agents left out: their figure is stale). */
  readonly inFlight: number;
  /**
   * Messages waiting in the agents' queues and in their dead-letter queues, summed over the agents
   * whose figures the health monitor has read (`agentsReporting`); null when none has.
   */
  readonly queues: {
    readonly depth: number | null;
    readonly deadLetters: number | null;
    readonly agentsReporting: number;
  };
  /** Requests and failures over the recent window (the last one to two minutes), summed over agents. */
  readonly recent: {
    readonly requests: number;
    readonly errors: number;
    readonly failureRate: number;
  };
  /** More agents than one summary reads (MAX_SUMMARY_AGENTS): the figures cover the first ones. */
  readonly truncated: boolean;
}

/** How many agents one summary reads (10 pages of the registry's listing). */
export const MAX_SUMMARY_AGENTS = 10_000;
const PAGE = 1000;

/**
 * Sums agent records into a fleet summary, one record at a time: the health monitor's sweep (which
 * visits every agent anyway) and `GET /health` both count with it.
 */
export class FleetTally {
  readonly #byStatus = Object.fromEntries(agentStatusSchema.options.map((s) => [s, 0])) as Record<
    AgentStatus,
    number
  >;
  readonly #open: FleetSummary['openCircuits'][number][] = [];
  #total = 0;
  readonly #queues = new Set<string>();
  #inFlight = 0;
  #depth = 0;
  #deadLetters = 0;
  #reporting = 0;
  #reportingDeadLetters = 0;
  #requests = 0;
  #errors = 0;

  add(record: AgentRecord): void {
    const { status, circuit, metrics } = record;
    this.#total++;
    this.#byStatus[status]++;
    if (circuit.state !== 'closed')
      this.#open.push({
        agentId: record.card.agentId,
        state: circuit.state,
        openedAt: circuit.openedAt,
      });
    if (status !== 'offline') this.#inFlight += metrics.inFlight;
    this.#requests += metrics.recentRequests;
    this.#errors += metrics.recentErrors;
    // Replicas sharing one queue (competing consumers) report the same queue: count it once.
    const queue = record.card.endpoint.queueUrl;
    if (queue !== undefined && this.#queues.has(queue)) return;
    if (queue !== undefined) this.#queues.add(queue);
    const { queueDepth, deadLetterDepth } = metrics.utilisation;
    if (queueDepth !== null) {
      this.#reporting++;
      this.#depth += queueDepth;
    }
    if (deadLetterDepth !== null) {
      this.#reportingDeadLetters++;
      this.#deadLetters += deadLetterDepth;
    }
  }

  get byStatus(): Readonly<Record<AgentStatus, number>> {
    return { ...this.#byStatus };
  }

  summary(truncated = false): FleetSummary {
    return {
      agents: { total: this.#total, byStatus: this.byStatus },
      openCircuits: [...this.#open].sort((a, b) => a.agentId.localeCompare(b.agentId)),
      inFlight: this.#inFlight,
      queues: {
        depth: this.#reporting === 0 ? null : this.#depth,
        deadLetters: this.#reportingDeadLetters === 0 ? null : this.#deadLetters,
        agentsReporting: this.#reporting,
      },
      recent: {
        requests: this.#requests,
        errors: this.#errors,
        failureRate:
          this.#requests === 0 ? 0 : Math.round((this.#errors / this.#requests) * 10_000) / 10_000,
      },
      truncated,
    };
  }
}

/**
 * Reads every agent (up to MAX_SUMMARY_AGENTS, a Scan of the registry's type index per 1000) and
 * sums them. No write, and no call beyond the registry: queue figures are those the health
 * monitor last stored.
 */
export async function fleetSummary(registry: Pick<AgentRegistry, 'list'>): Promise<FleetSummary> {
  const tally = new FleetTally();
  let nextToken: string | undefined;
  for (let read = 0; read < MAX_SUMMARY_AGENTS; read += PAGE) {
    const page = await registry.list({ limit: PAGE, ...(nextToken ? { nextToken } : {}) });
    for (const agent of page.agents) tally.add(agent);
    nextToken = page.nextToken;
    if (nextToken === undefined) return tally.summary();
  }
  return tally.summary(true);
}
