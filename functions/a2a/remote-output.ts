import { FatalAgentError } from '../core/messaging/agent-errors.ts';
import type { JsonValue } from '../core/sdk/json-output.ts';
import { JSON_MEDIA_TYPE, type Part, TEXT_MEDIA_TYPE } from './protocol.ts';
import type { RemoteAnswer, RemoteArtifact, RemoteMessage, RemoteTask } from './remote-client.ts';
import type { IncomingPart } from './requests.ts';

/**
 * How a Mobius input becomes an A2A message to an imported agent, and how its answer becomes the
 * output Mobius passes on — the mirror of the export's mapping (parts.ts), so that a Mobius agent
 * exported and imported again sees and gives the same JSON:
 * - in: a string is one text part; `{ "text": "…" }` (nothing else) is that text part, the shape
 *   every example agent reads text from; any other JSON is one data part;
 * - out: one data part is its value; text parts only are their texts joined (a streamed artifact's
 *   pieces, in order); anything else (several data parts, data and text, files) is
 *   `{ "parts": [...] }` with the parts as A2A gave them.
 */
export function partsOfInput(input: unknown): Part[] {
  if (typeof input === 'string') return [{ text: input, mediaType: TEXT_MEDIA_TYPE }];
  if (
    input !== null &&
    typeof input === 'object' &&
    !Array.isArray(input) &&
    Object.keys(input).length === 1 &&
    typeof (input as { text?: unknown }).text === 'string'
  )
    return [{ text: (input as { text: string }).text, mediaType: TEXT_MEDIA_TYPE }];
  return [{ data: (input ?? null) as JsonValue, mediaType: JSON_MEDIA_TYPE }];
}

export function outputOfParts(parts: readonly IncomingPart[]): JsonValue {
  if (parts.length === 0) return null;
  const only = parts[0];
  if (parts.length === 1 && only?.data !== undefined && only.data !== null) return only.data;
  if (parts.every((part) => typeof part.text === 'string'))
    return parts.map((part) => part.text as string).join('');
  return { parts: parts as unknown as JsonValue[] };
}

/**
 * A streamed artifact update's parts as the values of Mobius chunks: a text part's text, a data
 * part's value, a file part as A2A gave it.
 */
export function chunkValuesOfParts(parts: readonly IncomingPart[]): JsonValue[] {
  return parts.map((part) => {
    if (typeof part.text === 'string') return part.text;
    if (part.data !== undefined && part.data !== null) return part.data;
    return part as unknown as JsonValue;
  });
}

/**
 * The output of an answer: a message's parts; a completed task's artifacts (one artifact: its
 * parts; several: an object of each one's output by its name, else its id), or its status message
 * when it made no artifact. A task that did not complete is the agent's failure, as an agent
 * handler's error would be: FAILED and CANCELED are errors (retried where the request's retry
 * policy says, as any agent error), REJECTED and a task that needs more input or authentication
 * are FatalAgentErrors, since no retry of the same message can change them.
 */
export function outputOfAnswer(agentId: string, answer: RemoteAnswer): JsonValue {
  if (answer.message !== undefined) return outputOfParts(answer.message.parts);
  const { task } = answer;
  const state = task.status.state;
  if (state === 'TASK_STATE_COMPLETED') return outputOfTask(task);
  const said = reasonOf(task.status.message);
  const because = said === undefined ? '' : `: ${said}`;
  switch (state) {
    case 'TASK_STATE_FAILED':
      throw new Error(`A2A agent ${agentId} failed task ${task.id}${because}`);
    case 'TASK_STATE_CANCELED':
      throw new Error(`A2A agent ${agentId} canceled task ${task.id}${because}`);
    case 'TASK_STATE_REJECTED':
      throw new FatalAgentError(`A2A agent ${agentId} rejected task ${task.id}${because}`);
    case 'TASK_STATE_INPUT_REQUIRED':
    case 'TASK_STATE_AUTH_REQUIRED':
      throw new FatalAgentError(
        `A2A agent ${agentId} stopped task ${task.id} in ${state}${because}: Mobius sends one message per task and cannot answer it`,
      );
    default:
      throw new FatalAgentError(
        `A2A agent ${agentId} answered task ${task.id} in state ${state}, which is not an end`,
      );
  }
}

function outputOfTask(task: RemoteTask): JsonValue {
  const artifacts = task.artifacts.filter((artifact) => artifact.parts.length > 0);
  const [only] = artifacts;
  if (only === undefined) return outputOfParts(task.status.message?.parts ?? []);
  if (artifacts.length === 1) return outputOfParts(only.parts);
  const byName: Record<string, JsonValue> = {};
  artifacts.forEach((artifact: RemoteArtifact, index) => {
    const key = artifact.name || artifact.artifactId || `artifact${index}`;
    byName[key in byName ? `${key}.${index}` : key] = outputOfParts(artifact.parts);
  });
  return byName;
}

/** What a status message says, in text (its text parts, else its JSON), for an error's message. */
function reasonOf(message: RemoteMessage | undefined): string | undefined {
  if (message === undefined || message.parts.length === 0) return undefined;
  const texts = message.parts.flatMap((part) => (typeof part.text === 'string' ? [part.text] : []));
  const said = texts.length > 0 ? texts.join(' ') : JSON.stringify(outputOfParts(message.parts));
  return said.length > 1000 ? `${said.slice(0, 1000)}…` : said;
}
