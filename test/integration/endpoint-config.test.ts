import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { describe, expect, inject, it } from 'vitest';
import { AgentRegistry } from '../../functions/core/registry/agent-registry.ts';
import { card } from '../support/cards.ts';
import { freshRegistryTable } from '../support/dynamo.ts';

describe('endpoint configuration', () => {
  it('a registry built without a client reaches the endpoint named by AWS_ENDPOINT_URL', async () => {
    const table = await freshRegistryTable('moto');
    // moto serves every service on one endpoint, as AWS_ENDPOINT_URL assumes.
    process.env.AWS_ENDPOINT_URL = inject('dynamoEndpoints').moto;
    process.env.AWS_REGION = 'us-east-1';
    process.env.AWS_ACCESS_KEY_ID = 'local';
    process.env.AWS_SECRET_ACCESS_KEY = 'local';

    const registry = new AgentRegistry({ tableName: table.tableName });
    await registry.register(card('via-env'));

    const { Item } = await table.client.send(
      new GetCommand({ TableName: table.tableName, Key: { pk: 'AGENT#via-env', sk: 'AGENT' } }),
    );
    expect(Item?.agentId).toBe('via-env');
  });
});
