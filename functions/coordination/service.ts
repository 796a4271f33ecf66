import { randomUUID } from 'node:crypto';
import { type CompiledMachine, compile } from '../../statemachines/compile.ts';
import { executionInput } from '../../statemachines/plan.ts';
import { NotFoundError } from '../core/errors.ts';
import type { AgentRegistry } from '../core/registry/agent-registry.ts';
import type { CoordinationEngine } from './engine.ts';
import { CoordinationPlanner } from './planner.ts';
import { type CoordinationResult, shapeResult } from './result.ts';
import { standardCoordinationId } from './step-functions-engine.ts';

export type CoordinationResponse =
  | { readonly state: 'completed'; readonly result: CoordinationResult }
  | { readonly state: 'running'; readonly coordinationId: string; readonly startedAt: string };

export interface CoordinationServiceOptions {
  readonly registry: AgentRegistry;
  readonly engine: CoordinationEngine;
  /**
   * Express step outcomes feed the registry's metrics and circuit breakers. `await` (Lambda: the
   * work must finish before the handler returns) or `background` (long-lived processes).
   */
  readonly recordOutcomes?: 'await' | 'background';
  /** Progress callback for long runs (the CLI prints it). */
  readonly onProgress?: (event: {
    phase: 'planned' | 'compiled' | 'running' | 'finished';
    detail: string;
  }) => void;
}

/**
 * Runs coordinations: validate the request, resolve agents into a plan, compile the plan's shape
 * (cached by content hash), execute on the engine, shape the result. Express runs return the
 * result; standard runs return at once and are fetched later with get().
 */
export class CoordinationService {
  readonly #registry: AgentRegistry;
  readonly #engine: CoordinationEngine;
  readonly #planner: CoordinationPlanner;
  readonly #record: 'await' | 'background';
  readonly #onProgress: CoordinationServiceOptions['onProgress'];
  readonly #compiled = new Map<string, CompiledMachine>();
  readonly #pending = new Set<Promise<void>>();

  constructor(options: CoordinationServiceOptions) {
    this.#registry = options.registry;
    this.#engine = options.engine;
    this.#planner = new CoordinationPlanner(options.registry);
    this.#record = options.recordOutcomes ?? 'await';
    this.#onProgress = options.onProgress;
  }

  /** Validates and compiles without running: what `mobius compile` and POST /coordinations share. */
  async compile(
    input: unknown,
  ): Promise<{ machine: CompiledMachine; plan: Awaited<ReturnType<CoordinationPlanner['plan']>> }> {
    const request = this.#planner.parse(input);
    const plan = await this.#planner.plan(request);
    return { machine: this.#machine(plan), plan };
  }

  async run(input: unknown): Promise<CoordinationResponse> {
    const started = performance.now();
    const request = this.#planner.parse(input);
    const plan = await this.#planner.plan(request);
    this.#onProgress?.({
      phase: 'planned',
      detail: `${plan.pattern}: ${plan.steps.length} step(s)${plan.workers ? `, ${plan.workers.length} worker(s)` : ''}`,
    });
    const machine = this.#machine(plan);
    this.#onProgress?.({ phase: 'compiled', detail: `${machine.name} (${machine.type})` });
    const uuid = randomUUID();
    const coordinationId = plan.mode === 'standard' ? standardCoordinationId(machine, uuid) : uuid;
    const execution = executionInput(plan, coordinationId, request.payload);

    if (plan.mode === 'standard') {
      await this.#engine.start(machine, execution);
      return { state: 'running', coordinationId, startedAt: new Date().toISOString() };
    }
    this.#onProgress?.({ phase: 'running', detail: coordinationId });
    const outcome = await this.#engine.runSync(machine, execution);
    const result = shapeResult(execution, outcome, performance.now() - started);
    this.#onProgress?.({
      phase: 'finished',
      detail: `${result.status} in ${result.timings.totalMs.toFixed(1)} ms`,
    });
    await this.#recordOutcomes(result);
    return { state: 'completed', result };
  }

  async get(coordinationId: string): Promise<CoordinationResponse> {
    const status = await this.#engine.describe(coordinationId);
    if (status === undefined) {
      throw new NotFoundError(
        `No coordination ${coordinationId}. Express coordinations return their result inline and are not kept; standard ones are kept by Step Functions.`,
        { coordinationId },
      );
    }
    if (status.outcome.status === 'RUNNING') {
      return { state: 'running', coordinationId, startedAt: status.startedAt.toISOString() };
    }
    const totalMs = (status.stoppedAt ?? new Date()).getTime() - status.startedAt.getTime();
    return { state: 'completed', result: shapeResult(status.input, status.outcome, totalMs) };
  }

  /** Waits for outcome recording still in flight (embedded runtime shutdown, tests). */
  async settle(): Promise<void> {
    await Promise.all([...this.#pending]);
  }

  #machine(plan: Parameters<typeof compile>[0]): CompiledMachine {
    const machine = compile(plan);
    // Keep one instance per shape: engines cache their parsed machines by identity of the hash.
    const cached = this.#compiled.get(machine.hash);
    if (cached) return cached;
    this.#compiled.set(machine.hash, machine);
    return machine;
  }

  async #recordOutcomes(result: CoordinationResult): Promise<void> {
    // One outcome per attempt: successes from the steps, failures from the errors (which list
    // every failed attempt, fallbacks included).
    const outcomes = [
      ...result.steps.flatMap((s) =>
        s.status === 'succeeded'
          ? [{ agentId: s.agentId, ok: true, latencyMs: s.durationMs ?? 0 }]
          : [],
      ),
      ...result.errors.flatMap((e) =>
        e.agentId === null ? [] : [{ agentId: e.agentId, ok: false, latencyMs: 0 }],
      ),
    ];
    // Metrics must never fail a coordination that already ran: a lost update is tolerable.
    const work = Promise.all(
      outcomes.map((o) =>
        this.#registry
          .recordOutcome(o.agentId, { ok: o.ok, latencyMs: o.latencyMs })
          .catch(() => undefined),
      ),
    ).then(() => undefined);
    if (this.#record === 'await') return work;
    this.#pending.add(work);
    void work.finally(() => this.#pending.delete(work));
  }
}
