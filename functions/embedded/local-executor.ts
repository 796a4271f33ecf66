import {
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
 */
export type AgentInvoker = (target: string, task: Record<string, unknown>) => Promise<unknown>;

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
    options: { retryIntervalMs?: number; countTransitions?: boolean } = {},
  ): Promise<LocalRun> {
    const stateMachine = this.#machine(machine);
    const handlers: Record<string, (input: unknown) => Promise<unknown>> = {};
    const retryIntervalOverrides: Record<string, number> = {};
    for (const [name, state] of taskStates(machine.definition.States)) {
      handlers[name] =
        state.Resource === RESOURCES.standard ? standardTask(invoke) : expressTask(invoke);
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
    let transitions = 0;
    const counting = options.countTransitions
      ? (async () => {
          for await (const event of execution.eventLogs)
            if (event.type === 'StateEntered') transitions++;
        })()
      : Promise.resolve();
    let outcome: ExecutionOutcome;
    try {
      outcome = { status: 'SUCCEEDED', output: await execution.result };
    } catch (error) {
      if (error instanceof ExecutionTimeoutError) outcome = { status: 'TIMED_OUT' };
      else if (error instanceof ExecutionError) {
        const cause = (error as { cause?: { name?: string; message?: string } }).cause;
        outcome = {
          status: 'FAILED',
          error: cause?.name ?? 'States.Runtime',
          cause: cause?.message ?? null,
        };
      } else throw error;
    }
    await counting;
    return { outcome, transitions };
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

function expressTask(invoke: AgentInvoker) {
  return async (input: unknown) => {
    const { FunctionName, Payload } = input as {
      FunctionName: string;
      Payload: Record<string, unknown>;
    };
    return {
      StatusCode: 200,
      ExecutedVersion: '$LATEST',
      Payload: await invokeAsLambda(invoke, FunctionName, Payload),
    };
  };
}

function standardTask(invoke: AgentInvoker) {
  return async (input: unknown) => {
    const { QueueUrl, MessageBody } = input as {
      QueueUrl: string;
      MessageBody: Record<string, unknown>;
    };
    const { taskToken: _token, heartbeatSeconds: _heartbeat, ...task } = MessageBody;
    return invokeAsLambda(invoke, QueueUrl, task);
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
): Promise<unknown> {
  try {
    return await invoke(target, task);
  } catch (error) {
    throw asAgentError(error);
  }
}
