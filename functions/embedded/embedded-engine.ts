import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import type { CompiledMachine } from '../../statemachines/compile.ts';
import type { ExecutionInput } from '../../statemachines/plan.ts';
import type { CoordinationEngine, ExecutionStatus, StopReason } from '../coordination/engine.ts';
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

/** A standard run the engine keeps: its status, its settling, and how to stop it. */
interface Execution {
  status: ExecutionStatus;
  /** Resolves once the run has ended and its end is in the event log. */
  settled: Promise<void>;
  readonly stopper: AbortController;
  /** Set by stop(): the error and cause the stopped run ends with. */
  stoppedFor: { readonly error: string; readonly cause: string } | undefined;
}

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
  readonly #executions = new Map<string, Execution>();
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
    const entry: Execution = {
      status: { input, startedAt: new Date(), outcome: { status: 'RUNNING' } },
      settled: Promise.resolve(),
      stopper: new AbortController(),
      stoppedFor: undefined,
    };
    const settle = (outcome: ExecutionOutcome): Promise<unknown> => {
      const stoppedAt = new Date();
      // Stopped: the reason the stop gave is the run's error and cause, as StopExecution's are.
      const ended: ExecutionOutcome =
        outcome.status === 'ABORTED' && entry.stoppedFor !== undefined
          ? { ...outcome, ...entry.stoppedFor }
          : outcome;
      entry.status = { ...entry.status, outcome: ended, stoppedAt };
      if (this.#events === undefined) return Promise.resolve();
      // Timed as get() times it, so the event carries the very result GET answers.
      const totalMs = stoppedAt.getTime() - entry.status.startedAt.getTime();
      return appendFinished(this.#events, shapeResult(input, ended, totalMs));
    };
    // drain() waits for the append too: a run has settled once watchers can see it has.
    entry.settled = this.#runStandard(machine, input, entry.stopper.signal)
      .then(settle, (error: unknown) =>
        settle({ status: 'FAILED', error: 'States.Runtime', cause: String(error) }),
      )
      .then(() => undefined);
    this.#executions.set(input.coordinationId, entry);
  }

  async #runStandard(
    machine: CompiledMachine,
    input: ExecutionInput,
    signal: AbortSignal,
  ): Promise<ExecutionOutcome> {
    await yieldToEventLoop();
    return (await this.#machines.run(machine, input, this.#invoke, { signal })).outcome;
  }

  async describe(coordinationId: string): Promise<ExecutionStatus | undefined> {
    return this.#executions.get(coordinationId)?.status;
  }

  /**
   * Aborts the run in its interpreter, as StopExecution does on AWS: no state starts after it, the
   * agents still working on its steps finish unheard, and it ends ABORTED with `reason`. Resolves
   * once it has settled — its status is ABORTED and its `coordination.finished` (status
   * `cancelled`) is in the event log — so that whoever stopped it reads the end at once. A run
   * that had ended already, or is unknown, is left as it was.
   */
  async stop(coordinationId: string, reason: StopReason): Promise<void> {
    const entry = this.#executions.get(coordinationId);
    if (entry === undefined || entry.status.outcome.status !== 'RUNNING') return;
    entry.stoppedFor ??= { error: reason.error, cause: reason.cause };
    entry.stopper.abort();
    await entry.settled;
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
