import {
  ExecutionAbortedError,
  ExecutionError,
  ExecutionTimeoutError,
  StateMachine,
  type StateMachineDefinition,
} from 'aws-local-stepfunctions';
import { type States, taskStates } from '../../statemachines/asl.ts';
import type { CompiledMachine } from '../../statemachines/compile.ts';
import { RESOURCES } from '../../statemachines/tasks.ts';
import { aslErrors } from '../../statemachines/validate.ts';
import type { ExecutionOutcome } from '../coordination/execution.ts';
import { asAgentError } from '../core/messaging/agent-errors.ts';

/**
 * Calls the agent behind `target` (a Lambda ARN in express machines, a queue URL in standard ones)
 * with a task payload and resolves with its task result — what Lambda's response Payload, or the
 * agent's SendTaskSuccess output, would carry. Errors keep their `name`: it is the ASL error.
 * `timeoutSeconds` is the Task state's own timeout when it is fixed (`TimeoutSeconds`); a timeout
 * per run (`TimeoutSecondsPath`) is in the task as `timeoutSeconds`.
 */
export type AgentInvoker = (
  target: string,
  task: Record<string, unknown>,
  options?: { readonly timeoutSeconds?: number },
) => Promise<unknown>;

export interface LocalRun {
  readonly outcome: ExecutionOutcome;
  /** States entered, Map iterations included: Step Functions' billable state transitions. */
  readonly transitions: number;
}

export interface LocalStateMachinesOptions {
  /**
   * Check each new machine shape with asl-validator before its first run, as Step Functions does
   * on CreateStateMachine; an invalid one is refused with the validator's errors. It costs
   * 150–550 ms per new shape (the validator compiles its JSON schemas on every call), which is why
   * the embedded runtime leaves it off: the compiler's output for every pattern, failure mode and
   * mode is validated in the test suite, and `mobius compile` validates what it prints.
   * @default true
   */
  readonly validate?: boolean;
}

/**
 * Runs compiled machines in aws-local-stepfunctions, a real ASL interpreter, with every Task bound
 * to `invoke`. Express tasks see what `lambda:invoke` returns (`{ Payload, StatusCode }`); standard
 * tasks see the agent's result as if it had answered its task token. Parsed machines are cached by
 * content hash, so a shape is prepared (and validated, when asked) once.
 */
export class LocalStateMachines {
  readonly #cache = new Map<string, StateMachine>();
  readonly #validate: boolean;

  constructor(options: LocalStateMachinesOptions = {}) {
    this.#validate = options.validate ?? true;
  }

  async run(
    machine: CompiledMachine,
    input: object,
    invoke: AgentInvoker,
    options: {
      retryIntervalMs?: number;
      countTransitions?: boolean;
      /**
       * Stops the run as StopExecution does: no state starts after it, the tasks in flight are
       * left to finish unheard, and the outcome is ABORTED (with no error or cause of its own).
       */
      signal?: AbortSignal;
    } = {},
  ): Promise<LocalRun> {
    const stateMachine = this.#machine(machine);
    const handlers: Record<string, (input: unknown) => Promise<unknown>> = {};
    const retryIntervalOverrides: Record<string, number> = {};
    // Tasks in flight, so that a run stopped by its timeout can say which agents it was waiting for.
    const running = new Set<{ agentId: string; stepId: string }>();
    const tracked: AgentInvoker = async (target, task, options) => {
      const entry = { agentId: String(task.agentId), stepId: String(task.stepId) };
      running.add(entry);
      try {
        return await invokeAsLambda(invoke, target, task, options);
      } finally {
        running.delete(entry);
      }
    };
    for (const [name, state] of taskStates(machine.definition.States)) {
      const timeout =
        state.TimeoutSeconds === undefined ? {} : { timeoutSeconds: state.TimeoutSeconds };
      handlers[name] =
        state.Resource === RESOURCES.standard
          ? standardTask(tracked, timeout)
          : expressTask(tracked, timeout);
      if (options.retryIntervalMs !== undefined)
        retryIntervalOverrides[name] = options.retryIntervalMs;
    }
    const execution = stateMachine.run(input as never, {
      overrides: {
        taskResourceLocalHandlers: handlers as never,
        ...(options.retryIntervalMs === undefined ? {} : { retryIntervalOverrides }),
      },
      // Standard tasks reference $$.Task.Token; the embedded runtime answers tokens in-process.
      context: { Task: { Token: 'embedded' } } as never,
    });
    const watch = watchProgress(execution.eventLogs as AsyncIterable<RunEvent>);
    const abort = () => execution.abort();
    if (options.signal?.aborted) abort();
    else options.signal?.addEventListener('abort', abort, { once: true });
    let outcome: ExecutionOutcome;
    try {
      outcome = { status: 'SUCCEEDED', output: await execution.result };
    } catch (error) {
      const stillRunning = [...running];
      const { transitions: _t, ...where } = await watch;
      const progress = { ...progressOf(machine, where), running: stillRunning };
      if (error instanceof ExecutionTimeoutError) outcome = { status: 'TIMED_OUT', progress };
      else if (error instanceof ExecutionAbortedError)
        outcome = { status: 'ABORTED', error: null, cause: null, progress };
      else if (error instanceof ExecutionError) {
        const cause = (error as { cause?: { name?: string; message?: string } }).cause;
        outcome = {
          status: 'FAILED',
          error: cause?.name ?? 'States.Runtime',
          cause: cause?.message ?? null,
          progress,
        };
      } else throw error;
    } finally {
      options.signal?.removeEventListener('abort', abort);
    }
    const { transitions } = await watch;
    return { outcome, transitions: options.countTransitions ? transitions : 0 };
  }

  #machine(machine: CompiledMachine): StateMachine {
    let cached = this.#cache.get(machine.hash);
    if (cached === undefined) {
      if (this.#validate) {
        const errors = aslErrors(machine.definition);
        if (errors.length > 0)
          throw new Error(`State machine ${machine.name} is invalid ASL: ${errors.join('; ')}`);
      }
      const definition = structuredClone(machine.definition);
      readTimeoutsFromPayload(definition.States);
      // Validated above (or deliberately not): the interpreter's own check would repeat the cost.
      cached = new StateMachine(definition as unknown as StateMachineDefinition, {
        validationOptions: { noValidate: true },
      });
      this.#cache.set(machine.hash, cached);
    }
    return cached;
  }
}

/** The interpreter's events this executor reads (see aws-local-stepfunctions' EventLog). */
interface RunEvent {
  readonly type: string;
  /** Set on events from inside a Map iteration. */
  readonly index?: number;
  readonly state?: { readonly name: string; readonly input: unknown; readonly output?: unknown };
  readonly parentState?: { readonly name: string };
  /** MapIterationSucceeded: the iteration's output. */
  readonly output?: unknown;
}

interface Watched {
  readonly transitions: number;
  /** The last top-level state entered, and the data it was entered with (or left with). */
  readonly stoppedIn: string;
  readonly state: unknown;
  /** Outputs of the finished iterations of the top-level Map the run stopped in, by index. */
  readonly iterations: ReadonlyMap<number, unknown>;
}

/**
 * Follows a run through the interpreter's event log: the billable transitions, and where a run
 * that failed or timed out had got to. The log is written whether or not anyone reads it.
 */
async function watchProgress(events: AsyncIterable<RunEvent>): Promise<Watched> {
  let transitions = 0;
  let stoppedIn = '';
  let state: unknown = {};
  let iterations = new Map<number, unknown>();
  for await (const event of events) {
    if (event.type === 'StateEntered') transitions++;
    const topLevel = event.index === undefined && event.state !== undefined;
    if (topLevel && event.type === 'StateEntered' && event.state) {
      stoppedIn = event.state.name;
      state = event.state.input;
      iterations = new Map();
    } else if (topLevel && event.type === 'StateExited' && event.state) {
      state = event.state.output;
    } else if (event.type === 'MapIterationSucceeded' && event.index !== undefined) {
      iterations.set(event.index, event.output);
    }
  }
  return { transitions, stoppedIn, state, iterations };
}

/**
 * Where the run stopped. Stopped inside a Map, the iterations that had finished are written where
 * the Map would have put its results, in order, with an empty record for each one that had not:
 * the result shaper reads them as it reads a finished Map's.
 */
function progressOf(
  machine: CompiledMachine,
  watched: Omit<Watched, 'transitions'>,
): { state: unknown; stoppedIn: string } {
  const { stoppedIn, iterations } = watched;
  const stopped = machine.definition.States[stoppedIn];
  const state = watched.state;
  if (stopped?.Type !== 'Map' || iterations.size === 0 || !isRecord(state)) {
    return { state, stoppedIn };
  }
  const field = stopped.ResultPath?.startsWith('$.') ? stopped.ResultPath.slice(2) : undefined;
  if (field === undefined || field.includes('.')) return { state, stoppedIn };
  const last = Math.max(...iterations.keys());
  const records = Array.from({ length: last + 1 }, (_, i) => iterations.get(i) ?? {});
  return { state: { ...state, [field]: records }, stoppedIn };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/**
 * aws-local-stepfunctions evaluates TimeoutSecondsPath against the task's Parameters output, where
 * Step Functions evaluates it against the state's input. The compiler puts the same value into the
 * task payload (`timeoutSeconds.$` next to TimeoutSecondsPath), so pointing the interpreter there
 * keeps the semantics: each run gets exactly the timeout Step Functions would give it.
 */
function readTimeoutsFromPayload(states: States): void {
  for (const [, state] of taskStates(states)) {
    if (state.TimeoutSecondsPath === undefined) continue;
    state.TimeoutSecondsPath =
      state.Resource === RESOURCES.standard
        ? '$.MessageBody.timeoutSeconds'
        : '$.Payload.timeoutSeconds';
  }
}

function expressTask(invoke: AgentInvoker, options: { timeoutSeconds?: number }) {
  return async (input: unknown) => {
    const { FunctionName, Payload } = input as {
      FunctionName: string;
      Payload: Record<string, unknown>;
    };
    return {
      StatusCode: 200,
      ExecutedVersion: '$LATEST',
      Payload: await invoke(FunctionName, Payload, options),
    };
  };
}

function standardTask(invoke: AgentInvoker, options: { timeoutSeconds?: number }) {
  return async (input: unknown) => {
    const { QueueUrl, MessageBody } = input as {
      QueueUrl: string;
      MessageBody: Record<string, unknown>;
    };
    const { taskToken: _token, heartbeatSeconds: _heartbeat, ...task } = MessageBody;
    return invoke(QueueUrl, task, options);
  };
}

/**
 * Lambda (and SendTaskFailure) always hand Step Functions an error with a name and a message,
 * whatever the function threw; the interpreter reads `name` and `message` off whatever it is
 * given, and a bare `throw null` would crash it instead of reaching the state's Catch.
 */
async function invokeAsLambda(
  invoke: AgentInvoker,
  target: string,
  task: Record<string, unknown>,
  options: { timeoutSeconds?: number } | undefined,
): Promise<unknown> {
  try {
    return await invoke(target, task, options);
  } catch (error) {
    throw asAgentError(error);
  }
}
