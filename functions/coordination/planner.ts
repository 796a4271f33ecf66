import type {
  AgentTarget,
  CoordinationPlan,
  PassedOverReason,
  PlannedStep,
  PlannedWorker,
  StandIn,
} from '../../statemachines/plan.ts';
import {
  type AgentRef,
  type CapabilityRef,
  type CoordinationRequest,
  coordinationRequestSchema,
  DEFAULT_COORDINATION_SECONDS,
  MAX_FALLBACKS,
  type StepSpec,
  stepIdAt,
} from '../../statemachines/request.ts';
import { NoAgentAvailableError, NotFoundError, ValidationError } from '../core/errors.ts';
import { type AgentEndpoint, isFifoEndpoint } from '../core/model/agent-card.ts';
import { takesNewWork } from '../core/model/agent-status.ts';
import type { AgentRecord, AgentRegistry } from '../core/registry/agent-registry.ts';
import type { DiscoveryMatch } from '../core/registry/discovery.ts';
import { DEFAULT_MIN_FUZZY_SCORE } from '../core/registry/fuzzy.ts';
import { parseExternal } from '../core/validation.ts';
import { DispatchedWork, type ReplicaLoad, ReplicaRotation } from './replicas.ts';

/**
 * What planning reads: the registry at run time, or a static directory of the stack's own agents
 * when the CDK app compiles declared workflows at synth time.
 */
export type AgentDirectory = Pick<AgentRegistry, 'getMany' | 'discover'>;

/** Statuses an agent may have to be planned in: healthy, or degraded but still answering. */
const USABLE = ['healthy', 'degraded'] as const;

/**
 * How many holders of a capability a step's replica is chosen among. Discovery reads every holder's
 * live state whatever the limit (it only cuts the ranked list), so this costs nothing per lookup.
 */
const REPLICA_LIMIT = 100;

interface ResolvedAgent {
  readonly agentId: string;
  readonly endpoint: AgentEndpoint;
  readonly capabilities: readonly string[];
}

/** A plan, and the stand-ins planning chose (empty when every step got the agent it asked for). */
export interface PlannedCoordination extends CoordinationPlan {
  readonly standIns: readonly StandIn[];
}

/**
 * Turns a validated request into a plan: every agent reference resolved through the registry to
 * a reachable endpoint (a Lambda for express, a standard queue for task tokens), fallbacks and
 * fan-outs expanded, timeouts filled in. A step whose agent cannot take work now (open breaker,
 * offline, no usable holder of the capability) runs with its fallbacks, noted as a stand-in; a
 * fallback that cannot take work is left out. Anything that cannot run is refused here, before a
 * state machine starts: unknown agents (NotFoundError), steps none of whose agents can take work
 * (NoAgentAvailableError), endpoints the mode cannot reach (ValidationError with the field).
 */
export class CoordinationPlanner {
  readonly #registry: AgentDirectory;
  readonly #rotation = new ReplicaRotation();
  readonly #load: ReplicaLoad;

  /**
   * `dispatched`: the work this process has in flight on each agent (the coordination service
   * keeps it), counted into a replica's load when a capability step chooses among replicas.
   */
  constructor(registry: AgentDirectory, options: { readonly dispatched?: DispatchedWork } = {}) {
    this.#registry = registry;
    const dispatched = options.dispatched ?? new DispatchedWork();
    this.#load = {
      held: (agentId) => dispatched.of(agentId),
      capacities: async (agentIds) => {
        const records = await registry.getMany(agentIds);
        const capacities = new Map<string, number>();
        for (const [id, record] of records)
          if (record.card.maxConcurrency !== undefined)
            capacities.set(id, record.card.maxConcurrency);
        return capacities;
      },
    };
  }

  parse(input: unknown): CoordinationRequest {
    // Requests reach here from HTTP, the CLI and callers of the embedded runtime alike.
    return parseExternal(coordinationRequestSchema, input, 'coordination request');
  }

  async plan(request: CoordinationRequest): Promise<PlannedCoordination> {
    const resolver = new Resolver(this.#registry, request, (query, matches) =>
      this.#rotation.order(query, matches, this.#load),
    );
    await resolver.prefetch();
    const base = {
      pattern: request.pattern,
      mode: request.mode,
      failureMode: request.failure_mode,
      ...(request.retry ? { retry: request.retry } : {}),
      timeoutSeconds: request.timeout ?? DEFAULT_COORDINATION_SECONDS[request.mode],
    };

    if (request.pattern === 'hierarchical') {
      const supervisorRef = request.supervisor ?? (request.agents?.[0] as string);
      const workerRefs = request.workers ?? request.agents?.slice(1) ?? [];
      const supervisor = await resolver.candidates('supervisor', supervisorRef, [], 'supervisor');
      const workers = await resolver.pool(workerRefs, 'workers');
      return {
        ...base,
        steps: [{ id: 'supervisor', candidates: supervisor, timeoutSeconds: request.stepTimeout }],
        workers,
        workerTimeoutSeconds: request.stepTimeout,
        maxRounds: request.maxRounds,
        standIns: resolver.standIns,
      };
    }

    const specs: StepSpec[] = request.steps ?? (request.agents ?? []).map((agent) => ({ agent }));
    // Steps resolve concurrently (each is at most a discovery); their order is kept.
    const resolved = await Promise.all(
      specs.map(async (spec, i): Promise<PlannedStep[]> => {
        const id = stepIdAt(spec, i);
        const field = request.steps ? `steps.${i}` : `agents.${i}`;
        const ref: AgentRef = spec.agent ?? capabilityRefOf(spec);
        const timeoutSeconds = spec.timeout ?? request.stepTimeout;
        const input = spec.input === undefined ? {} : { input: spec.input };
        if (request.pattern === 'scatter_gather' && typeof ref !== 'string') {
          // Scatter to every agent holding the capability, each its own item.
          const agents = await resolver.pool([ref], field);
          return agents.map((agent, k) => ({
            id: `${id}_${k + 1}`,
            candidates: [target(agent)],
            timeoutSeconds,
            ...input,
          }));
        }
        return [
          {
            id,
            candidates: await resolver.candidates(id, ref, spec.fallbacks ?? [], field),
            timeoutSeconds,
            ...input,
          },
        ];
      }),
    );
    let steps = resolved.flat();
    if (request.pattern === 'scatter_gather') steps = dedupeFanOut(steps);

    const quorum = request.gather?.quorum;
    if (quorum !== undefined && quorum > steps.length) {
      throw new ValidationError('coordination request', [
        {
          path: 'gather.quorum',
          message: `quorum ${quorum} cannot be met: only ${steps.length} agents were found`,
        },
      ]);
    }
    return {
      ...base,
      steps,
      ...(request.gather ? { gather: request.gather } : {}),
      standIns: resolver.standIns,
    };
  }
}

/**
 * One request's agent lookups: every agent named by id is read in one BatchGetItem up front;
 * capability references are one discovery each (whose matches carry endpoints and capabilities).
 */
class Resolver {
  readonly #registry: AgentDirectory;
  readonly #request: CoordinationRequest;
  readonly #replicaFirst: ReplicaOrder;
  #byId = new Map<string, AgentRecord>();
  readonly standIns: StandIn[] = [];

  constructor(registry: AgentDirectory, request: CoordinationRequest, replicaFirst: ReplicaOrder) {
    this.#registry = registry;
    this.#request = request;
    this.#replicaFirst = replicaFirst;
  }

  async prefetch(): Promise<void> {
    this.#byId = await this.#registry.getMany(idsIn(this.#request));
  }

  /**
   * The agent for `ref` followed by its fallbacks: explicit ones, or the next-ranked holders of a
   * capability. For a capability, the replica that takes the step is the least loaded of the
   * equally good holders, in turn when their loads tie (ReplicaRotation). Those that cannot take
   * work now are left out; when that is the requested agent itself, the first fallback left stands
   * in for it (recorded in `standIns`).
   */
  async candidates(
    stepId: string,
    ref: AgentRef,
    fallbacks: readonly AgentRef[],
    field: string,
  ): Promise<AgentTarget[]> {
    const chosen: ResolvedAgent[] = [];
    const refused: { option: number; error: NoAgentAvailableError }[] = [];
    for (const [k, option] of [ref, ...fallbacks].entries()) {
      try {
        if (k === 0) {
          const ranked =
            typeof ref === 'string'
              ? await this.#resolve(ref, field, 1)
              : await this.#replicas(ref, field);
          chosen.push(...ranked.slice(0, fallbacks.length > 0 ? 1 : 1 + MAX_FALLBACKS));
        } else chosen.push(...(await this.#resolve(option, `${field}.fallbacks.${k - 1}`, 1)));
      } catch (error) {
        // Unknown ids and unreachable endpoints stay errors: they are the request's mistakes.
        if (!(error instanceof NoAgentAvailableError)) throw error;
        refused.push({ option: k, error });
      }
    }
    const [first] = chosen;
    if (first === undefined)
      throw noneCanTakeWork(
        field,
        refused.map((r) => r.error),
      );
    const passedOver = refused.find((r) => r.option === 0)?.error;
    if (passedOver !== undefined) {
      this.standIns.push({
        stepId,
        requested: typeof ref === 'string' ? ref : `capability ${ref.capability}`,
        agentId: first.agentId,
        reason: passedOver.details.reason as PassedOverReason,
        detail: passedOver.message,
      });
    }
    const unique = chosen.filter(
      (agent, i) => chosen.findIndex((a) => a.agentId === agent.agentId) === i,
    );
    return unique.slice(0, 1 + MAX_FALLBACKS).map((agent) => this.#target(agent, field));
  }

  /** Every agent the refs name (capabilities: all usable holders), once each. */
  async pool(refs: readonly AgentRef[], field: string): Promise<PlannedWorker[]> {
    const resolved = await Promise.all(
      refs.map((ref, k) =>
        this.#resolve(ref, `${field}.${k}`, this.#request.maxAgentsPerCapability),
      ),
    );
    const workers: PlannedWorker[] = [];
    resolved.forEach((agents, k) => {
      for (const agent of agents) {
        if (workers.some((w) => w.agentId === agent.agentId)) continue;
        workers.push({
          ...this.#target(agent, `${field}.${k}`),
          capabilities: [...agent.capabilities],
        });
      }
    });
    return workers;
  }

  async #resolve(ref: AgentRef, field: string, limit: number): Promise<ResolvedAgent[]> {
    if (typeof ref === 'string') return [this.#known(ref, field)];
    return (await this.#discover(ref, field, limit)).matches.map(resolved);
  }

  /** A capability's holders, the replica to use first in front (see candidates). */
  async #replicas(ref: CapabilityRef, field: string): Promise<ResolvedAgent[]> {
    const { query, matches } = await this.#discover(ref, field, REPLICA_LIMIT);
    return (await this.#replicaFirst(query, matches)).map(resolved);
  }

  async #discover(
    ref: CapabilityRef,
    field: string,
    limit: number,
  ): Promise<{ query: object; matches: DiscoveryMatch[] }> {
    const query = {
      capability: ref.capability,
      ...(ref.version ? { version: ref.version } : {}),
      match: ref.match,
      minScore: ref.minScore,
      statuses: [...USABLE],
      limit,
    };
    const matches = await this.#registry.discover(query);
    if (matches.length === 0) {
      throw new NoAgentAvailableError(
        `No healthy agent offers capability "${ref.capability}"${ref.version ? ` in versions ${ref.version}` : ''} (${field}).`,
        {
          field,
          capability: ref.capability,
          reason: 'no_usable_holder' satisfies PassedOverReason,
        },
      );
    }
    return { query, matches };
  }

  /**
   * An agent named by id: it must exist, be reachable (not offline), not be stopping (draining)
   * nor drained by an operator, and not be behind an open breaker.
   */
  #known(agentId: string, field: string): ResolvedAgent {
    const record = this.#byId.get(agentId);
    if (record === undefined)
      throw new NotFoundError(`No agent is registered with id "${agentId}" (${field}).`, {
        field,
        agentId,
      });
    const passedOver = passedOverFor(record);
    if (passedOver !== undefined) {
      throw new NoAgentAvailableError(
        `Agent ${agentId} (${field}) cannot take work: ${passedOver.why}.`,
        {
          field,
          agentId,
          status: record.status,
          circuit: record.circuit.state,
          reason: passedOver.reason,
        },
      );
    }
    return {
      agentId,
      endpoint: record.card.endpoint,
      capabilities: [...new Set(record.card.capabilities.map((c) => c.name))],
    };
  }

  /** Where the plan reaches the agent: its Lambda (express) or its standard queue (task tokens). */
  #target(agent: ResolvedAgent, field: string): AgentTarget {
    const { endpoint } = agent;
    if (this.#request.mode === 'express') {
      if (endpoint.lambdaArn === undefined) {
        throw unreachable(
          field,
          `agent ${agent.agentId} has no Lambda to invoke; use "mode": "standard" to reach it through its queue`,
        );
      }
      return { agentId: agent.agentId, target: endpoint.lambdaArn };
    }
    if (endpoint.queueUrl === undefined) {
      throw unreachable(
        field,
        `agent ${agent.agentId} has no queue for task tokens; use "mode": "express" to invoke its Lambda`,
      );
    }
    if (isFifoEndpoint(endpoint)) {
      throw unreachable(
        field,
        `agent ${agent.agentId} has a FIFO queue; standard coordinations need a standard queue`,
      );
    }
    return { agentId: agent.agentId, target: endpoint.queueUrl };
  }
}

/** Why a named agent cannot be planned with now, or undefined when it can. */
function passedOverFor(record: AgentRecord): { reason: PassedOverReason; why: string } | undefined {
  if (record.circuit.state === 'open')
    return {
      reason: 'circuit_open',
      why: `its circuit breaker has been open since ${record.circuit.openedAt}`,
    };
  if (record.status === 'offline')
    return {
      reason: 'offline',
      why: `it is offline (last heartbeat ${record.metrics.lastHeartbeat ?? 'never'})`,
    };
  // Stopping, or drained by an operator: it finishes what it has but takes nothing new
  // (discovery leaves it out likewise).
  if (record.status === 'drained')
    return {
      reason: 'drained',
      why: 'an operator drained it (it takes no new work until resumed: POST /agents/{id}/resume)',
    };
  if (!takesNewWork(record.status))
    return { reason: 'draining', why: 'it is draining (stopping; it takes no new work)' };
  return undefined;
}

/** Reorders a capability's ranked holders so that the replica to use comes first. */
type ReplicaOrder = (query: object, matches: DiscoveryMatch[]) => Promise<DiscoveryMatch[]>;

function resolved(match: DiscoveryMatch): ResolvedAgent {
  return { agentId: match.agentId, endpoint: match.endpoint, capabilities: match.capabilities };
}

/** Every agent id the request names, anywhere. */
function idsIn(request: CoordinationRequest): string[] {
  const refs: AgentRef[] = [
    ...(request.agents ?? []),
    ...(request.steps ?? []).flatMap((s) => [
      ...(s.agent ? [s.agent] : []),
      ...(s.fallbacks ?? []),
    ]),
    ...(request.supervisor ? [request.supervisor] : []),
    ...(request.workers ?? []),
  ];
  return [...new Set(refs.filter((r): r is string => typeof r === 'string'))];
}

function capabilityRefOf(spec: StepSpec): CapabilityRef {
  return {
    capability: spec.capability as string,
    ...(spec.version ? { version: spec.version } : {}),
    match: spec.match ?? 'exact',
    minScore: DEFAULT_MIN_FUZZY_SCORE,
  };
}

function target(worker: PlannedWorker): AgentTarget {
  return { agentId: worker.agentId, target: worker.target };
}

/** The same agent reached through two fan-out steps answers once. */
function dedupeFanOut(steps: PlannedStep[]): PlannedStep[] {
  const seen = new Set<string>();
  return steps.filter((step) => {
    const agentId = step.candidates[0]?.agentId ?? '';
    if (seen.has(agentId)) return false;
    seen.add(agentId);
    return true;
  });
}

/** None of a step's agents can take work: one refusal as it was, several in one error. */
function noneCanTakeWork(field: string, refused: NoAgentAvailableError[]): NoAgentAvailableError {
  const [only] = refused;
  if (refused.length === 1 && only !== undefined) return only;
  return new NoAgentAvailableError(
    `No agent can take ${field}, nor any of its fallbacks: ${refused.map((e) => e.message).join(' ')}`,
    { field, refused: refused.map((e) => e.details) },
  );
}

function unreachable(field: string, message: string): ValidationError {
  return new ValidationError('coordination request', [{ path: field, message }]);
}
