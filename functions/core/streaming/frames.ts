import { AgentFailedError } from '../errors.ts';
import type { Envelope } from '../messaging/envelope.ts';
import { deserialize } from '../messaging/envelope.ts';
import type { StreamChunk } from './chunks.ts';

/**
 * What a streaming agent writes to its Lambda response stream for one request, one JSON object
 * per line (NDJSON): its chunks in order, then exactly one of the response envelope or the error.
 * The router reads it from InvokeWithResponseStream on AWS and from the embedded Lambda endpoint,
 * which speaks the same API.
 */
export type AgentStreamFrame =
  | { readonly chunk: StreamChunk }
  | { readonly response: Envelope }
  | { readonly error: { readonly errorType: string; readonly errorMessage: string } };

export const FRAMES_CONTENT_TYPE = 'application/x-ndjson';

export function formatFrame(frame: AgentStreamFrame): string {
  return `${JSON.stringify(frame)}\n`;
}

/**
 * Frames from the bytes of a response stream, as they arrive. A function that does not stream (an
 * agent on an older SDK, or built without response streaming) answers with one plain response
 * envelope: that is read as its response, with no chunks before it.
 */
export async function* readFrames(
  agentId: string,
  payloads: AsyncIterable<Uint8Array>,
): AsyncGenerator<AgentStreamFrame> {
  const decoder = new TextDecoder();
  let buffer = '';
  const parse = (line: string): AgentStreamFrame => {
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (error) {
      throw new AgentFailedError(
        `Agent ${agentId} streamed something that is not a Mobius frame: ${(error as Error).message}`,
        { agentId },
      );
    }
    if (isFrame(value)) return value;
    try {
      return { response: deserialize(line) };
    } catch (error) {
      throw new AgentFailedError(
        `Agent ${agentId} answered with something that is neither a frame nor a Mobius message: ${(error as Error).message}`,
        { agentId },
      );
    }
  };
  for await (const bytes of payloads) {
    buffer += decoder.decode(bytes, { stream: true });
    let newline = buffer.indexOf('\n');
    while (newline >= 0) {
      const line = buffer.slice(0, newline).trim();
      buffer = buffer.slice(newline + 1);
      if (line !== '') yield parse(line);
      newline = buffer.indexOf('\n');
    }
  }
  const rest = (buffer + decoder.decode()).trim();
  if (rest !== '') yield parse(rest);
}

function isFrame(value: unknown): value is AgentStreamFrame {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const keys = Object.keys(value);
  return keys.length === 1 && ['chunk', 'response', 'error'].includes(keys[0] as string);
}
