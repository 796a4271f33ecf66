import { type AgentDefinition, defineAgent } from '../../functions/core/sdk/define-agent.ts';
import { contentWords, frequencies, sentences, textOf } from './text.ts';

/**
 * Extractive summary: sentences scored by the summed frequency of their content words (normalised
 * by length), the best kept in their original order.
 */
export function summarize(
  text: string,
  count = 2,
): { summary: string; sentences: number; of: number } {
  const all = sentences(text);
  const weights = new Map(frequencies(contentWords(text)));
  const scored = all.map((sentence, index) => {
    const tokens = contentWords(sentence);
    const score =
      tokens.reduce((sum, t) => sum + (weights.get(t) ?? 0), 0) /
      Math.max(1, Math.sqrt(tokens.length));
    return { sentence, index, score };
  });
  const chosen = [...scored]
    .sort((a, b) => b.score - a.score || a.index - b.index)
    .slice(0, count)
    .sort((a, b) => a.index - b.index);
  return {
    summary: chosen.map((c) => c.sentence).join(' '),
    sentences: chosen.length,
    of: all.length,
  };
}

export const summarizer: AgentDefinition = {
  agentId: 'summarizer',
  agentType: 'nlp-worker',
  description: 'Extractive summaries: picks the sentences that carry the most frequent ideas',
  capabilities: [
    {
      name: 'extractive-summarization',
      version: '1.4.0',
      priority: 5,
      metadata: { method: 'frequency' },
    },
  ],
  handler: (message) => {
    const input = message.input as { sentences?: number } | null;
    return summarize(textOf(message.input), Math.max(1, Math.min(5, input?.sentences ?? 2)));
  },
};

export const handler = defineAgent(summarizer);
