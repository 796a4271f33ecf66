import { FatalAgentError } from '../messaging/agent-errors.ts';
import { type JsonValue, jsonOutput } from '../sdk/json-output.ts';

/**
 * One piece of a streamed answer: a text delta (an LLM's tokens) or a JSON value (a partial
 * result, a progress record). `seq` counts from 0 per invocation; chunks are delivered in `seq`
 * order and none is ever skipped, so a gap is a bug, never a loss to guess about.
 */
export type StreamChunk =
  | { readonly seq: number; readonly text: string }
  | { readonly seq: number; readonly data: JsonValue };

/**
 * The largest chunk, serialised as JSON (`{"seq":…,"text":…}`), as every path carries it. The same
 * bound as a Step Functions state and an SQS message: a chunk always fits one event-log item and
 * one SSE event, whatever path it travels. It is measured as JSON, not as raw text, because JSON
 * escapes control characters six bytes for one (`\u0001`) and quotes and backslashes two for one.
 */
export const MAX_CHUNK_BYTES = 256 * 1024;

/**
 * What the handler yielded (or passed to `context.stream`) as chunk `seq`: a string is a text
 * delta, anything else must be JSON (the same rules as a handler's result). A value that cannot
 * travel is the agent's bug, reported as a FatalAgentError naming the chunk.
 */
export function chunkOf(value: unknown, seq: number, agentId: string): StreamChunk {
  if (typeof value === 'string') return fitting({ seq, text: value }, agentId);
  let data: JsonValue;
  try {
    data = jsonOutput(value, agentId);
  } catch (error) {
    throw new FatalAgentError(
      `Agent ${agentId} streamed chunk ${seq}, which cannot travel: ${(error as Error).message}`,
    );
  }
  return fitting({ seq, data }, agentId);
}

function fitting(chunk: StreamChunk, agentId: string): StreamChunk {
  const bytes = Buffer.byteLength(JSON.stringify(chunk));
  if (bytes <= MAX_CHUNK_BYTES) return chunk;
  throw new FatalAgentError(
    `Agent ${agentId} streamed chunk ${chunk.seq} of ${bytes} bytes as JSON; a chunk holds at ` +
      `most ${MAX_CHUNK_BYTES}. Stream smaller pieces.`,
  );
}

/**
 * The final output of a streamed invocation, for callers that do not stream: what the handler
 * returned, or — when it returned nothing — what it streamed, so that nothing is lost: text deltas
 * joined into one string when every chunk was text, else the list of chunk values in order.
 */
export function finalOutput(returned: unknown, chunks: readonly StreamChunk[]): unknown {
  if (returned !== undefined || chunks.length === 0) return returned;
  if (chunks.every((c) => 'text' in c))
    return chunks.map((c) => ('text' in c ? c.text : '')).join('');
  return chunks.map((c) => ('text' in c ? c.text : c.data));
}

/** True for what `async function*` (or `function*`) returns: the handler is streaming. */
export function isChunkSource(value: unknown): value is AsyncIterator<unknown> | Iterator<unknown> {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { next?: unknown }).next === 'function' &&
    (Symbol.asyncIterator in value || Symbol.iterator in value)
  );
}
