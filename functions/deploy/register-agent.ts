import type { CloudFormationCustomResourceEvent } from 'aws-lambda';
import { NotFoundError } from '../core/errors.ts';
import { AgentRegistry } from '../core/registry/agent-registry.ts';

/**
 * CloudFormation custom resource (CDK Provider framework): registers an agent's card when the
 * stack deploys it, updates it when the card changes, deregisters it when the agent is removed.
 * It also keeps the agent's deployment row, which lets the health monitor revive an agent whose
 * registry entry expired.
 * Properties: `TableName`, `Card` (JSON).
 */
export async function handler(
  event: CloudFormationCustomResourceEvent,
): Promise<{ PhysicalResourceId: string; Data: Record<string, string> }> {
  const { TableName, Card } = event.ResourceProperties as unknown as {
    TableName: string;
    Card: string;
  };
  const registry = new AgentRegistry({ tableName: TableName });
  const card = JSON.parse(Card) as { agentId: string };
  const physicalId = `mobius-agent:${card.agentId}`;

  if (event.RequestType === 'Delete') {
    await registry.forgetDeployment(card.agentId);
    try {
      await registry.deregister(card.agentId);
    } catch (error) {
      if (!(error instanceof NotFoundError)) throw error; // already gone: nothing to do
    }
    return { PhysicalResourceId: event.PhysicalResourceId, Data: {} };
  }
  const { outcome } = await registry.register(card, { update: true });
  await registry.recordDeployment(card);
  return { PhysicalResourceId: physicalId, Data: { outcome } };
}
