import type { CloudFormationCustomResourceEvent } from 'aws-lambda';
import { NotFoundError } from '../core/errors.ts';
import { agentCardSchema } from '../core/model/agent-card.ts';
import { AgentRegistry } from '../core/registry/agent-registry.ts';
import { parseWith } from '../core/validation.ts';
import { type CustomResourceResult, respondToCloudFormation } from './cloudformation-response.ts';

/**
 * The work of `Custom::MobiusAgentCard`: registers an agent's card when the stack deploys it,
 * updates it when the card changes, deregisters it when the agent is removed. It also keeps the
 * agent's deployment row, which lets the health monitor revive an agent whose registry entry
 * expired.
 *
 * A deployed agent is routable at once: CloudFormation created its function (Active) or queue
 * before this resource, so the deployment vouches for it with a first heartbeat instead of
 * leaving it `initializing` until the health monitor's first ping.
 * The card is owned by the stack (its CloudFormation stack id): through the API, only operators
 * may update, heartbeat or deregister it (docs/security.md).
 * Properties: `TableName`, `Card` (JSON).
 */
export async function applyAgentCard(
  event: CloudFormationCustomResourceEvent,
): Promise<CustomResourceResult> {
  const { TableName, Card } = event.ResourceProperties as unknown as {
    TableName: string;
    Card: string;
  };
  const registry = new AgentRegistry({ tableName: TableName });

  if (event.RequestType === 'Delete') {
    // The agent's id is in the physical id: a card written under an older schema that no longer
    // validates must not keep its stack from deleting.
    const agentId = event.PhysicalResourceId.replace(/^mobius-agent:/, '');
    await registry.forgetDeployment(agentId);
    try {
      await registry.deregister(agentId);
    } catch (error) {
      if (!(error instanceof NotFoundError)) throw error; // already gone: nothing to do
    }
    return { PhysicalResourceId: event.PhysicalResourceId };
  }
  const card = parseWith(agentCardSchema, JSON.parse(Card), 'agent card');
  try {
    // Stack-deployed cards are the stack's: only operators change them through the API.
    const { outcome } = await registry.register(card, { update: true, owner: event.StackId });
    await registry.recordDeployment(card, event.StackId);
    await registry.heartbeat(card.agentId);
    return { PhysicalResourceId: `mobius-agent:${card.agentId}`, Data: { outcome } };
  } catch (error) {
    // A failed Create gets no Delete from CloudFormation: undo what was written, so no
    // deployment row is left for the health monitor to keep reviving.
    if (event.RequestType === 'Create') {
      await registry.forgetDeployment(card.agentId).catch(() => undefined);
      await registry.deregister(card.agentId).catch(() => undefined);
    }
    throw error;
  }
}

/** Lambda entry: CloudFormation invokes it directly (the resource's ServiceToken). */
export const handler = (event: CloudFormationCustomResourceEvent) =>
  respondToCloudFormation(event, applyAgentCard);
