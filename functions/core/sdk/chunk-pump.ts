import type { Logger } from '@aws-lambda-powertools/logger';
import { asAgentError, FatalAgentError } from '../messaging/agent-errors.ts';
import { LIMITS } from '../messaging/limits.ts';
import { chunkOf, finalOutput, isChunkSource, type StreamChunk } from '../streaming/chunks.ts';

/**
 * Where one invocation's chunks go as they are made: the coordination event log (a task), the
 * Lambda response stream (the streaming entry), or nowhere but the final output. It resolves once
 * the chunk is taken, and a sink that is slow makes the handler wait (back-pressure).
 */
export type ChunkSink = (chunk: StreamChunk) => Promise<void>;

/**
 * The most a handler may stream without returning a final value, and why: callers that do not
 * stream get the chunks folded into one output (joined text, or the list of values), which has to
 * fit where that output goes. Beyond it the chunks still go to their sink; only the fold is given
 * up, and then an invocation that returns nothing fails saying why, before the output is refused
 * further on with an error that names neither the agent nor the fix.
 */
export interface FoldLimit {
  /** The folded output's JSON, in bytes. */
  readonly bytes: number;
  /** Where the output goes and what it holds, for the error. */
  readonly where: string;
}

/** A message's output: Lambda's synchronous response (and the function's memory). */
export const MESSAGE_FOLD_LIMIT: FoldLimit = {
  bytes: 6 * 1024 * 1024,
  where: "Lambda's synchronous response, which holds at most 6 MB",
};

/**
 * A coordination step's output: it travels through Step Functions, which refuses a state output
 * over 256 KB (States.DataLimitExceeded, naming neither the agent nor the fix).
 */
export const TASK_FOLD_LIMIT: FoldLimit = {
  bytes: LIMITS.stepFunctionsStateBytes,
  where: 'Step Functions, which carries at most 256 KB of a step’s output',
};

/**
 * One invocation's stream: numbers the chunks (seq 0, 1, 2…), hands them to the sink one after the
 * other in that order, drains a generator handler, and works out the final output for callers that
 * do not stream (`finalOutput`). Nothing is dropped without a word: a chunk that cannot travel
 * fails the invocation even if the handler caught the error, and a chunk streamed after the handler
 * finished is refused, logged and thrown to its caller.
 */
export class ChunkPump {
  readonly #agentId: string;
  readonly #sink: ChunkSink | undefined;
  readonly #logger: Logger;
  readonly #limit: FoldLimit;
  #seq = 0;
  /** The last delivery: each waits for the one before, so chunks reach the sink in seq order. */
  #tail: Promise<void> = Promise.resolve();
  /** Kept for the fold until the handler returns a value (then dropped) or they pass the bound. */
  #kept: StreamChunk[] = [];
  /** Their values' JSON, without separators: never more than the fold's own JSON. */
  #keptBytes = 0;
  #overflowed = false;
  #failure: Error | undefined;
  #finished = false;

  constructor(
    agentId: string,
    sink: ChunkSink | undefined,
    logger: Logger,
    limit: FoldLimit = MESSAGE_FOLD_LIMIT,
  ) {
    this.#agentId = agentId;
    this.#sink = sink;
    this.#logger = logger;
    this.#limit = limit;
  }

  /** `context.stream`: a bound function, so handlers may pass it around. */
  readonly stream = (value: unknown): Promise<void> => {
    const seq = this.#seq;
    if (this.#finished) {
      const error = new FatalAgentError(
        `Agent ${this.#agentId} streamed chunk ${seq} after its handler had finished, so nobody ` +
          'can receive it: await context.stream(...) before the handler returns.',
      );
      this.#logger.error('chunk streamed after the handler finished', { seq, error });
      return Promise.reject(error);
    }
    if (this.#failure !== undefined) return settled(Promise.reject(this.#failure));
    let chunk: StreamChunk;
    try {
      chunk = chunkOf(value, seq, this.#agentId);
    } catch (error) {
      this.#failure = asAgentError(error);
      return settled(Promise.reject(this.#failure));
    }
    this.#seq++;
    this.#keep(chunk);
    const sink = this.#sink;
    const delivered = sink === undefined ? this.#tail : this.#tail.then(() => sink(chunk));
    this.#tail = delivered.catch((error: unknown) => {
      this.#failure ??= asAgentError(error);
    });
    return settled(delivered);
  };

  /**
   * The final output from what the handler returned (a generator is drained first: each value it
   * yields is a chunk, the value it returns is the result), once every chunk has reached the sink.
   */
  async finish(result: unknown): Promise<unknown> {
    const returned = isChunkSource(result) ? await this.#drain(result) : result;
    await this.close();
    const kept = this.#kept;
    this.#kept = [];
    if (this.#failure !== undefined) throw this.#failure;
    if (returned !== undefined) return returned;
    if (this.#overflowed) throw this.#tooLargeToFold();
    const folded = finalOutput(undefined, kept);
    // What was kept counts the values alone; the fold adds a few bytes of its own (commas).
    if (Buffer.byteLength(JSON.stringify(folded ?? null)) > this.#limit.bytes)
      throw this.#tooLargeToFold();
    return folded;
  }

  #tooLargeToFold(): FatalAgentError {
    return new FatalAgentError(
      `Agent ${this.#agentId} streamed more than ${this.#limit.bytes} bytes and returned ` +
        'no final value, so its output would be its chunks joined, and that output goes to ' +
        `${this.#limit.where}: return a final value (a summary, or null) from the handler.`,
    );
  }

  /**
   * Waits for the chunks already streamed to reach the sink (a handler that threw after streaming
   * still delivers what it streamed before its error), then refuses any later chunk.
   */
  async close(): Promise<void> {
    await this.#tail;
    this.#finished = true;
  }

  /** Runs a generator to its end, one chunk at a time: the next value is asked for once the sink took the last. */
  async #drain(source: AsyncIterator<unknown> | Iterator<unknown>): Promise<unknown> {
    for (;;) {
      // A sync generator may yield promises: they are awaited, as `for await` would.
      const step = await source.next();
      const value = await step.value;
      if (step.done) return value;
      try {
        await this.stream(value);
      } catch (error) {
        // Let the generator's finally blocks run (close connections), then fail with the chunk's error.
        await Promise.resolve(source.return?.()).catch(() => undefined);
        throw error;
      }
    }
  }

  #keep(chunk: StreamChunk): void {
    if (this.#overflowed) return;
    // As JSON, escapes included, but without a text's quotes: joined texts share one pair.
    this.#keptBytes +=
      'text' in chunk
        ? Buffer.byteLength(JSON.stringify(chunk.text)) - 2
        : Buffer.byteLength(JSON.stringify(chunk.data));
    if (this.#keptBytes <= this.#limit.bytes) {
      this.#kept.push(chunk);
      return;
    }
    this.#overflowed = true;
    this.#kept = [];
  }
}

/**
 * The same promise, marked as handled: a handler that does not await `context.stream` must not
 * crash the process with an unhandled rejection. The error is not lost: the pump keeps it and the
 * invocation fails with it.
 */
function settled(promise: Promise<void>): Promise<void> {
  promise.catch(() => undefined);
  return promise;
}
