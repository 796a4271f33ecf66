import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import type { CompiledMachine } from '../../statemachines/compile.ts';
import type { ExecutionInput } from '../../statemachines/plan.ts';
import type { CoordinationEngine, ExecutionStatus } from '../coordination/engine.ts';
import type { ExecutionOutcome } from '../coordination/execution.ts';
import { appendFinished } from '../coordination/live-events.ts';
import { shapeResult } from '../coordination/result.ts';
import type { CoordinationEventLog } from '../core/streaming/event-log.ts';
import {
  type AgentInvoker,
  LocalStateMachines,
  type LocalStateMachinesOptions,
} from './local-executor.ts';

/** Finished standard coordinations are kept this long for GET /coordinations/{id}. */
const RETENTION_MS = 24 * 3600 * 1000;

export interface EmbeddedEngineOptions extends LocalStateMachinesOptions {
  /**
   * The coordination event log: when a standard run settles, its `coordination.finished` is
   * appended here with the result GET /coordinations/{id} answers (on AWS the monitor does this,
   * from Step Functions' status-change event). @default none
   */
  readonly events?: CoordinationEventLog;
}

/**
 * The coordination engine of the embedded runtime: compiled machines run in aws-local-stepfunctions
 * with their tasks bound to in-process agents. Standard coordinations run in the background and
 * are kept in memory for a day, like Step Functions keeps execution history.
 */
export class EmbeddedEngine implements CoordinationEngine {
  readonly #machines: LocalStateMachines;
  readonly #invoke: AgentInvoker;
  readonly #executions = new Map<string, { status: ExecutionStatus; settled: Promise<void> }>();
  readonly #events: CoordinationEventLog | undefined;

  constructor(invoke: AgentInvoker, options: EmbeddedEngineOptions = {}) {
    const { events, ...machines } = options;
    this.#invoke = invoke;
    this.#machines = new LocalStateMachines(machines);
    this.#events = events;
  }

  async runSync(machine: CompiledMachine, input: ExecutionInput): Promise<ExecutionOutcome> {
    // On AWS, starting an execution is a network call. In process, a coordination of in-process
    // agents runs on promise callbacks alone, and a caller running them back to back would never
    // let timers and sockets be served: registry refreshes, outcome writes, pollers and the API
    // would wait until the loop ended (seconds, in a benchmark). One turn of the event loop per
    // run keeps them served.
    await yieldToEventLoop();
    return (await this.#machines.run(machine, input, this.#invoke)).outcome;
  }

  async start(machine: CompiledMachine, input: ExecutionInput): Promise<void> {
    this.#forgetOld();
    const entry = {
      status: {
        input,
        startedAt: new Date(),
        outcome: { status: 'RUNNING' as const },
      } as ExecutionStatus,
      settled: Promise.resolve(),
    };
    const settle = (outcome: ExecutionOutcome): Promise<unknown> => {
      const stoppedAt = new Date();
      entry.status = { ...entry.status, outcome, stoppedAt };
      if (this.#events === undefined) return Promise.resolve();
      // Timed as get() times it, so the event carries the very result GET answers.
      const totalMs = stoppedAt.getTime() - entry.status.startedAt.getTime();
      return appendFinished(this.#events, shapeResult(input, outcome, totalMs));
    };
    // drain() waits for the append too: a run has settled once watchers can see it has.
    entry.settled = this.runSync(machine, input)
      .then(settle, (error: unknown) =>
        settle({ status: 'FAILED', error: 'States.Runtime', cause: String(error) }),
      )
      .then(() => undefined);
    this.#executions.set(input.coordinationId, entry);
  }

  async describe(coordinationId: string): Promise<ExecutionStatus | undefined> {
    return this.#executions.get(coordinationId)?.status;
  }

  /** Resolves when every started coordination has finished (for shutdown and tests). */
  async drain(): Promise<void> {
    await Promise.all([...this.#executions.values()].map((e) => e.settled));
  }

  #forgetOld(): void {
    const cutoff = Date.now() - RETENTION_MS;
    for (const [id, { status }] of this.#executions) {
      if (status.stoppedAt !== undefined && status.stoppedAt.getTime() < cutoff)
        this.#executions.delete(id);
    }
  }
}
