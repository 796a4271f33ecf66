import type { Logger } from '@aws-lambda-powertools/logger';
import { type ResponseStream, writeWithBackPressure } from '../aws/lambda-streaming.ts';
import { asAgentError, FatalAgentError } from '../messaging/agent-errors.ts';
import type { Envelope } from '../messaging/envelope.ts';
import type { StreamChunk } from '../streaming/chunks.ts';
import { type AgentStreamFrame, FRAMES_CONTENT_TYPE, formatFrame } from '../streaming/frames.ts';
import type { ChunkSink } from './chunk-pump.ts';
import { classifyEvent } from './incoming.ts';

/**
 * Answers one request on a Lambda response stream, in Mobius frames (streaming/frames.ts): a
 * `{"chunk":…}` line per chunk as the handler makes it, then `{"response":…}` with the response
 * envelope or `{"error":…}`, then the end of the stream. `respond` runs the handler with the sink it
 * is given and resolves to the response; whatever it throws becomes the error frame.
 *
 * Each write waits while the stream's buffer is full, and the handler waits with it: a slow reader
 * slows the agent instead of filling its memory. A reader that goes away stops the handler: the
 * chunk sink rejects from then on, so a generator handler ends at its next `yield` (the SDK closes
 * it, and its `finally` blocks run) and the next `context.stream(...)` rejects; nobody is left to
 * pay for work whose output goes nowhere. The invocation then ends quietly, with no unhandled
 * rejection and nothing more written.
 */
export async function respondInFrames(
  responseStream: ResponseStream,
  logger: Logger,
  respond: (sink: ChunkSink) => Promise<Envelope>,
): Promise<void> {
  const frames = new FrameWriter(responseStream, logger);
  let last: AgentStreamFrame;
  try {
    last = { response: await respond(frames.chunk) };
  } catch (thrown) {
    const { name, message } = asAgentError(thrown);
    last = { error: { errorType: name, errorMessage: message } };
  }
  await frames.end(last);
}

class FrameWriter {
  readonly #stream: ResponseStream;
  readonly #logger: Logger;
  /** Set once the reader is gone: nothing more is written, and that is said once. */
  #gone = false;

  constructor(stream: ResponseStream, logger: Logger) {
    this.#stream = stream;
    this.#logger = logger;
    stream.setContentType?.(FRAMES_CONTENT_TYPE);
    // A reader that leaves can destroy the stream with an error; without a listener Node would
    // make that an uncaught exception and end the process, every other invocation in it included.
    stream.on('error', (error) => this.#readerGone(error));
  }

  /** The chunk sink: rejects once the reader is gone, which stops the handler (see respondInFrames). */
  readonly chunk = async (chunk: StreamChunk): Promise<void> => {
    if (!(await this.#write({ chunk }))) throw new ReaderGoneError();
  };

  /** The last frame, then the end of the stream; nothing, quietly, when the reader is gone. */
  async end(frame: AgentStreamFrame): Promise<void> {
    await this.#write(frame);
    const stream = this.#stream;
    if (this.#gone || stream.destroyed || stream.writableEnded) return;
    stream.end();
  }

  /** Whether the frame was written: false once the reader is gone. */
  async #write(frame: AgentStreamFrame): Promise<boolean> {
    if (this.#gone) return false;
    try {
      await writeWithBackPressure(this.#stream, formatFrame(frame));
      return true;
    } catch (error) {
      this.#readerGone(error);
      return false;
    }
  }

  #readerGone(error: unknown): void {
    if (this.#gone) return;
    this.#gone = true;
    this.#logger.warn(
      'the reader of the response stream went away; the handler is stopped at its next chunk',
      { error },
    );
  }
}

/**
 * What a chunk written after the reader left fails with: the handler's next `yield` or
 * `context.stream(...)` ends it, since nobody can receive what it makes.
 */
export class ReaderGoneError extends Error {
  override readonly name = 'ReaderGoneError';
  constructor() {
    super('the reader of the streamed answer went away: the handler is stopped');
  }
}

/**
 * The request envelope the streaming entry was invoked with. Tasks, events, pings and batches have
 * nobody reading a stream: they belong to the main function, and are refused here saying so.
 */
export function streamedRequestOf(event: unknown, agentId: string): Envelope {
  const incoming = classifyEvent(event);
  if (incoming.kind === 'envelope' && incoming.envelope.type === 'request')
    return incoming.envelope;
  const what =
    incoming.kind === 'envelope'
      ? `a ${incoming.envelope.type} message`
      : incoming.kind === 'unrecognised'
        ? `something else (${incoming.reason})`
        : `a ${incoming.kind}`;
  throw new FatalAgentError(
    `Agent ${agentId}: the streaming entry takes requests only, and this is ${what}. ` +
      "Send tasks, events and pings to the agent's main function (endpoint.lambdaArn).",
  );
}

/** What the streaming entry's middy chain carries: the event, and the stream to answer on. */
export interface StreamedRequest {
  readonly event: unknown;
  readonly responseStream: ResponseStream;
}

export function streamedRequest(event: unknown, responseStream: ResponseStream): StreamedRequest {
  // Not enumerable: a logger told to log the event (POWERTOOLS_LOGGER_LOG_EVENT) logs the event,
  // not the stream object.
  return Object.defineProperty({ event }, 'responseStream', {
    value: responseStream,
  }) as StreamedRequest;
}
