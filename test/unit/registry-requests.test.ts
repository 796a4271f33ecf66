import {
  ConditionalCheckFailedException,
  DynamoDBClient,
  ThrottlingException,
} from '@aws-sdk/client-dynamodb';
import {
  BatchGetCommand,
  BatchWriteCommand,
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../functions/core/clock.ts';
import { NotFoundError, ValidationError } from '../../functions/core/errors.ts';
import { AgentRegistry } from '../../functions/core/registry/agent-registry.ts';
import { card } from '../support/cards.ts';

const ddb = mockClient(DynamoDBDocumentClient);
const client = DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'us-east-1' }));
const clock = new ManualClock(Date.UTC(2030, 0, 1));
const registry = new AgentRegistry({ tableName: 'registry', client, clock });

const conditionFailed = () =>
  new ConditionalCheckFailedException({ message: 'The conditional request failed', $metadata: {} });

function liveRow(agentId: string, overrides: Record<string, unknown> = {}) {
  const now = clock.now();
  return {
    agentId,
    agentType: 'worker',
    cardHash: 'h1',
    registeredAt: now,
    updatedAt: now,
    hbIntervalSec: 30,
    hbTimeoutSec: 90,
    expiresAt: now / 1000 + 90,
    lastHeartbeatAt: now,
    win: Math.floor(now / 60_000),
    ...overrides,
  };
}

describe('AgentRegistry request shapes', () => {
  beforeEach(() => ddb.reset());

  it('registers with a conditional put carrying the byType key and TTL, then indexes capabilities', async () => {
    ddb.on(PutCommand).resolves({});
    ddb.on(BatchWriteCommand).resolves({});
    await registry.register(card('a1'));

    const put = ddb.commandCalls(PutCommand)[0]?.args[0].input;
    expect(put).toMatchObject({
      TableName: 'registry',
      ConditionExpression: 'attribute_not_exists(pk)',
      Item: { pk: 'AGENT#a1', sk: 'AGENT', typeKey: 'worker', expiresAt: clock.now() / 1000 + 90 },
    });
    const writes =
      ddb.commandCalls(BatchWriteCommand)[0]?.args[0].input.RequestItems?.registry ?? [];
    expect(writes.map((w) => w.PutRequest?.Item?.pk)).toEqual(['CAP#summarize', 'CATALOG']);
    expect(writes[0]?.PutRequest?.Item).toMatchObject({
      sk: 'AGENT#a1#1.2.0',
      cardHash: put?.Item?.cardHash,
    });
    // A created row looks for an operator's drain its expired predecessor carried: none here.
    expect(ddb.commandCalls(GetCommand).map((c) => c.args[0].input)).toEqual([
      { TableName: 'registry', Key: { pk: 'DRAINED', sk: 'AGENT#a1' }, ConsistentRead: true },
    ]);
    expect(ddb.commandCalls(UpdateCommand)).toHaveLength(0);
  });

  it('puts a kept drain back on the row it creates, and reads no drain when the row exists', async () => {
    const drainedAt = clock.now() - 3_600_000;
    ddb.on(PutCommand).resolves({});
    ddb.on(BatchWriteCommand).resolves({});
    ddb.on(GetCommand).resolves({ Item: { agentId: 'a1', drainedAt, drainedBy: 'ops' } });
    ddb.on(UpdateCommand).resolves({
      Attributes: { ...liveRow('a1'), card: card('a1'), drainedAt, drainedBy: 'ops' },
    });
    const created = await registry.register(card('a1'));
    expect(created.record).toMatchObject({
      status: 'drained',
      drained: { at: new Date(drainedAt).toISOString(), by: 'ops' },
    });
    const restore = ddb.commandCalls(UpdateCommand)[0]?.args[0].input;
    expect(restore).toMatchObject({
      Key: { pk: 'AGENT#a1', sk: 'AGENT' },
      ConditionExpression: '(attribute_exists(pk))',
    });
    expect(Object.values(restore?.ExpressionAttributeValues ?? {})).toEqual(
      expect.arrayContaining([drainedAt, 'ops']),
    );

    // Registering again (the row exists): no drain read, the row's own mark is what counts.
    const row = ddb.commandCalls(PutCommand)[0]?.args[0].input.Item;
    ddb.reset();
    ddb.on(PutCommand).rejects(conditionFailed());
    ddb.on(BatchGetCommand).resolves({
      Responses: { registry: [row ?? {}] },
    });
    ddb.on(BatchWriteCommand).resolves({});
    expect((await registry.register(card('a1'))).outcome).toBe('unchanged');
    expect(ddb.commandCalls(GetCommand)).toHaveLength(0);
  });

  it('computes the heartbeat deadline inside the update expression, with no read', async () => {
    ddb.on(UpdateCommand).resolves({ Attributes: { ...liveRow('a1'), card: card('a1') } });
    await registry.heartbeat('a1', { inFlight: 2 });
    expect(ddb.calls()).toHaveLength(1);
    const input = ddb.commandCalls(UpdateCommand)[0]?.args[0].input;
    expect(input?.UpdateExpression).toMatch(/#expiresAt = :v\d+ \+ #hbTimeoutSec/);
    expect(input?.UpdateExpression).toMatch(/REMOVE #reportedStatus/);
    expect(input?.ConditionExpression).toBe('(attribute_exists(pk))');
  });

  it('maps a failed existence condition to NotFoundError, reading the row only then', async () => {
    ddb.on(UpdateCommand).rejects(conditionFailed());
    ddb.on(BatchGetCommand).resolves({ Responses: { registry: [] } });
    await expect(registry.heartbeat('ghost')).rejects.toBeInstanceOf(NotFoundError);
    // The read that tells "not there" from "not yours" happens after the write failed, not before.
    expect(ddb.calls().map((call) => call.args[0].constructor.name)).toEqual([
      'UpdateCommand',
      'BatchGetCommand',
    ]);
  });

  it('lets service errors through unchanged', async () => {
    ddb.on(UpdateCommand).rejects(new ThrottlingException({ message: 'slow down', $metadata: {} }));
    await expect(registry.heartbeat('a1')).rejects.toBeInstanceOf(ThrottlingException);
  });

  it('rejects bad input before sending anything', async () => {
    await expect(registry.register({ agentId: 'a1' })).rejects.toBeInstanceOf(ValidationError);
    await expect(registry.get('no spaces allowed')).rejects.toBeInstanceOf(ValidationError);
    await expect(registry.discover({ capability: 'x', version: '>>1' })).rejects.toBeInstanceOf(
      ValidationError,
    );
    expect(ddb.calls()).toHaveLength(0);
  });

  it('discovers one capability with one Query and one BatchGetItem', async () => {
    const capabilityRow = {
      pk: 'CAP#summarize',
      sk: 'AGENT#a1#1.2.0',
      agentId: 'a1',
      agentType: 'worker',
      description: 'd',
      cardHash: 'h1',
      capability: { name: 'summarize', version: '1.2.0', priority: 0, metadata: {} },
      endpoint: { lambdaArn: 'arn:aws:lambda:us-east-1:123456789012:function:a1' },
    };
    ddb.on(QueryCommand).resolves({ Items: [capabilityRow] });
    ddb.on(BatchGetCommand).resolves({ Responses: { registry: [liveRow('a1')] } });

    const matches = await registry.discover({ capability: 'summarize', version: '^1' });
    expect(matches.map((m) => [m.agentId, m.status])).toEqual([['a1', 'healthy']]);
    expect(ddb.calls()).toHaveLength(2);
    expect(ddb.commandCalls(QueryCommand)[0]?.args[0].input).toMatchObject({
      KeyConditionExpression: 'pk = :pk',
      ExpressionAttributeValues: { ':pk': 'CAP#summarize' },
    });
    const get = ddb.commandCalls(BatchGetCommand)[0]?.args[0].input.RequestItems?.registry;
    expect(get?.Keys).toEqual([{ pk: 'AGENT#a1', sk: 'AGENT' }]);
    // live state only, never the card
    expect(get?.ProjectionExpression).toBeDefined();
    expect(Object.values(get?.ExpressionAttributeNames ?? {})).not.toContain('card');
  });

  it('ignores capability rows left behind by an older card', async () => {
    ddb.on(QueryCommand).resolves({
      Items: [
        {
          agentId: 'a1',
          agentType: 'worker',
          description: 'd',
          cardHash: 'stale',
          capability: { name: 'summarize', version: '1.0.0', priority: 0, metadata: {} },
          endpoint: { lambdaArn: 'arn:aws:lambda:us-east-1:123456789012:function:a1' },
        },
      ],
    });
    ddb.on(BatchGetCommand).resolves({ Responses: { registry: [liveRow('a1')] } });
    expect(await registry.discover({ capability: 'summarize' })).toEqual([]);
  });

  it('retries unprocessed keys of a BatchGetItem', async () => {
    ddb
      .on(BatchGetCommand)
      .resolvesOnce({
        Responses: { registry: [] },
        UnprocessedKeys: { registry: { Keys: [{ pk: 'AGENT#a1', sk: 'AGENT' }] } },
      })
      .resolves({ Responses: { registry: [{ ...liveRow('a1'), card: card('a1') }] } });
    expect((await registry.get('a1')).card.agentId).toBe('a1');
    expect(ddb.commandCalls(BatchGetCommand)).toHaveLength(2);
  });

  it('records an outcome with ADDs guarded by the current window', async () => {
    ddb.on(UpdateCommand).resolves({ Attributes: liveRow('a1', { reqTotal: 1, brFailures: 1 }) });
    const circuit = await registry.recordOutcome('a1', { ok: false, latencyMs: 12.6 });
    expect(circuit.state).toBe('closed');
    const input = ddb.commandCalls(UpdateCommand)[0]?.args[0].input;
    expect(input?.UpdateExpression).toMatch(
      /^ADD #reqTotal :v\d, #errTotal :v\d, #latTotal :v\d, #winReq/,
    );
    expect(input?.UpdateExpression).toContain('#brFailures');
    expect(input?.ConditionExpression).toMatch(/attribute_exists\(pk\) AND #win = :v\d+/);
    expect(Object.values(input?.ExpressionAttributeValues ?? {})).toContain(13);
  });
});
