import { type AgentDefinition, defineAgent } from '../../functions/core/sdk/define-agent.ts';
import { contentWords, frequencies, textOf } from './text.ts';

/** Keywords: the most frequent content words, longer words winning ties. */
export function extractKeywords(text: string, limit = 5): string[] {
  return frequencies(contentWords(text))
    .sort((a, b) => b[1] - a[1] || b[0].length - a[0].length || a[0].localeCompare(b[0]))
    .slice(0, limit)
    .map(([word]) => word);
}

export const keywordExtractor: AgentDefinition = {
  agentId: 'keyword-extractor',
  agentType: 'nlp-worker',
  description: 'Extracts the key terms of a text by frequency',
  capabilities: [
    {
      name: 'keyword-extraction',
      version: '1.2.0',
      priority: 5,
      metadata: { method: 'term-frequency', maxKeywords: 10 },
    },
  ],
  handler: (message) => {
    const input = message.input as { limit?: number } | null;
    return { keywords: extractKeywords(textOf(message.input), Math.min(10, input?.limit ?? 5)) };
  },
};

export const handler = defineAgent(keywordExtractor);
