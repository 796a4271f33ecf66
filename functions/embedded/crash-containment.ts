import { AsyncLocalStorage } from 'node:async_hooks';

/** The error names Lambda's Node.js runtime reports when an invocation's environment dies. */
export const CRASH_NAMES = {
  /** An exception nothing caught, thrown from a callback: the runtime process exits. */
  exit: 'Runtime.ExitError',
  /** A promise rejected with no handler: Lambda's runtime fails the invocation and exits. */
  unhandledRejection: 'Runtime.UnhandledPromiseRejection',
  /** The function ran past its timeout and was stopped. */
  timeout: 'Sandbox.Timedout',
} as const;

interface Invocation {
  readonly functionName: string;
  readonly crash: (error: Error) => void;
}

/**
 * Lambda's execution environment, as far as one process can have one. In Lambda an agent that
 * throws from a timer or an event handler, or leaves a rejected promise unhandled, takes its
 * environment down: the invocation fails with `Runtime.ExitError` (or
 * `Runtime.UnhandledPromiseRejection`) and the next one gets a fresh environment. In one Node
 * process the same mistake would end every agent, the coordinator and the API at once. Each
 * invocation therefore runs in an async context of its own; an uncaught exception or unhandled
 * rejection raised in it fails that invocation with Lambda's error (what the state machine's
 * Retry and Catch, and the registry's crash marking, see) and ends nothing else. The agent's
 * work still pending is abandoned, as its environment's would be.
 *
 * An invocation also gets the function's timeout: past it, it fails with `Sandbox.Timedout`
 * and its concurrency slot is free again, as when Lambda stops a function that ran too long.
 *
 * What it cannot contain: `process.exit()` and a synchronous infinite loop end or stall the
 * whole process, as `kill -9` would. Errors raised outside any invocation keep Node's default:
 * printed, and the process exits with code 1 (unless some other listener takes them).
 */
export class CrashContainment {
  /**
   * The instances installed, process-wide. One set of process hooks serves them all, so an error
   * raised outside every invocation is seen once, whichever runtimes share the process: with a
   * listener each, each saw the others' and left the error to them, and nobody handled it.
   */
  static readonly #installed = new Set<CrashContainment>();

  /** Whether uncaught exceptions come through Node's capture callback (others see none). */
  static #capturing = false;

  static readonly #onException = (error: unknown) =>
    CrashContainment.#raised(error, CRASH_NAMES.exit);
  static readonly #onRejection = (reason: unknown) =>
    CrashContainment.#raised(reason, CRASH_NAMES.unhandledRejection);

  readonly #current = new AsyncLocalStorage<Invocation>();

  /**
   * Starts catching what escapes invocations, process-wide, until uninstall(). Uncaught
   * exceptions are taken through Node's capture callback where it is free, so an agent's crash
   * is not also reported by other listeners (a test runner's would fail the run); rejections
   * through an `unhandledRejection` listener. The first instance installed sets these up for
   * every instance; the last one uninstalled removes them.
   */
  install(): void {
    const installed = CrashContainment.#installed;
    if (installed.has(this)) return;
    installed.add(this);
    if (installed.size > 1) return;
    try {
      process.setUncaughtExceptionCaptureCallback(CrashContainment.#onException);
      CrashContainment.#capturing = true;
    } catch {
      // Taken (by a domain, or other code in this process): listen instead.
      process.on('uncaughtException', CrashContainment.#onException);
    }
    process.on('unhandledRejection', CrashContainment.#onRejection);
  }

  uninstall(): void {
    const installed = CrashContainment.#installed;
    if (!installed.delete(this) || installed.size > 0) return;
    if (CrashContainment.#capturing) process.setUncaughtExceptionCaptureCallback(null);
    else process.off('uncaughtException', CrashContainment.#onException);
    CrashContainment.#capturing = false;
    process.off('unhandledRejection', CrashContainment.#onRejection);
  }

  /**
   * Runs one invocation of `functionName`: resolves or rejects as `work` does, or rejects with
   * Lambda's crash error when the invocation crashes or runs past `timeoutMs`, counted from
   * `startedAt` (performance.now(); by default now: time it spent waiting for a slot counts too).
   */
  run<T>(
    functionName: string,
    work: () => Promise<T>,
    timeoutMs?: number,
    startedAt = performance.now(),
  ): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      let settled = false;
      let timer: NodeJS.Timeout | undefined;
      const settle = (finish: () => void) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        finish();
      };
      const invocation: Invocation = {
        functionName,
        crash: (error) => settle(() => reject(error)),
      };
      if (timeoutMs !== undefined) {
        timer = setTimeout(
          () => invocation.crash(timedOut(timeoutMs)),
          Math.max(0, startedAt + timeoutMs - performance.now()),
        );
        timer.unref();
      }
      this.#current.run(invocation, () => {
        work().then(
          (value) => settle(() => resolve(value)),
          (error: unknown) => settle(() => reject(error)),
        );
      });
    });
  }

  /** Fails the invocation the error was raised in, if it is one of this instance's. */
  #claim(error: unknown, name: string): boolean {
    const invocation = this.#current.getStore();
    if (invocation === undefined) return false;
    const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    // Logged even when the invocation had already answered (work it left running crashed later):
    // nothing is swallowed.
    console.error(`embedded Lambda ${invocation.functionName} crashed:`, error);
    invocation.crash(
      lambdaError(
        name,
        name === CRASH_NAMES.exit
          ? `Runtime exited with error: ${message}`
          : `Unhandled promise rejection: ${message}`,
      ),
    );
    return true;
  }

  static #raised(error: unknown, name: string): void {
    for (const containment of CrashContainment.#installed) {
      if (containment.#claim(error, name)) return;
    }
    CrashContainment.#notAnAgents(error, name);
  }

  /** Raised outside any invocation: handled as if this class were not listening. */
  static #notAnAgents(error: unknown, name: string): void {
    const rejection = name === CRASH_NAMES.unhandledRejection;
    // Listeners other than this class's own one.
    if (rejection && process.listenerCount('unhandledRejection') > 1) return; // another listener's
    const others =
      process.listenerCount('uncaughtException') - (CrashContainment.#capturing ? 0 : 1);
    if (others > 0) {
      // Theirs, as Node would have handed it to them: a rejection nobody listens for is raised as
      // an uncaught exception, and the capture callback took exceptions from them.
      if (rejection || CrashContainment.#capturing)
        process.emit('uncaughtException', error as Error);
      return;
    }
    // Node's default when nobody listens.
    console.error(error);
    process.exit(1);
  }
}

/** Lambda's error for an invocation stopped at its function timeout (`Sandbox.Timedout`). */
export function timedOut(timeoutMs: number): Error {
  return lambdaError(
    CRASH_NAMES.timeout,
    `Task timed out after ${(timeoutMs / 1000).toFixed(2)} seconds`,
  );
}

function lambdaError(name: string, message: string): Error {
  return Object.assign(new Error(message), { name });
}
