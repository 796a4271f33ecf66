import { type AgentCardInput, agentCardSchema } from '../../functions/core/model/agent-card.ts';
import { windowIndex } from '../../functions/core/registry/metrics.ts';

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

/** The stored row of a live agent `w1` (registered, heartbeating now): what a mocked registry returns. */
export function liveAgentRow() {
  const now = Date.now();
  return {
    agentId: 'w1',
    agentType: 'worker',
    card: agentCardSchema.parse(card('w1')),
    cardHash: 'h',
    registeredAt: now,
    updatedAt: now,
    hbIntervalSec: 30,
    hbTimeoutSec: 90,
    expiresAt: Math.ceil(now / 1000) + 90,
    lastHeartbeatAt: now,
    win: windowIndex(now),
  };
}
