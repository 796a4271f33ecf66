import type { JsonValue } from '../core/sdk/json-output.ts';
import type { StreamChunk } from '../core/streaming/chunks.ts';
import { A2aError } from './json-rpc.ts';
import { JSON_MEDIA_TYPE, type Part, TEXT_MEDIA_TYPE } from './protocol.ts';
import type { IncomingMessage } from './requests.ts';

/**
 * How A2A parts and a Mobius agent's JSON meet. In: one data part is the agent's input as it is;
 * text parts are `{ "text": … }` (several joined by newlines), the shape every example agent
 * reads text from. Out: a string is a text part, any other JSON a data part; a streamed text
 * chunk is a text part and a data chunk a data part.
 */
export function payloadOf(message: IncomingMessage): JsonValue {
  const { parts } = message;
  const files = parts.flatMap((part, index) => (isSet(part.url) || isSet(part.raw) ? [index] : []));
  if (files.length > 0)
    throw new A2aError(
      'contentTypeNotSupported',
      'File parts (url, raw) are not supported: a Mobius agent takes JSON. Send one data part, or text parts.',
      files.map((index) => ({
        path: `message.parts.${index}`,
        message: 'a file part; send a data part or text parts instead',
      })),
    );
  const only = parts[0];
  if (parts.length === 1 && only !== undefined && isSet(only.data)) return only.data;
  const texts = parts.flatMap((part) => (isSet(part.text) ? [part.text] : []));
  if (texts.length === parts.length) return { text: texts.join('\n') };
  throw new A2aError(
    'invalidParams',
    'Send one data part (the agent takes its value as input) or only text parts (the agent takes { "text": … }); several data parts, or data and text together, have no one meaning.',
    [{ path: 'message.parts', message: 'one data part, or text parts only' }],
  );
}

function isSet<T>(value: T | null | undefined): value is T {
  return value !== undefined && value !== null;
}

/** The agent's output as parts; null (an agent that returned nothing) has none. */
export function partsOfOutput(output: JsonValue): Part[] {
  if (output === null) return [];
  if (typeof output === 'string') return [{ text: output, mediaType: TEXT_MEDIA_TYPE }];
  return [{ data: output, mediaType: JSON_MEDIA_TYPE }];
}

export function partsOfChunk(chunk: StreamChunk): Part[] {
  return 'text' in chunk
    ? [{ text: chunk.text, mediaType: TEXT_MEDIA_TYPE }]
    : [{ data: chunk.data, mediaType: JSON_MEDIA_TYPE }];
}

/**
 * Refuses a request whose `acceptedOutputModes` names neither output Mobius gives (JSON, text) nor
 * a wildcard: the agent could not answer in a form the client takes.
 */
export function assertAcceptsOutput(accepted: readonly string[] | undefined): void {
  if (accepted === undefined || accepted.length === 0) return;
  const takes = accepted.some((mode) => {
    const type = mode.split(';')[0]?.trim().toLowerCase() ?? '';
    return (
      type === JSON_MEDIA_TYPE ||
      type === TEXT_MEDIA_TYPE ||
      type === '*/*' ||
      type === 'text/*' ||
      type === 'application/*'
    );
  });
  if (!takes)
    throw new A2aError(
      'contentTypeNotSupported',
      `A Mobius agent answers in ${JSON_MEDIA_TYPE} or ${TEXT_MEDIA_TYPE}; acceptedOutputModes names neither.`,
      [
        {
          path: 'configuration.acceptedOutputModes',
          message: `accept ${JSON_MEDIA_TYPE} or ${TEXT_MEDIA_TYPE}`,
        },
      ],
    );
}
