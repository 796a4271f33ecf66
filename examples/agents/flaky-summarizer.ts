import { RetryableAgentError } from '../../functions/core/messaging/agent-errors.ts';
import { type AgentDefinition, defineAgent } from '../../functions/core/sdk/define-agent.ts';
import { summarize } from './summarizer.ts';
import { textOf } from './text.ts';

let calls = 0;

/**
 * A faster summarizer that is flaky: every other call fails with a retryable error, as a busy
 * upstream would. It ranks above the stable summarizer, so coordinations show its fallbacks and
 * retries at work. Deterministic: the first call in a process fails.
 */
export const flakySummarizer: AgentDefinition = {
  agentId: 'flaky-summarizer',
  agentType: 'nlp-worker',
  description: 'A faster but unreliable summarizer (fails every other call)',
  capabilities: [
    {
      name: 'extractive-summarization',
      version: '2.1.0',
      priority: 20,
      metadata: { method: 'frequency', stability: 'flaky' },
    },
  ],
  handler: (message) => {
    calls++;
    if (calls % 2 === 1)
      throw new RetryableAgentError('upstream summarization service is busy; try again');
    return summarize(textOf(message.input), 2);
  },
};

export const handler = defineAgent(flakySummarizer);
