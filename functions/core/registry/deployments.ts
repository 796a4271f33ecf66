import { DeleteCommand, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import * as z from 'zod';
import { queryAll } from '../aws/dynamodb-batch.ts';
import { type AgentCard, endpointSchema } from '../model/agent-card.ts';
import type { RegistryStore } from './store.ts';
import { DEPLOYED_PARTITION, deploymentKey } from './table.ts';

/**
 * Agents a stack deployed. The registry entry of an agent expires with its heartbeat and TTL later
 * deletes it; a deployment row (no TTL) remembers the agent until the stack removes it, so the
 * health monitor keeps pinging it and a recovered agent registers again (see defineAgent).
 */
const deploymentSchema = z.object({
  agentId: z.string(),
  endpoint: endpointSchema,
  deployedAt: z.number(),
  /**
   * Who owns the agent (its stack). Kept here, with no TTL, so the agent's id stays its stack's
   * when the agent row expires: nobody else may register it meanwhile (see Registrar.register).
   */
  owner: z.string().optional(),
});
export type Deployment = z.output<typeof deploymentSchema>;

export async function recordDeployment(
  store: RegistryStore,
  card: AgentCard,
  owner?: string,
): Promise<void> {
  await store.client.send(
    new PutCommand({
      TableName: store.tableName,
      Item: {
        ...deploymentKey(card.agentId),
        agentId: card.agentId,
        endpoint: card.endpoint,
        deployedAt: store.clock.now(),
        ...(owner === undefined ? {} : { owner }),
      },
    }),
  );
}

/** The deployment of `agentId`, if a stack deployed it. */
export async function readDeployment(
  store: RegistryStore,
  agentId: string,
): Promise<Deployment | undefined> {
  const { Item } = await store.client.send(
    new GetCommand({
      TableName: store.tableName,
      Key: deploymentKey(agentId),
      ConsistentRead: true,
    }),
  );
  return Item === undefined ? undefined : deploymentSchema.parse(Item);
}

export async function forgetDeployment(store: RegistryStore, agentId: string): Promise<void> {
  await store.client.send(
    new DeleteCommand({ TableName: store.tableName, Key: deploymentKey(agentId) }),
  );
}

/** Every deployed agent: one Query on the deployment partition. */
export async function listDeployments(store: RegistryStore): Promise<Deployment[]> {
  const items = await queryAll(store.client, {
    TableName: store.tableName,
    KeyConditionExpression: 'pk = :pk',
    ExpressionAttributeValues: { ':pk': DEPLOYED_PARTITION },
    ConsistentRead: true,
  });
  return items.map((item) => deploymentSchema.parse(item));
}
