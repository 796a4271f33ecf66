import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  BatchWriteCommand,
  DynamoDBDocumentClient,
  PutCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import type { SQSEvent } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { PING_KIND } from '../../functions/core/model/task.ts';
import { AgentRegistry } from '../../functions/core/registry/agent-registry.ts';
import { type AgentDefinition, defineAgent } from '../../functions/core/sdk/define-agent.ts';
import { lambdaContext } from '../../functions/embedded/lambda-context.ts';
import { liveAgentRow as liveRow } from '../support/cards.ts';

const ddb = mockClient(DynamoDBDocumentClient);
const registry = new AgentRegistry({
  tableName: 'registry',
  client: DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'us-east-1' })),
});

function agent(extra: Partial<AgentDefinition> = {}) {
  return defineAgent(
    {
      agentId: 'w1',
      agentType: 'worker',
      description: 'test worker',
      capabilities: [{ name: 'echo', version: '1.0.0' }],
      handler: (message) => message.input,
      ...extra,
    },
    {
      registry,
      idempotency: false,
      endpoint: { queueUrl: 'https://sqs.us-east-1.amazonaws.com/123456789012/w1' },
    },
  );
}

const task = (input: unknown = { text: 'hi' }) => ({
  kind: 'mobius.task',
  coordinationId: 'c1',
  stepId: 'step1',
  agentId: 'w1',
  pattern: 'pipeline',
  input,
});

/** The heartbeats the agent wrote: the values of each UpdateCommand that set lastHeartbeatAt. */
function heartbeats(): Record<string, unknown>[] {
  return ddb
    .commandCalls(UpdateCommand)
    .map((call) => call.args[0].input)
    .filter((input) =>
      Object.values(input.ExpressionAttributeNames ?? {}).includes('lastHeartbeatAt'),
    )
    .map((input) => {
      const names = input.ExpressionAttributeNames ?? {};
      const values = input.ExpressionAttributeValues ?? {};
      // SET #n0 = :v0, ... → { attribute: value }
      return Object.fromEntries(
        [...(input.UpdateExpression ?? '').matchAll(/(#\w+) = (:\w+)/g)].map(([, n, v]) => [
          names[n as string],
          values[v as string],
        ]),
      );
    });
}

describe('lifecycle hooks', () => {
  beforeEach(() => {
    ddb.reset();
    ddb.on(PutCommand).resolves({});
    ddb.on(BatchWriteCommand).resolves({});
    ddb.on(UpdateCommand).resolves({ Attributes: liveRow() });
  });

  it('runs onStart once per container, after registration and before the first work', async () => {
    const order: string[] = [];
    ddb.on(PutCommand).callsFake(() => {
      order.push('registered');
      return {};
    });
    const onStart = vi.fn(() => {
      order.push('onStart');
    });
    const handler = agent({
      onStart,
      handler: () => {
        order.push('handler');
        return 'ok';
      },
    });
    await handler(task(), lambdaContext('w1'));
    await handler(task(), lambdaContext('w1'));
    expect(onStart).toHaveBeenCalledTimes(1);
    expect(onStart).toHaveBeenCalledWith(expect.objectContaining({ agentId: 'w1' }));
    expect(order).toEqual(['registered', 'onStart', 'handler', 'handler']);
  });

  it('fails the invocation when onStart throws, and runs it again on the next one', async () => {
    let attempts = 0;
    const handler = agent({
      onStart: () => {
        attempts++;
        if (attempts === 1) throw new Error('database unreachable');
      },
    });
    await expect(handler(task(), lambdaContext('w1'))).rejects.toThrow('database unreachable');
    await expect(handler(task(), lambdaContext('w1'))).resolves.toMatchObject({ agentId: 'w1' });
    expect(attempts).toBe(2);
  });

  it('stop() marks the agent draining in the registry, then runs onStop, once', async () => {
    const order: string[] = [];
    ddb.on(UpdateCommand).callsFake(() => {
      order.push('update');
      return { Attributes: liveRow() };
    });
    const onStop = vi.fn(() => {
      order.push('onStop');
    });
    const handler = agent({ onStop });
    await handler(task(), lambdaContext('w1'));
    order.length = 0;
    await Promise.all([handler.stop(), handler.stop()]);
    expect(onStop).toHaveBeenCalledTimes(1);
    expect(order).toEqual(['update', 'onStop']);
    expect(heartbeats().at(-1)).toMatchObject({ reportedStatus: 'draining', inFlight: 0 });
    // Its later heartbeats keep saying so: a ping must not bring a stopping agent back.
    await handler({ kind: PING_KIND }, lambdaContext('w1'));
    expect(heartbeats().at(-1)).toMatchObject({ reportedStatus: 'draining' });
  });

  it('stop() lets work in flight finish before onStop, within the grace', async () => {
    let release: () => void = () => undefined;
    const handler = agent({
      handler: () =>
        new Promise<string>((resolve) => {
          release = () => {
            events.push('work done');
            resolve('late');
          };
        }),
      onStop: () => {
        events.push('onStop');
      },
    });
    const events: string[] = [];
    await handler({ kind: PING_KIND }, lambdaContext('w1')); // started
    const working = handler(task(), lambdaContext('w1'));
    await vi.waitFor(() => expect(heartbeats().length).toBeGreaterThan(0));
    const stopped = handler.stop({ graceMs: 5000 });
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(events).toEqual([]);
    release();
    await Promise.all([working, stopped]);
    expect(events).toEqual(['work done', 'onStop']);
  });

  it('stop() runs onStop after the grace even if work hangs', async () => {
    const onStop = vi.fn();
    const handler = agent({ handler: () => new Promise(() => undefined), onStop });
    void handler(task(), lambdaContext('w1'));
    await vi.waitFor(() => expect(ddb.commandCalls(PutCommand)).toHaveLength(1));
    const started = performance.now();
    await handler.stop({ graceMs: 50 });
    expect(onStop).toHaveBeenCalledTimes(1);
    expect(performance.now() - started).toBeLessThan(5000);
  });

  it('runs no onStop in a container that never started, but still marks it draining', async () => {
    const onStop = vi.fn();
    const handler = agent({ onStop });
    await handler.stop();
    expect(onStop).not.toHaveBeenCalled();
    expect(heartbeats().at(-1)).toMatchObject({ reportedStatus: 'draining' });
  });

  it('logs what onStop throws and still resolves', async () => {
    const handler = agent({
      onStop: () => {
        throw new Error('flush failed');
      },
    });
    await handler(task(), lambdaContext('w1'));
    await expect(handler.stop()).resolves.toBeUndefined();
  });
});

describe('on Lambda', () => {
  afterEach(() => {
    vi.unstubAllEnvs();
    vi.restoreAllMocks();
  });

  it('runs onStop on SIGTERM without marking the agent draining, then exits', async () => {
    ddb.reset();
    ddb.on(PutCommand).resolves({});
    ddb.on(BatchWriteCommand).resolves({});
    ddb.on(UpdateCommand).resolves({ Attributes: liveRow() });
    vi.stubEnv('AWS_LAMBDA_FUNCTION_NAME', 'w1');
    const exit = vi.spyOn(process, 'exit').mockImplementation((() => undefined) as never);
    const onStop = vi.fn();
    const handler = agent({ onStop });
    await handler(task(), lambdaContext('w1'));
    const updates = ddb.commandCalls(UpdateCommand).length;
    process.emit('SIGTERM');
    await vi.waitFor(() => expect(exit).toHaveBeenCalledWith(0));
    expect(onStop).toHaveBeenCalledTimes(1);
    // One container ends; the function's others keep serving: the agent stays routable.
    expect(ddb.commandCalls(UpdateCommand)).toHaveLength(updates);
  });
});

describe('utilisation', () => {
  beforeEach(() => {
    ddb.reset();
    ddb.on(PutCommand).resolves({});
    ddb.on(BatchWriteCommand).resolves({});
    ddb.on(UpdateCommand).resolves({ Attributes: liveRow() });
  });
  afterEach(() => vi.unstubAllEnvs());

  it('heartbeats handler p50/p99, memory against size, queue wait and the queue figures the ping brought', async () => {
    vi.stubEnv('AWS_LAMBDA_FUNCTION_MEMORY_SIZE', '512');
    const handler = agent({
      handler: async (message) => {
        await new Promise((resolve) => setTimeout(resolve, (message.input as { ms: number }).ms));
        return 'ok';
      },
    });
    // Short runs and one long one, far enough apart that a loaded machine's delays cannot swap them.
    for (const ms of [5, 5, 5, 5, 600]) await handler(task({ ms }), lambdaContext('w1'));
    const sentAt = Date.now() - 4000;
    const record: SQSEvent['Records'][number] = {
      messageId: 'm1',
      receiptHandle: 'r1',
      body: JSON.stringify(task({ ms: 1 })),
      attributes: {
        ApproximateReceiveCount: '1',
        SentTimestamp: String(sentAt),
        SenderId: 's',
        ApproximateFirstReceiveTimestamp: String(sentAt),
      },
      messageAttributes: {},
      md5OfBody: '',
      eventSource: 'aws:sqs',
      eventSourceARN: 'arn:aws:sqs:us-east-1:123456789012:w1',
      awsRegion: 'us-east-1',
    };
    await handler({ Records: [record] }, lambdaContext('w1'));
    const queue = { depth: 7, inFlight: 2, deadLetters: 1, readAt: Date.now() };
    await handler({ kind: PING_KIND, queue }, lambdaContext('w1'));
    const beat = heartbeats().at(-1) as { util: Record<string, number>; queue: unknown };
    expect(beat.queue).toEqual(queue);
    expect(beat.util.durationSamples).toBe(6);
    expect(beat.util.durationP50Ms).toBeGreaterThanOrEqual(4);
    expect(beat.util.durationP50Ms).toBeLessThan(600);
    expect(beat.util.durationP99Ms).toBeGreaterThanOrEqual(599);
    expect(beat.util.memorySizeMB).toBe(512);
    expect(beat.util.memoryUsedMB).toBeGreaterThan(10);
    expect(beat.util.oldestMessageAgeMs).toBeGreaterThanOrEqual(4000);
    // The wait is since the previous heartbeat: the next one has none to report.
    await handler({ kind: PING_KIND }, lambdaContext('w1'));
    expect((heartbeats().at(-1) as { util: object }).util).not.toHaveProperty('oldestMessageAgeMs');
  });

  it('ignores queue figures in a ping that do not parse, and still heartbeats', async () => {
    const handler = agent();
    await handler({ kind: PING_KIND, queue: { depth: -1 } }, lambdaContext('w1'));
    expect(heartbeats()).toHaveLength(1);
    expect(heartbeats()[0]).not.toHaveProperty('queue');
  });

  it('publishes AgentInFlight, AgentMemoryUsedMB and AgentMemorySizeMB with the agentId dimension', async () => {
    vi.stubEnv('POWERTOOLS_DEV', 'true');
    vi.stubEnv('POWERTOOLS_METRICS_DISABLED', 'false');
    vi.stubEnv('AWS_LAMBDA_FUNCTION_MEMORY_SIZE', '256');
    const printed: string[] = [];
    const log = vi.spyOn(console, 'log').mockImplementation((line: unknown) => {
      printed.push(String(line));
    });
    try {
      const handler = agent();
      await Promise.all([
        handler(task(), lambdaContext('w1')),
        handler(task(), lambdaContext('w1')),
      ]);
    } finally {
      log.mockRestore();
    }
    const lines = printed
      .filter((line) => line.includes('CloudWatchMetrics'))
      .map(
        (line) =>
          JSON.parse(line) as Record<string, unknown> & {
            _aws: { CloudWatchMetrics: { Dimensions: string[][]; Metrics: { Name: string }[] }[] };
          },
      );
    const withInFlight = lines.filter((line) =>
      line._aws.CloudWatchMetrics[0]?.Metrics.some((m) => m.Name === 'AgentInFlight'),
    );
    expect(withInFlight.length).toBeGreaterThan(0);
    const line = withInFlight[0] as (typeof lines)[number];
    expect(line._aws.CloudWatchMetrics[0]?.Dimensions[0]).toContain('agentId');
    expect(line.agentId).toBe('w1');
    // Concurrent invocations share one flush, where each metric holds a value per invocation.
    expect([line.AgentMemorySizeMB].flat()[0]).toBe(256);
    expect(Number([line.AgentMemoryUsedMB].flat()[0])).toBeGreaterThan(10);
    // Both tasks ran at once: the peak says 2 (in one flush or the other).
    const peaks = withInFlight.flatMap((l) => [l.AgentInFlight].flat()) as number[];
    expect(Math.max(...peaks)).toBe(2);
  });
});
