import type { AgentCardInput } from '../../functions/core/model/agent-card.ts';

type CapabilityInput = AgentCardInput['capabilities'][number];

/** A valid card; override what the test is about. */
export function card(agentId: string, overrides: Partial<AgentCardInput> = {}): AgentCardInput {
  return {
    agentId,
    agentType: 'worker',
    description: `test agent ${agentId}`,
    capabilities: [{ name: 'summarize', version: '1.2.0' }],
    endpoint: { lambdaArn: `arn:aws:lambda:us-east-1:123456789012:function:${agentId}` },
    ...overrides,
  };
}

export function capability(
  name: string,
  version = '1.0.0',
  extra: Partial<CapabilityInput> = {},
): CapabilityInput {
  return { name, version, ...extra };
}
