import { type AgentDefinition, defineAgent } from '../../../entry/agent.ts';

/**
 * An agent whose process dies mid-task when asked to (`{ "crash": true }`): what an out-of-memory
 * kill or a native crash does to a Lambda execution environment. Deployed only into the LocalStack
 * suite's stack (`-c mobius:agents=test/localstack/agents/index.ts`), to show crash recovery on
 * the AWS path: the task goes to the step's fallback, the agent reads unhealthy until its next
 * heartbeat.
 */
export const crasher: AgentDefinition = {
  agentId: 'crasher',
  agentType: 'test-worker',
  description: 'Crashes its process when the input says crash; answers otherwise',
  capabilities: [{ name: 'crash-test', version: '1.0.0' }],
  handler: (message) => {
    const input = (message.input ?? {}) as { crash?: boolean };
    if (input.crash === true) process.exit(1);
    return { survived: true };
  },
};

export const handler = defineAgent(crasher);
