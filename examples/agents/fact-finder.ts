import { type AgentDefinition, defineAgent } from '../../functions/core/sdk/define-agent.ts';
import { corpusSize, search } from './corpus.ts';
import { textOf } from './text.ts';

export const factFinder: AgentDefinition = {
  agentId: 'fact-finder',
  agentType: 'retriever',
  description: `Looks facts up in a bundled corpus of ${corpusSize} documents (BM25)`,
  capabilities: [
    {
      name: 'fact-lookup',
      version: '1.1.0',
      priority: 5,
      metadata: { index: 'bm25', documents: corpusSize },
    },
  ],
  handler: (message) => {
    const input = message.input as { limit?: number } | null;
    const passages = search(textOf(message.input), Math.max(1, Math.min(5, input?.limit ?? 3)));
    return { passages, text: passages.map((p) => p.text).join(' ') };
  },
};

export const handler = defineAgent(factFinder);
