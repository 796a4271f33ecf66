import { FatalAgentError } from '../../functions/core/messaging/agent-errors.ts';
import { type AgentDefinition, defineAgent } from '../../functions/core/sdk/define-agent.ts';
import { corpusSize, search } from './corpus.ts';
import { contentWords, textOf } from './text.ts';

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
    const query = textOf(message.input);
    // A query with nothing to search for can never succeed: say so at once (fatal: no retries),
    // so a coordination falls back or fails with the reason instead of returning empty passages.
    if (contentWords(query).length === 0)
      throw new FatalAgentError('fact-finder needs a query with at least one content word');
    const passages = search(query, Math.max(1, Math.min(5, input?.limit ?? 3)));
    return { passages, text: passages.map((p) => p.text).join(' ') };
  },
};

export const handler = defineAgent(factFinder);
