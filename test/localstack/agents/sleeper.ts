import { type AgentDefinition, defineAgent } from '../../../entry/agent.ts';

/** The longest nap: well inside the agent's 30 s function timeout. */
const MAX_NAP_MS = 25_000;

/**
 * An agent that takes its time: it waits `ms` milliseconds (at most 25 s) before answering.
 * Deployed only into the LocalStack suite's stack, so that a standard coordination is still
 * running when an operator cancels it (DELETE /coordinations/{id}, Step Functions StopExecution);
 * its late answer then meets the stopped run's task token. (LocalStack ends a stopped run only
 * when the agent calls about its task: see 5-operations.test.ts for why its nap stays shorter
 * than the SDK's first heartbeat.)
 */
export const sleeper: AgentDefinition = {
  agentId: 'sleeper',
  agentType: 'test-worker',
  description: 'Waits the number of milliseconds its input asks for, then answers',
  capabilities: [{ name: 'slow-task', version: '1.0.0' }],
  handler: async (message) => {
    const input = (message.input ?? {}) as { ms?: unknown };
    const ms = typeof input.ms === 'number' ? Math.min(Math.max(input.ms, 0), MAX_NAP_MS) : 0;
    await new Promise((resolve) => setTimeout(resolve, ms));
    return { sleptMs: ms };
  },
};

export const handler = defineAgent(sleeper);
