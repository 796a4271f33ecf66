import { type AgentDefinition, defineAgent } from '../../../entry/agent.ts';

/**
 * An agent that streams: it yields the words of its input's `text` one at a time (each a text
 * chunk, in order) and returns how many it sent. Deployed only into the LocalStack suite's stack,
 * with `streaming: true` (a response-streaming function beside its main one), to show chunks
 * reaching a caller through the deployed API and into the coordination event log.
 */
export const streamer: AgentDefinition = {
  agentId: 'streamer',
  agentType: 'test-worker',
  description: 'Streams the words of its input text back, one chunk per word',
  capabilities: [{ name: 'word-stream', version: '1.0.0', metadata: { streams: true } }],
  handler: async function* streamWords(message) {
    const input = (message.input ?? {}) as { text?: unknown };
    const words = typeof input.text === 'string' ? (input.text.match(/\S+\s*/g) ?? []) : [];
    for (const word of words) yield word;
    return { words: words.length };
  },
};

export const handler = defineAgent(streamer);
