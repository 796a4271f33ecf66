import { DescribeAlarmsCommand, GetDashboardCommand } from '@aws-sdk/client-cloudwatch';
import {
  DeleteItemCommand,
  DescribeTableCommand,
  DescribeTimeToLiveCommand,
  QueryCommand,
} from '@aws-sdk/client-dynamodb';
import {
  type _Record,
  DescribeStreamCommand,
  GetRecordsCommand,
  GetShardIteratorCommand,
} from '@aws-sdk/client-dynamodb-streams';
import { InvokeCommand, ListEventSourceMappingsCommand } from '@aws-sdk/client-lambda';
import { describe, expect, it } from 'vitest';
import { EXAMPLE_AGENTS } from '../../examples/agents/index.ts';
import {
  type AgentView,
  agent,
  api,
  cloudWatch,
  dynamodb,
  dynamodbStreams,
  eventually,
  lambda,
  outputs,
} from './support.ts';

/**
 * What the deployment itself set up: cards registered by the custom resource and routable at once,
 * discovery, validation, liveness, the registry's TTL clean-up path, and the alarms.
 */
describe('the registry after deploy', () => {
  it('holds every example agent, registered by the deployment and healthy without waiting for a ping', async () => {
    const { status, body } = await api<{ agents: AgentView[] }>('GET', '/agents');
    expect(status).toBe(200);
    const byId = new Map(body.agents.map((a) => [a.card.agentId, a]));
    for (const { definition } of EXAMPLE_AGENTS) {
      expect(byId.get(definition.agentId)?.status, definition.agentId).toBe('healthy');
      expect(byId.get(definition.agentId)?.card.endpoint.lambdaArn).toMatch(/^arn:aws:lambda:/);
    }
  });

  it('routes by capability straight away: discovery ranks the holders', async () => {
    const { status, body } = await api<{ matches: { agentId: string; score: number }[] }>(
      'POST',
      '/discover',
      { capability: 'extractive-summarization' },
    );
    expect(status).toBe(200);
    // flaky-summarizer declares the higher priority (20 vs 5).
    expect(body.matches.map((m) => m.agentId)).toEqual(['flaky-summarizer', 'summarizer']);
  });

  it('refuses bad input with 400 and the field path, and changes nothing', async () => {
    const { status, body } = await api('POST', '/coordinations', {
      pattern: 'swarm',
      agents: ['planner'],
    });
    expect(status).toBe(400);
    expect(body).toMatchObject({
      error: {
        code: 'VALIDATION_FAILED',
        details: { issues: expect.arrayContaining([expect.objectContaining({ path: 'pattern' })]) },
      },
    });
  });

  it('answers 404 for an agent it does not know', async () => {
    const { status } = await api('GET', '/agents/nobody-here');
    expect(status).toBe(404);
  });
});

describe('liveness', () => {
  it('a heartbeat refreshes the agent, and the health route shows it', async () => {
    const before = await agent('summarizer');
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    const beat = await api<AgentView>('POST', '/agents/summarizer/heartbeat', { inFlight: 2 });
    expect(beat.status).toBe(200);
    const { status, body } = await api<{
      status: string;
      metrics: { lastHeartbeat: string; inFlight: number };
      circuit: { state: string };
    }>('GET', '/agents/summarizer/health');
    expect(status).toBe(200);
    expect(body.status).toBe('healthy');
    expect(body.metrics.inFlight).toBe(2);
    expect(Date.parse(body.metrics.lastHeartbeat)).toBeGreaterThan(
      Date.parse(before.metrics.lastHeartbeat ?? '1970-01-01T00:00:00Z'),
    );
    expect(body.circuit.state).toBe('closed');
  });
});

describe('the registry janitor (TTL clean-up)', () => {
  it('TTL is on, and the janitor listens to the table’s stream for TTL removals only', async () => {
    const ttl = await dynamodb.send(
      new DescribeTimeToLiveCommand({ TableName: outputs.RegistryTableName }),
    );
    expect(ttl.TimeToLiveDescription).toMatchObject({
      TimeToLiveStatus: 'ENABLED',
      AttributeName: 'expiresAt',
    });
    const { Table } = await dynamodb.send(
      new DescribeTableCommand({ TableName: outputs.RegistryTableName }),
    );
    const { EventSourceMappings = [] } = await lambda.send(
      new ListEventSourceMappingsCommand({ EventSourceArn: Table?.LatestStreamArn }),
    );
    expect(EventSourceMappings).toHaveLength(1);
    expect(JSON.stringify(EventSourceMappings[0]?.FilterCriteria)).toContain(
      'dynamodb.amazonaws.com',
    );
  });

  it('the deployed janitor removes the capability rows of an agent whose row TTL deleted', async () => {
    // moto never expires items, so the deletion TTL would make is made here, and the stream
    // record it leaves is handed to the deployed function marked as TTL's (userIdentity), as the
    // event source mapping's filter would let it through on AWS.
    const card = {
      agentId: `expiring-${Date.now()}`,
      agentType: 'test',
      description: 'An agent whose registry row TTL is about to delete',
      capabilities: [{ name: 'janitor-probe', version: '1.0.0' }],
      endpoint: { lambdaArn: 'arn:aws:lambda:us-east-1:000000000000:function:none' },
    };
    expect((await api('POST', '/agents', card)).status).toBe(201);
    const { Table } = await dynamodb.send(
      new DescribeTableCommand({ TableName: outputs.RegistryTableName }),
    );
    const streamArn = Table?.LatestStreamArn ?? '';
    const { StreamDescription } = await dynamodbStreams.send(
      new DescribeStreamCommand({ StreamArn: streamArn }),
    );
    const shards = StreamDescription?.Shards ?? [];
    const iterators = await Promise.all(
      shards.map(async (shard) => {
        const { ShardIterator } = await dynamodbStreams.send(
          new GetShardIteratorCommand({
            StreamArn: streamArn,
            ShardId: shard.ShardId,
            ShardIteratorType: 'LATEST',
          }),
        );
        return ShardIterator;
      }),
    );
    expect(await capabilityRows('janitor-probe')).toBe(1);
    await dynamodb.send(
      new DeleteItemCommand({
        TableName: outputs.RegistryTableName,
        Key: { pk: { S: `AGENT#${card.agentId}` }, sk: { S: 'AGENT' } },
      }),
    );
    const removal = await eventually('the REMOVE record on the stream', async () => {
      for (const iterator of iterators) {
        if (!iterator) continue;
        const { Records = [] } = await dynamodbStreams.send(
          new GetRecordsCommand({ ShardIterator: iterator }),
        );
        const found = Records.find(
          (r: _Record) =>
            r.eventName === 'REMOVE' && r.dynamodb?.Keys?.pk?.S === `AGENT#${card.agentId}`,
        );
        if (found) return found;
      }
      return undefined;
    });
    const janitor = await janitorFunction(streamArn);
    const ttlRecord = {
      ...removal,
      userIdentity: { type: 'Service', principalId: 'dynamodb.amazonaws.com' },
      eventSourceARN: streamArn,
    };
    const { Payload, FunctionError } = await lambda.send(
      new InvokeCommand({
        FunctionName: janitor,
        Payload: new TextEncoder().encode(JSON.stringify({ Records: [ttlRecord] })),
      }),
    );
    expect(FunctionError).toBeUndefined();
    expect(JSON.parse(new TextDecoder().decode(Payload))).toEqual({ batchItemFailures: [] });
    // The capability rows themselves are gone (discovery would hide them anyway: it skips rows
    // whose agent row is missing).
    expect(await capabilityRows('janitor-probe')).toBe(0);
  });
});

/** Rows of the capability's index partition (`CAP#<name>`), read straight from the table. */
async function capabilityRows(capability: string): Promise<number> {
  const { Count = 0 } = await dynamodb.send(
    new QueryCommand({
      TableName: outputs.RegistryTableName,
      KeyConditionExpression: 'pk = :pk',
      ExpressionAttributeValues: { ':pk': { S: `CAP#${capability}` } },
      Select: 'COUNT',
    }),
  );
  return Count;
}

async function janitorFunction(streamArn: string): Promise<string> {
  const { EventSourceMappings = [] } = await lambda.send(
    new ListEventSourceMappingsCommand({ EventSourceArn: streamArn }),
  );
  const arn = EventSourceMappings[0]?.FunctionArn;
  if (!arn) throw new Error('no function reads the registry stream');
  return arn;
}

describe('monitoring', () => {
  it('the alarms are deployed on the stack’s metrics, read back through CloudWatch', async () => {
    const { MetricAlarms = [] } = await cloudWatch.send(new DescribeAlarmsCommand({}));
    const descriptions = MetricAlarms.map((a) => a.AlarmDescription ?? '');
    expect(descriptions).toContainEqual(
      expect.stringMatching(/of coordinations failed in 5 minutes/),
    );
    expect(descriptions).toContainEqual(
      expect.stringMatching(/Step Functions refused coordination starts/),
    );
    for (const { definition } of EXAMPLE_AGENTS) {
      expect(descriptions).toContainEqual(
        expect.stringContaining(`Agent ${definition.agentId} has dead-lettered messages`),
      );
      expect(descriptions).toContainEqual(
        expect.stringContaining(`Agent ${definition.agentId} fails more than`),
      );
    }
    const failureRate = MetricAlarms.find((a) =>
      a.AlarmDescription?.includes('of coordinations failed'),
    );
    expect(failureRate?.Metrics?.map((m) => m.Expression).filter(Boolean)).toEqual([
      'IF(started > 0, 100 * failed / started, 0)',
    ]);
    expect(failureRate?.Metrics?.flatMap((m) => m.MetricStat?.Metric?.Namespace ?? [])).toEqual([
      'Mobius/MobiusCoordinator',
      'Mobius/MobiusCoordinator',
    ]);
  });

  it('LocalStack deploys the dashboard as a no-op: it cannot be read back (see README)', async () => {
    // Community LocalStack has no AWS::CloudWatch::Dashboard provider: the deploy reports it
    // "deployed as a fallback", the output name is a placeholder, and nothing is stored.
    expect(outputs.DashboardName).toBe('unknown');
    await expect(
      cloudWatch.send(new GetDashboardCommand({ DashboardName: outputs.DashboardName })),
    ).rejects.toThrow();
  });
});
