import { Logger } from '@aws-lambda-powertools/logger';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { DeleteCommand, PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import type { CloudFormationCustomResourceEvent } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { AgentRegistry } from '../../functions/core/registry/agent-registry.ts';
import { applyAgentCard as registerAgent } from '../../functions/deploy/register-agent.ts';
import { reportSweep, sweep } from '../../functions/monitor/health-monitor.ts';
import { handler as registryStream } from '../../functions/monitor/registry-stream.ts';
import { card } from '../support/cards.ts';
import { freshRegistryTable, type TestTable } from '../support/dynamo.ts';
import { emf, metricsFor } from '../support/emf.ts';
import { lambdaEvent, readStream } from '../support/streams.ts';

/**
 * The operational functions the stack deploys beside the API: deploy-time card registration,
 * the health monitor's sweep and the TTL clean-up stream consumer, on moto's DynamoDB (whose
 * tables keep streams, as on AWS). The functions build their registry from the environment, as in
 * Lambda.
 */
let table: TestTable;
let registry: AgentRegistry;

beforeAll(async () => {
  table = await freshRegistryTable('moto');
  process.env.MOBIUS_REGISTRY_TABLE = table.tableName;
  process.env.AWS_ENDPOINT_URL_DYNAMODB = inject('dynamoEndpoints').moto;
  process.env.AWS_REGION = 'us-east-1';
  process.env.AWS_ACCESS_KEY_ID = 'local';
  process.env.AWS_SECRET_ACCESS_KEY = 'local';
  registry = new AgentRegistry({ tableName: table.tableName, client: table.client });
});

const STACK_ID = 'arn:aws:cloudformation:us-east-1:123456789012:stack/Mobius/5e6f7a8b';

const customResource = (
  type: 'Create' | 'Update' | 'Delete',
  cardJson: unknown,
): CloudFormationCustomResourceEvent =>
  ({
    RequestType: type,
    ServiceToken: 'token',
    ResponseURL: 'https://example.invalid',
    StackId: STACK_ID,
    RequestId: 'request',
    LogicalResourceId: 'Card',
    ResourceType: 'Custom::MobiusAgentCard',
    PhysicalResourceId: 'mobius-agent:deployed',
    ResourceProperties: {
      ServiceToken: 'token',
      TableName: table.tableName,
      Card: JSON.stringify(cardJson),
    },
    OldResourceProperties: {},
  }) as CloudFormationCustomResourceEvent;

describe('deploy-time registration (custom resource)', () => {
  it('registers on create, updates on a changed card, deregisters on delete (twice is fine)', async () => {
    expect(await registerAgent(customResource('Create', card('deployed')))).toEqual({
      PhysicalResourceId: 'mobius-agent:deployed',
      Data: { outcome: 'created' },
    });
    // The deployment vouches for the agent it just created: routable at once, no ping needed.
    // The card is the stack's: through the API only operators may change it.
    expect(await registry.get('deployed')).toMatchObject({ status: 'healthy', owner: STACK_ID });
    const changed = card('deployed', { description: 'new description' });
    expect((await registerAgent(customResource('Update', changed))).Data).toEqual({
      outcome: 'updated',
    });
    expect((await registry.get('deployed')).card.description).toBe('new description');
    expect((await registry.deployments()).map((d) => d.agentId)).toContain('deployed');
    await registerAgent(customResource('Delete', changed));
    await expect(registry.get('deployed')).rejects.toThrow(/No agent/);
    expect((await registry.deployments()).map((d) => d.agentId)).not.toContain('deployed');
    await expect(registerAgent(customResource('Delete', changed))).resolves.toMatchObject({
      PhysicalResourceId: 'mobius-agent:deployed',
    });
  });

  it('deletes by the physical id, even when the old card no longer validates', async () => {
    await registerAgent(customResource('Create', card('deployed')));
    await registerAgent(
      customResource('Delete', { agentId: 'deployed', capabilities: 'old form' }),
    );
    await expect(registry.get('deployed')).rejects.toThrow(/No agent/);
    expect((await registry.deployments()).map((d) => d.agentId)).not.toContain('deployed');
  });
});

describe('health monitor', () => {
  it('pings every agent through its Lambda or its queue and counts the fleet', async () => {
    const lambda = mockClient(LambdaClient);
    const sqs = mockClient(SQSClient);
    lambda.on(InvokeCommand).resolves({ StatusCode: 202 });
    lambda
      .on(InvokeCommand, {
        FunctionName: 'arn:aws:lambda:us-east-1:123456789012:function:forbidden',
      })
      .rejects(
        Object.assign(new Error('not authorized to perform lambda:InvokeFunction'), {
          name: 'AccessDeniedException',
        }),
      );
    sqs.on(SendMessageCommand).resolves({ MessageId: 'm' });
    await registry.register(
      card('forbidden', {
        endpoint: { lambdaArn: 'arn:aws:lambda:us-east-1:123456789012:function:forbidden' },
      }),
    );
    await registry.register(card('lambda-agent'));
    await registry.heartbeat('lambda-agent');
    await registry.register(
      card('queue-agent', {
        endpoint: { queueUrl: 'https://sqs.us-east-1.amazonaws.com/123456789012/q' },
      }),
    );

    const result = await sweep(registry, {
      lambda: new LambdaClient({ region: 'us-east-1' }),
      sqs: new SQSClient({ region: 'us-east-1' }),
    });
    // The agent it may not invoke is reported; the others are pinged all the same.
    expect(result.pinged).toBe(2);
    expect(result.failed).toEqual([
      { agentId: 'forbidden', reason: expect.stringContaining('AccessDeniedException') },
    ]);
    expect(result.counts).toMatchObject({ healthy: 1, initializing: 2 });
    expect(lambda.commandCalls(InvokeCommand)[0]?.args[0].input).toMatchObject({
      InvocationType: 'Event',
    });
    expect(
      JSON.parse(
        Buffer.from(
          lambda.commandCalls(InvokeCommand)[0]?.args[0].input.Payload as Uint8Array,
        ).toString(),
      ),
    ).toEqual({ kind: 'mobius.ping' });
    expect(sqs.commandCalls(SendMessageCommand)[0]?.args[0].input.MessageBody).toBe(
      '{"kind":"mobius.ping"}',
    );
    lambda.restore();
    sqs.restore();
    await registry.deregister('forbidden');
  });
});

describe('health monitor and deployed agents', () => {
  it('pings a deployed agent whose registry entry TTL deleted, so that it registers again', async () => {
    const lambdaArn = 'arn:aws:lambda:us-east-1:123456789012:function:lazarus';
    await registerAgent(customResource('Create', card('lazarus', { endpoint: { lambdaArn } })));
    // What TTL does to the entry of an agent that stopped heartbeating.
    await table.client.send(
      new DeleteCommand({ TableName: table.tableName, Key: { pk: 'AGENT#lazarus', sk: 'AGENT' } }),
    );
    const lambda = mockClient(LambdaClient);
    lambda.on(InvokeCommand).resolves({ StatusCode: 202 });
    try {
      const result = await sweep(registry, {
        lambda: new LambdaClient({ region: 'us-east-1' }),
        sqs: new SQSClient({ region: 'us-east-1' }),
      });
      expect(result.missing).toEqual(['lazarus']);
      expect(lambda.commandCalls(InvokeCommand).map((c) => c.args[0].input.FunctionName)).toContain(
        lambdaArn,
      );
      // The handler's report: every figure of the sweep reaches CloudWatch, the missing count too.
      const metrics = metricsFor('mobius-health-monitor');
      const printed = await emf(() =>
        reportSweep(result, metrics, new Logger({ logLevel: 'SILENT' })),
      );
      expect(printed.values).toMatchObject({
        AgentsMissing: 1,
        AgentsPinged: result.pinged,
        AgentPingFailures: result.failed.length,
        AgentsHealthy: result.counts.healthy,
        AgentsOffline: result.counts.offline,
      });
    } finally {
      lambda.restore();
      await registerAgent(customResource('Delete', card('lazarus')));
    }
  });
});

describe('TTL clean-up stream consumer', () => {
  it('reads an agent row’s removal from the table’s stream and deletes its capability rows (moto runs no TTL deletion: the test deletes the row as TTL would)', async () => {
    await registry.register(
      card('expired', { capabilities: [{ name: 'vanishing', version: '1.0.0' }] }),
    );
    await registry.heartbeat('expired');
    expect(await registry.discover({ capability: 'vanishing' })).toHaveLength(1);
    // What TTL deletion does to the agent row. moto keeps the TTL setting but never expires rows.
    await table.client.send(
      new DeleteCommand({ TableName: table.tableName, Key: { pk: 'AGENT#expired', sk: 'AGENT' } }),
    );

    const stream = await readStream('moto', table.tableName);
    const agentRow = stream.records.filter(
      (r) => r.dynamodb?.Keys?.pk?.S === 'AGENT#expired' && r.dynamodb.Keys.sk?.S === 'AGENT',
    );
    // Registered, heartbeat, removed; the removal carries the card (the stream keeps old images).
    expect(agentRow.map((r) => r.eventName)).toEqual(['INSERT', 'MODIFY', 'REMOVE']);
    expect(agentRow.at(-1)?.dynamodb?.OldImage?.agentId?.S).toBe('expired');

    // The event source filter passes only TTL removals of agent rows; the handler itself ignores
    // anything but removals, so the agent row's whole history is a fair batch.
    expect(await registryStream(lambdaEvent(stream, agentRow))).toEqual({ batchItemFailures: [] });
    const { Items } = await table.client.send(
      new QueryCommand({
        TableName: table.tableName,
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': 'CAP#vanishing' },
      }),
    );
    expect(Items).toEqual([]);
  });

  it('reports a removal it cannot read as a batch item failure, by sequence number', async () => {
    await table.client.send(
      new PutCommand({ TableName: table.tableName, Item: { pk: 'AGENT#garbled', sk: 'AGENT' } }),
    );
    await table.client.send(
      new DeleteCommand({ TableName: table.tableName, Key: { pk: 'AGENT#garbled', sk: 'AGENT' } }),
    );
    const stream = await readStream('moto', table.tableName);
    const removal = stream.records.filter(
      (r) => r.eventName === 'REMOVE' && r.dynamodb?.Keys?.pk?.S === 'AGENT#garbled',
    );
    expect(removal).toHaveLength(1);
    expect(await registryStream(lambdaEvent(stream, removal))).toEqual({
      batchItemFailures: [{ itemIdentifier: removal[0]?.dynamodb?.SequenceNumber }],
    });
  });
});
