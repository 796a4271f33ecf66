import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { assertNamePrefix, type CompiledMachine, compile } from '../../statemachines/compile.ts';
import { type ExecutionInput, executionInput } from '../../statemachines/plan.ts';
import type { CoordinationRequest } from '../../statemachines/request.ts';
import { annotate } from '../core/aws/tracing.ts';
import {
  ConflictError,
  EventsNotConfiguredError,
  NotFoundError,
  PayloadTooLargeError,
} from '../core/errors.ts';
import { LIMITS } from '../core/messaging/limits.ts';
import type { AgentRegistry } from '../core/registry/agent-registry.ts';
import type {
  CoordinationEventLog,
  CoordinationPage,
  RunningCount,
} from '../core/streaming/event-log.ts';
import type { CoordinationListQuery, CoordinationStatus } from '../core/streaming/events.ts';
import { Admission, type AdmissionOptions, DEFAULT_ADMISSION } from './admission.ts';
import type { CoordinationEngine, ExecutionStatus } from './engine.ts';
import type { ExecutionOutcome } from './execution.ts';
import { abandonedResult, appendFinished, appendLive, startedEvent } from './live-events.ts';
import { OutcomeRecorder } from './outcome-recorder.ts';
import { type AgentDirectory, CoordinationPlanner } from './planner.ts';
import { DispatchedWork } from './replicas.ts';
import {
  COORDINATION_CANCELLED,
  type CoordinationError,
  type CoordinationResult,
  shapeResult,
} from './result.ts';
import { standardCoordinationId } from './step-functions-engine.ts';

export type CoordinationResponse =
  | { readonly state: 'completed'; readonly result: CoordinationResult }
  | { readonly state: 'running'; readonly coordinationId: string; readonly startedAt: string };

export interface CoordinationServiceOptions {
  readonly registry: AgentRegistry;
  readonly engine: CoordinationEngine;
  /**
   * Express step outcomes feed the registry's metrics and circuit breakers, coalesced per agent:
   * `await` writes them before run() returns (Lambda: work must finish before the handler does);
   * `background` writes them every `outcomeFlushMs` (long-lived processes). @default 'await'
   */
  readonly recordOutcomes?: 'await' | 'background';
  /**
   * How often `background` writes them. Each flush is one UpdateItem per agent that ran, so a
   * hundred agents kept busy cost a hundred writes per flush (≈2 ms of CPU each on a 2-core
   * machine); breakers and metrics lag by at most this much. @default 5000
   */
  readonly outcomeFlushMs?: number;
  /** Where agents are looked up when planning; e.g. a CachedDirectory. @default the registry */
  readonly directory?: AgentDirectory;
  /** What the names of the machines this service compiles start with. @default 'mobius' */
  readonly machineNamePrefix?: string;
  /**
   * Back-pressure: how many coordinations this service works on at once, and whether the next
   * waits for a slot or is refused (503 `CAPACITY_EXCEEDED`, `Retry-After`). `{ maxInFlight:
   * Infinity }` admits everything. @default DEFAULT_ADMISSION (16 in flight, no wait)
   */
  readonly admission?: AdmissionOptions;
  /**
   * The coordination event log, for watchers (GET /coordinations/{id}/events): the service appends
   * `coordination.started` before each run starts and, for express runs, `coordination.finished`
   * with the result. Agents append their step events to the same log. @default none: nothing is
   * appended and runs cannot be watched
   */
  readonly events?: CoordinationEventLog;
  /**
   * How long cancel() waits for the execution of a standard run whose start the event log holds
   * but the engine does not know yet: it was listed the moment its start was logged, a moment
   * before Step Functions took it. @default START_WAIT_MS (5 s)
   */
  readonly startWaitMs?: number;
}

export interface RunOptions {
  /** Stops waiting for an express run (the API's response deadline), or for a slot. */
  readonly signal?: AbortSignal;
  /**
   * Called with the coordination's id once it is planned and its `coordination.started` is in
   * the event log, just before the engine starts it: a caller can follow its events from here on.
   * Not called for a request refused before it starts (invalid, no agent, too large, shed).
   */
  readonly onStarted?: (coordinationId: string) => void;
}

/**
 * Runs coordinations: validate the request, resolve agents into a plan, compile the plan's shape
 * (cached by content hash), execute on the engine, shape the result. Express runs return the
 * result; standard runs return at once and are fetched later with get().
 */
export class CoordinationService {
  readonly #engine: CoordinationEngine;
  readonly #planner: CoordinationPlanner;
  readonly #record: 'await' | 'background';
  readonly #recorder: OutcomeRecorder;
  readonly #namePrefix: string | undefined;
  readonly #compiled = new Map<string, CompiledMachine>();
  readonly #admission: Admission;
  readonly #dispatched = new DispatchedWork();
  readonly #events: CoordinationEventLog | undefined;
  readonly #startWaitMs: number;

  constructor(options: CoordinationServiceOptions) {
    this.#admission = new Admission(options.admission ?? DEFAULT_ADMISSION);
    this.#engine = options.engine;
    this.#planner = new CoordinationPlanner(options.directory ?? options.registry, {
      dispatched: this.#dispatched,
    });
    this.#record = options.recordOutcomes ?? 'await';
    this.#recorder = new OutcomeRecorder(
      options.registry,
      this.#record === 'background' ? { flushIntervalMs: options.outcomeFlushMs ?? 5000 } : {},
    );
    if (options.machineNamePrefix !== undefined) assertNamePrefix(options.machineNamePrefix);
    this.#namePrefix = options.machineNamePrefix;
    this.#events = options.events;
    this.#startWaitMs = options.startWaitMs ?? START_WAIT_MS;
  }

  /**
   * Runs a coordination (see RunOptions). Throws CoordinationShedError when the service is at its
   * bound (see AdmissionOptions).
   */
  async run(input: unknown, options: RunOptions = {}): Promise<CoordinationResponse> {
    // From the caller's point of view: time spent waiting for a slot is overhead too.
    const started = performance.now();
    // Outside the bound: a bad request is a 400 whatever the load, and costs no slot.
    const request = this.#planner.parse(input);
    return this.#admission.run(() => this.#run(request, started, options), options.signal);
  }

  /**
   * Express coordinations this service has running, per agent that took one of their steps: the
   * load replica routing adds to the registry's (tests, benchmarks).
   */
  get dispatched(): ReadonlyMap<string, number> {
    return this.#dispatched.snapshot();
  }

  /** Coordinations in flight and waiting for a slot, against the bound (tests, benchmarks). */
  get load(): { readonly inFlight: number; readonly queued: number; readonly maxInFlight: number } {
    return {
      inFlight: this.#admission.inFlight,
      queued: this.#admission.queued,
      maxInFlight: this.#admission.maxInFlight,
    };
  }

  async #run(
    request: CoordinationRequest,
    started: number,
    options: RunOptions,
  ): Promise<CoordinationResponse> {
    const plan = await this.#planner.plan(request);
    const machine = this.#machine(plan);
    const uuid = randomUUID();
    const coordinationId = plan.mode === 'standard' ? standardCoordinationId(machine, uuid) : uuid;
    // X-Ray (where a tracer is installed): the request's trace is found by its coordination.
    annotate({ coordinationId });
    const execution = executionInput(plan, coordinationId, request.payload);
    assertFitsStepFunctions(execution);
    // Before the engine starts the run, so it precedes every event of the run, and awaited: a
    // watcher who connects as soon as the caller learns the id finds the start logged.
    await appendLive(this.#events, coordinationId, startedEvent(plan));

    if (plan.mode === 'standard') {
      try {
        await this.#engine.start(machine, execution);
      } catch (error) {
        // No execution exists to report on: end the run in the log here.
        await this.#abandoned(execution, error, started);
        throw error;
      }
      // Once Step Functions has taken it: a start it refuses (quota, throttling) is an error the
      // caller gets as such, not a run to watch.
      options.onStarted?.(coordinationId);
      return { state: 'running', coordinationId, startedAt: new Date().toISOString() };
    }
    options.onStarted?.(coordinationId);
    // The agents planned first for each step are busy with this run until it ends (or the caller
    // stops waiting). Standard runs are not counted: the service never sees them end, and their
    // agents report their own in-flight work in heartbeats.
    const release = this.#dispatched.hold(
      plan.steps.flatMap((s) => s.candidates[0]?.agentId ?? []),
    );
    let outcome: ExecutionOutcome;
    try {
      outcome = await this.#engine.runSync(machine, execution, options.signal);
    } catch (error) {
      // The caller stopped waiting (the API's deadline) or the engine refused: the run's end is
      // unknown here, and watchers are told it failed with that error rather than left waiting.
      release();
      await this.#abandoned(
        execution,
        options.signal?.aborted === true ? stoppedWaiting(options.signal) : error,
        started,
      );
      throw error;
    }
    release();
    const result = shapeResult(execution, outcome, performance.now() - started);
    await Promise.all([appendFinished(this.#events, result), this.#recordOutcomes(result)]);
    return { state: 'completed', result };
  }

  async #abandoned(execution: ExecutionInput, error: unknown, started: number): Promise<void> {
    if (this.#events === undefined) return;
    await appendFinished(
      this.#events,
      abandonedResult(execution, error, performance.now() - started),
    );
  }

  async get(coordinationId: string): Promise<CoordinationResponse> {
    const status = await this.#engine.describe(coordinationId);
    if (status === undefined) {
      throw new NotFoundError(
        `No coordination ${coordinationId}. Express coordinations return their result inline and are not kept (GET /coordinations lists how they ended, GET /coordinations/{id}/events replays them); standard ones are kept by Step Functions.`,
        { coordinationId },
      );
    }
    if (status.outcome.status === 'RUNNING') {
      return { state: 'running', coordinationId, startedAt: status.startedAt.toISOString() };
    }
    const totalMs = (status.stoppedAt ?? new Date()).getTime() - status.startedAt.getTime();
    return { state: 'completed', result: shapeResult(status.input, status.outcome, totalMs) };
  }

  /**
   * Coordinations, newest first, express and standard alike: every run's start and end are in
   * the event log, whose head items keep each run's summary (see CoordinationEventLog.list).
   * Without an event log there is nothing to list: EventsNotConfiguredError (503).
   */
  async list(query: CoordinationListQuery = {}): Promise<CoordinationPage> {
    if (this.#events === undefined) throw eventsNotConfigured('list coordinations');
    return this.#events.list(query);
  }

  /**
   * Coordinations running in the whole deployment — every API instance's, express and standard —
   * by the summaries in the event log: those started in the last RUNNING_WINDOW_MS whose end is
   * not logged, counted from at most RUNNING_COUNT_PAGES pages (`truncated` when it stopped
   * there). Runs started earlier are not counted: a run whose end was never logged (its API
   * stopped mid-run) would otherwise count for the week its log is kept. Undefined without an
   * event log that counts.
   */
  async running(): Promise<(RunningCount & { readonly since: string }) | undefined> {
    if (this.#events?.countRunning === undefined) return undefined;
    const since = new Date(Date.now() - RUNNING_WINDOW_MS).toISOString();
    const counted = await this.#events.countRunning({ since, maxPages: RUNNING_COUNT_PAGES });
    return { ...counted, since };
  }

  /**
   * Cancels a running standard coordination: the engine stops its execution (StopExecution on
   * AWS), no step starts after that, and the run ends with status `cancelled` — in GET
   * /coordinations/{id}, in its event log's `coordination.finished` (the embedded engine appends
   * it before this returns; on AWS the monitor does, from Step Functions' status-change event,
   * within seconds) and so in the listing. Agents already working on its steps may finish, but
   * their answers are dropped: Step Functions refuses the task tokens of a stopped execution.
   *
   * NotFoundError when no such coordination is known; ConflictError when it has ended (naming
   * how) or is express (Step Functions cannot stop an express execution; it ends within its
   * timeout). A run is known from the moment GET /coordinations lists it: one whose execution is
   * still being started is told apart by its event log (see #starting).
   */
  async cancel(
    coordinationId: string,
    options: { readonly by?: string } = {},
  ): Promise<{ readonly coordinationId: string; readonly status: 'cancelled' }> {
    const status =
      (await this.#engine.describe(coordinationId)) ?? (await this.#starting(coordinationId));
    if (status.outcome.status !== 'RUNNING') throw alreadyEnded(coordinationId, status);
    const by = options.by === undefined ? '' : ` by ${options.by}`;
    await this.#engine.stop(coordinationId, {
      error: COORDINATION_CANCELLED,
      cause: `the coordination was cancelled${by}`,
    });
    // The run may have ended on its own between the two reads: then it was not cancelled.
    const after = await this.#engine.describe(coordinationId);
    const ended = after?.outcome.status;
    if (after !== undefined && ended !== 'ABORTED' && ended !== 'RUNNING')
      throw alreadyEnded(coordinationId, after);
    return { coordinationId, status: 'cancelled' };
  }

  /**
   * A coordination the engine does not know, as its event log tells it. Its start is logged
   * before the engine is asked to start it, and GET /coordinations lists it from that moment:
   * an operator may ask to cancel it before its execution exists, even before the started event
   * can be read (its summary is written first). Express: 409, as for any express run. Standard
   * and still running by its log: its execution is waited for (startWaitMs) and is then
   * cancelled as usual. Ended by its log (Step Functions refused the start): 409 saying how.
   * Nothing logged: 404.
   */
  async #starting(coordinationId: string): Promise<ExecutionStatus> {
    const logged = await this.#logged(coordinationId);
    if (logged === undefined)
      throw new NotFoundError(`No coordination ${coordinationId} to cancel.`, { coordinationId });
    if (logged.mode === 'express') {
      throw new ConflictError(
        `Coordination ${coordinationId} is express and cannot be cancelled: Step Functions ` +
          'cannot stop an express execution, which ends within its timeout (at most 5 minutes). ' +
          'Run work you may need to cancel with "mode": "standard".',
        { coordinationId, mode: 'express' },
      );
    }
    const deadline = performance.now() + this.#startWaitMs;
    for (let status = logged.status; ; ) {
      if (status !== undefined && status !== 'running') throw endedAs(coordinationId, status);
      const execution = await this.#engine.describe(coordinationId);
      if (execution !== undefined) return execution;
      if (performance.now() >= deadline) break;
      await sleep(START_POLL_MS);
      status = (await this.#logged(coordinationId))?.status;
    }
    throw new ConflictError(
      `Coordination ${coordinationId} has not started yet: its start is logged, but it has no ` +
        `execution after ${this.#startWaitMs / 1000} s (the start may be waiting out Step ` +
        'Functions throttling, or its caller stopped before starting it). Try again in a moment; ' +
        'GET /coordinations/{id} answers once it has started.',
      { coordinationId, status: 'running' },
    );
  }

  /**
   * The mode (and, where the log keeps its summary, the status) of the coordination its log
   * holds: from its summary, there as soon as its start is allocated; else from its first event.
   */
  async #logged(
    coordinationId: string,
  ): Promise<
    | { readonly mode: 'express' | 'standard'; readonly status: CoordinationStatus | undefined }
    | undefined
  > {
    // Ids are UUIDs (express) or execution names (standard): nothing else is looked up.
    if (this.#events === undefined || !COORDINATION_ID.test(coordinationId)) return undefined;
    const summary = await this.#events.summary?.(coordinationId);
    if (summary !== undefined) return { mode: summary.mode, status: summary.status };
    const [first] = await this.#events.read(coordinationId, { limit: 1 });
    return first?.type === 'coordination.started'
      ? { mode: first.mode, status: undefined }
      : undefined;
  }

  /** Writes the outcomes still pending (embedded runtime shutdown, tests). */
  async settle(): Promise<void> {
    await this.#recorder.settle();
  }

  /** Flushes outcomes and stops the background flush timer. */
  async close(): Promise<void> {
    await this.#recorder.close();
  }

  #machine(plan: Parameters<typeof compile>[0]): CompiledMachine {
    const machine = compile(plan, this.#namePrefix ? { namePrefix: this.#namePrefix } : {});
    // Keep one instance per shape: engines cache their parsed machines by identity of the hash.
    const cached = this.#compiled.get(machine.hash);
    if (cached) return cached;
    this.#compiled.set(machine.hash, machine);
    return machine;
  }

  async #recordOutcomes(result: CoordinationResult): Promise<void> {
    // One outcome per attempt, in the order they happened (the last one decides an agent's breaker
    // count): each step's failed attempts (fallbacks, retries) before its success, steps in order,
    // then the failures of steps that never finished.
    const failures = result.errors.filter((e) => e.agentId !== null);
    const recorded = new Set<CoordinationError>();
    const recordFailures = (stepId: string | null) => {
      for (const error of failures) {
        if (recorded.has(error) || (stepId !== null && error.stepId !== stepId)) continue;
        recorded.add(error);
        // The error's name tells a crash (the task died with the agent) from a failure it reported.
        this.#recorder.add(error.agentId as string, false, 0, error.error);
      }
    };
    for (const step of result.steps) {
      recordFailures(step.stepId);
      if (step.status === 'succeeded') this.#recorder.add(step.agentId, true, step.durationMs ?? 0);
    }
    recordFailures(null);
    if (this.#record === 'await') await this.#recorder.flush();
  }
}

/**
 * How far back running() counts: a day covers every express run (5 minutes at most) and most
 * standard ones; a standard run may run for a year, and is counted for its first day.
 */
export const RUNNING_WINDOW_MS = 24 * 60 * 60 * 1000;
/**
 * The most listing pages running() reads: each is up to 1 MB of summaries (roughly 3 000 runs,
 * 128 read units), whatever their status — GET /health should stay cheap however busy the day.
 */
export const RUNNING_COUNT_PAGES = 1;

/**
 * How long DELETE waits for the execution of a standard run whose start is logged but which the
 * engine does not know yet (StartExecution in flight), and how often it asks.
 */
export const START_WAIT_MS = 5000;
const START_POLL_MS = 100;

/** What a coordination id can be: a UUID (express) or a Step Functions execution name (standard). */
const COORDINATION_ID = /^[A-Za-z0-9_-]{1,80}$/;

/** 409: the run cannot be cancelled, it has ended — saying how, as GET /coordinations/{id} would. */
function alreadyEnded(coordinationId: string, status: ExecutionStatus): ConflictError {
  const ended =
    status.outcome.status === 'RUNNING'
      ? 'running'
      : shapeResult(
          status.input,
          status.outcome,
          (status.stoppedAt ?? new Date()).getTime() - status.startedAt.getTime(),
        ).status;
  return endedAs(coordinationId, ended);
}

function endedAs(coordinationId: string, ended: CoordinationStatus): ConflictError {
  return new ConflictError(
    `Coordination ${coordinationId} has already ended (${ended}): only a running coordination can be cancelled.`,
    { coordinationId, status: ended },
  );
}

/** 503 naming the setting: this deployment keeps no event log, which is what lists runs. */
function eventsNotConfigured(action: string): EventsNotConfiguredError {
  return new EventsNotConfiguredError(
    `Cannot ${action} here: the API has no coordination event log, where every run is kept. Set ` +
      'MOBIUS_EVENTS_TABLE on the API function to the events table (the Mobius CDK stack does), ' +
      'or run the embedded runtime, which keeps one.',
    { missing: 'MOBIUS_EVENTS_TABLE' },
  );
}

/** Why an express run's end is unknown when its caller's signal stopped the wait. */
function stoppedWaiting(signal: AbortSignal): Error {
  const reason = signal.reason instanceof Error ? ` (${signal.reason.message})` : '';
  return Object.assign(
    new Error(
      `The caller stopped waiting for the result${reason}. The run may have gone on in Step ` +
        'Functions, but an express result is kept nowhere: run long work with "mode": "standard".',
    ),
    { name: 'Mobius.ResultAbandoned' },
  );
}

/**
 * Step Functions refuses an execution input over 256 KiB. Checked here, before anything starts, so
 * the caller gets a 413 naming the limit on every engine (the embedded one has no such limit).
 */
function assertFitsStepFunctions(execution: ExecutionInput): void {
  const bytes = Buffer.byteLength(JSON.stringify(execution));
  if (bytes <= LIMITS.stepFunctionsStateBytes) return;
  throw new PayloadTooLargeError(
    `The coordination's execution input is ${bytes} bytes; Step Functions accepts at most ` +
      `${LIMITS.stepFunctionsStateBytes}. Shrink "payload" (or per-step "input"): pass large data by ` +
      'reference, e.g. an S3 key, and let agents fetch it.',
    { field: 'payload', bytes, limit: LIMITS.stepFunctionsStateBytes },
  );
}
