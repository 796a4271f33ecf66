import { BedrockRuntimeClient, ConverseStreamCommand } from '@aws-sdk/client-bedrock-runtime';
import { FatalAgentError } from '../../functions/core/messaging/agent-errors.ts';
import {
  type AgentDefinition,
  type AgentMessage,
  defineAgent,
} from '../../functions/core/sdk/define-agent.ts';
import { bedrockFailure } from './bedrock-errors.ts';
import { contentWords, frequencies, sentences, textOf } from './text.ts';

/**
 * The example agent that streams: it turns what earlier steps found (a summary, findings, a
 * report) into a short piece of prose and yields it as it writes, one text delta at a time, so
 * that `mobius run`, `mobius watch` and the SSE routes show it arriving. Its handler is an
 * `async function*`: each `yield` is a chunk, the `return` value is the step's final output.
 *
 * Offline (the default) it writes a deterministic text of its own, word by word with a short
 * pause per word, as a model would. When MOBIUS_BEDROCK_MODEL_ID is set (`mobius run --bedrock`,
 * `mobius dev --bedrock`) it streams a model's tokens from Amazon Bedrock's ConverseStream API.
 */

/** What the narrator returns when it is done: the whole text, and where it came from. */
export interface Narration {
  readonly narration: string;
  readonly words: number;
  /** `offline`, or `bedrock:<model id>`. */
  readonly source: string;
}

export interface NarratorOptions {
  /** Pause before each offline word, in ms: a watcher sees the text arrive. @default 10 */
  readonly delayMs?: number;
}

/** The model `--bedrock` asks when no model id is given (on-demand in us-east-1 and us-west-2). */
export const DEFAULT_BEDROCK_MODEL_ID = 'amazon.nova-lite-v1:0';

/** Above this much source text the model gets the start only: prose, not a transcript. */
const MAX_SOURCE_CHARS = 20_000;

let bedrock: BedrockRuntimeClient | undefined;

/**
 * The client the narrator asks Bedrock with. By default one built from the environment on first
 * use (as on Lambda). The CLI gives one whose region and credentials it resolved before the
 * embedded runtime pointed the process's AWS settings at its local endpoints.
 */
export function useBedrockClient(client: BedrockRuntimeClient | undefined): void {
  bedrock = client;
}

/**
 * The text to narrate from a step's input: a summary, a report, findings, text or passages,
 * whichever the earlier step produced; nothing for any other shape (a JSON dump is not a story).
 */
export function sourceText(input: unknown): string {
  if (typeof input === 'string') return input;
  if (input === null || typeof input !== 'object' || Array.isArray(input)) return '';
  const record = input as Record<string, unknown>;
  for (const key of ['summary', 'report', 'findings'])
    if (typeof record[key] === 'string') return record[key] as string;
  // Text, a question, passages: what every example agent reads; anything else is not prose.
  const text = textOf(input);
  return text.startsWith('{') ? '' : text;
}

/** Sentences keep their own capitals (names such as "Lambda" must stay), so each follows a colon. */
const CONNECTIVES = ['It starts here:', 'Next:', 'Beyond that:', 'Also:', 'Finally:'];

function listOf(items: readonly string[]): string {
  if (items.length <= 1) return items.join('');
  return `${items.slice(0, -1).join(', ')} and ${items.at(-1)}`;
}

/**
 * The offline narration: deterministic for a given source (the same input always reads the same),
 * made of its main topics, up to five of its sentences joined by connectives, and a closing line.
 */
export function narrate(source: string): string {
  const all = sentences(source.replace(/\s+/g, ' ').trim());
  const topics = frequencies(contentWords(source))
    .slice(0, 3)
    .map(([word]) => word);
  const told = all.slice(0, CONNECTIVES.length).map((sentence, i) => {
    const ended = /[.!?]$/.test(sentence) ? sentence : `${sentence}.`;
    return `${CONNECTIVES[i]} ${ended}`;
  });
  const rest = all.length - told.length;
  return [
    `Here is the story in brief; its key words are ${listOf(topics)}.`,
    ...told,
    rest > 0
      ? `${rest} more ${rest === 1 ? 'sentence says' : 'sentences say'} the same at greater length.`
      : `That is all there is to it.`,
  ].join(' ');
}

/** Each word of `text` with the space after it: joined again, the pieces are the text exactly. */
export function wordsOf(text: string): string[] {
  return text.match(/\S+\s*/g) ?? [];
}

async function* offlineNarration(source: string, delayMs: number): AsyncGenerator<string> {
  for (const word of wordsOf(narrate(source))) {
    if (delayMs > 0) await new Promise((resolve) => setTimeout(resolve, delayMs));
    yield word;
  }
}

/**
 * The model's text deltas as ConverseStream sends them. An exception event in the stream (the
 * SDK throws most of them itself) and a failed call both become agent errors: retryable when the
 * service was busy or broke the stream off, fatal when it refused the request.
 */
export async function* bedrockNarration(modelId: string, source: string): AsyncGenerator<string> {
  bedrock ??= new BedrockRuntimeClient({});
  try {
    const response = await bedrock.send(
      new ConverseStreamCommand({
        modelId,
        system: [
          {
            text: 'You retell the findings you are given as a short, plain narrative of one or two paragraphs. Keep every fact; add none.',
          },
        ],
        messages: [{ role: 'user', content: [{ text: source.slice(0, MAX_SOURCE_CHARS) }] }],
        inferenceConfig: { maxTokens: 512, temperature: 0.3 },
      }),
    );
    for await (const event of response.stream ?? []) {
      const failure =
        event.throttlingException ??
        event.serviceUnavailableException ??
        event.internalServerException ??
        event.modelStreamErrorException ??
        event.validationException;
      if (failure !== undefined) throw failure;
      const text = event.contentBlockDelta?.delta?.text;
      if (text !== undefined && text !== '') yield text;
    }
  } catch (error) {
    throw bedrockFailure(error);
  }
}

/** The narrator with its own pacing (tests use `delayMs: 0`). */
export function createNarrator(options: NarratorOptions = {}): AgentDefinition {
  const delayMs = options.delayMs ?? 10;
  return {
    agentId: 'narrator',
    agentType: 'writer',
    description:
      'Retells findings as prose, streaming it as it writes (offline, or Amazon Bedrock with --bedrock)',
    capabilities: [
      {
        name: 'narration',
        version: '1.0.0',
        priority: 5,
        metadata: { streams: true, output: 'text' },
      },
    ],
    handler: async function* narrateInput(
      message: AgentMessage,
    ): AsyncGenerator<string, Narration> {
      const source = sourceText(message.input);
      // Nothing to tell can never succeed: say so at once (fatal, no retries), before any chunk.
      if (contentWords(source).length === 0)
        throw new FatalAgentError(
          'narrator needs text to narrate: a summary or findings from an earlier step ({"summary": "…"}, {"text": "…"}) or a string',
        );
      const modelId = process.env.MOBIUS_BEDROCK_MODEL_ID;
      const deltas = modelId
        ? bedrockNarration(modelId, source)
        : offlineNarration(source, delayMs);
      let narration = '';
      for await (const delta of deltas) {
        narration += delta;
        yield delta;
      }
      return {
        narration,
        words: wordsOf(narration).length,
        source: modelId ? `bedrock:${modelId}` : 'offline',
      };
    },
  };
}

export const narrator = createNarrator();

export const handler = defineAgent(narrator);
