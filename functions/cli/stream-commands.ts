import {
  ApiError,
  type CoordinationEvent,
  createClient,
  EventStreamError,
  type Schemas,
} from './client.ts';
import { apiProblem, DEFAULT_API } from './commands.ts';
import { dim, green, jsonText, printable, printableLines, red } from './format.ts';
import { type Io, PartWriter } from './io.ts';
import { exitCodeOf, LiveProgress, printResult } from './progress.ts';
import { UsageError } from './usage-error.ts';

/**
 * The CLI commands that read the API's server-sent events: `mobius watch` (a coordination's live
 * events) and `mobius send` (a message, its answer streamed with `--stream`). Both work against
 * `mobius dev` and a deployed stack (SigV4-signed, as every command that calls the API).
 */

/**
 * `mobius watch <coordinationId>`: follows a coordination's live events from the start (a run
 * that already ended is replayed), printing them as `mobius run` does, then its result. A dropped
 * connection is resumed with Last-Event-ID (the typed client tries 5 times, with backoff; a
 * connection the API closes cleanly is resumed however long the run takes). Exit code 0 when the
 * coordination succeeded or partially succeeded, 1 when it failed, was cancelled or could not be
 * followed to its end (the error and what to do are printed).
 */
export async function watchCommand(
  coordinationId: string,
  options: { api?: string; json?: boolean },
  io: Io,
  signal?: AbortSignal,
): Promise<number> {
  const base = options.api ?? DEFAULT_API;
  const progress = options.json ? undefined : new LiveProgress(io);
  let finished: Extract<CoordinationEvent, { type: 'coordination.finished' }> | undefined;
  try {
    const events = createClient(base).watchCoordination(coordinationId, {
      ...(signal === undefined ? {} : { signal }),
    });
    for await (const event of events) {
      // --json: one event per line (NDJSON), as the API sent it.
      if (options.json) io.out(jsonText(event));
      else progress?.print(event);
      if (event.type === 'coordination.finished') finished = event;
    }
  } catch (error) {
    progress?.end();
    const fix = watchFix(error, coordinationId, base);
    if (fix !== undefined) {
      io.err(
        red(
          `✘ ${printable(error instanceof ApiError ? apiErrorText(error) : (error as Error).message)}`,
        ),
      );
      io.err(fix);
      return 1;
    }
    if (error instanceof EventStreamError) {
      io.err(red(`✘ ${printable(error.message)}`));
      return 1;
    }
    if (error instanceof ApiError && error.status === 404)
      throw new UsageError(
        `No coordination ${coordinationId} at ${base}. Check the id (mobius run and POST /coordinations print it) and that --api is the API that ran it; events are kept for 7 days.`,
      );
    throw apiProblem(error, base);
  }
  progress?.end();
  // Stopped before the end (interrupted): nothing to report.
  if (finished === undefined) return 130;
  if (!options.json) printResult(finished.result, io, false);
  return exitCodeOf(finished.status);
}

/** `CODE: message` of the API's error body, else the error's own message. */
function apiErrorText(error: ApiError): string {
  const message = (error.body as Partial<Schemas['Error']> | undefined)?.error?.message;
  return error.code !== undefined && message !== undefined
    ? `${error.code}: ${message}`
    : error.message;
}

/**
 * What to do when watching stopped without the coordination's end: undefined for the errors
 * that are no watching problem (an unknown id, an API out of reach: usage errors, with their own
 * fix) or that are the API's answer as such (a malformed event).
 */
function watchFix(error: unknown, coordinationId: string, base: string): string | undefined {
  const result = `GET ${base}/coordinations/${coordinationId} answers its status or result`;
  if (error instanceof ApiError && error.code === 'EVENTS_NOT_CONFIGURED')
    return `The API at ${base} keeps no coordination event log, so it cannot stream a run. Watch runs of \`mobius dev\`, or of a stack deployed with the Mobius CDK construct (it gives the API its events table, MOBIUS_EVENTS_TABLE); for this run, ${result}.`;
  // The stream's own `error` event, one asking again does not change (a 4xx): the run goes on.
  if (error instanceof ApiError && error.midStream)
    return `The API stopped the stream for the reason above; the coordination itself goes on, and ${result}.`;
  // Reconnections (after drops, 5xx answers or 5xx error events) that did not bring it back.
  if (error instanceof EventStreamError && error.cause !== undefined)
    return `The coordination itself goes on: \`mobius watch ${coordinationId}\` again replays it from its start, and ${result}.`;
  return undefined;
}

/** A payload given on the command line: JSON when it parses, else the text as a string. */
export function payloadOf(text: string): Schemas['JsonValue'] {
  try {
    return JSON.parse(text) as Schemas['JsonValue'];
  } catch {
    return text;
  }
}

/**
 * `mobius send <agent> <payload>`: a direct message. Queued (202) by default; `--wait` prints the
 * response; `--stream` prints the agent's chunks on stdout as they arrive (text inline, data as
 * JSON lines), then ends the line; the response payload follows only when nothing was streamed.
 * `--json` prints the API's answer (with `--stream`, every event as one JSON line). Exit code 1
 * when the agent failed.
 */
export async function sendCommand(
  agentId: string,
  payload: string,
  options: { api?: string; wait?: boolean; stream?: boolean; timeout?: number; json?: boolean },
  io: Io,
): Promise<number> {
  const base = options.api ?? DEFAULT_API;
  const client = createClient(base);
  const message: Schemas['MessageRequest'] = {
    to: agentId,
    payload: payloadOf(payload),
    ...(options.timeout === undefined ? {} : { timeout: options.timeout }),
  };
  try {
    if (options.stream) return await streamed(client.streamMessage(message), options, io);
    const answer = await client.sendMessage({
      body: options.wait ? { ...message, wait: true } : message,
    });
    if (options.json) io.out(jsonText(answer.body, 2));
    else if (answer.status === 200) io.out(jsonText(answer.body.response.payload, 2));
    else
      io.out(
        `queued ${answer.body.messageId} for ${answer.body.agentId} (conversation ${answer.body.conversationId})`,
      );
    return 0;
  } catch (error) {
    // An agent that failed (502/504), a stream cut off: the command's outcome, not a usage problem.
    if ((error instanceof ApiError && error.status >= 500) || error instanceof EventStreamError) {
      io.err(red(`✘ ${printable(error.message)}`));
      return 1;
    }
    throw apiProblem(error, base);
  }
}

async function streamed(
  events: ReturnType<ReturnType<typeof createClient>['streamMessage']>,
  options: { json?: boolean },
  io: Io,
): Promise<number> {
  const text = new PartWriter(io, 'out');
  let chunks = 0;
  for await (const event of events) {
    if (options.json) {
      io.out(jsonText(event));
      if (event.event === 'error') return 1;
      continue;
    }
    if (event.event === 'chunk') {
      chunks++;
      if ('text' in event.data) text.write(printableLines(event.data.text));
      else {
        text.end();
        io.out(jsonText(event.data.data));
      }
    } else if (event.event === 'response') {
      text.end();
      if (chunks === 0) io.out(jsonText(event.data.payload, 2));
      io.err(dim(`${green('✔')} ${printable(String(event.data.from ?? 'the agent'))} answered`));
      return 0;
    } else {
      text.end();
      io.err(red(`✘ ${printable(`${event.data.error.code}: ${event.data.error.message}`)}`));
      return 1;
    }
  }
  text.end();
  return 0;
}
