import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  SendTaskFailureCommand,
  SendTaskSuccessCommand,
  SFNClient,
  TaskTimedOut,
} from '@aws-sdk/client-sfn';
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import {
  BatchWriteCommand,
  DynamoDBDocumentClient,
  PutCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import type { SQSEvent } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  FatalAgentError,
  RetryableAgentError,
} from '../../functions/core/messaging/agent-errors.ts';
import { createMessage } from '../../functions/core/messaging/envelope.ts';
import { AgentRegistry } from '../../functions/core/registry/agent-registry.ts';
import { type AgentHandler, defineAgent } from '../../functions/core/sdk/define-agent.ts';
import { lambdaContext } from '../../functions/embedded/lambda-context.ts';
import { liveAgentRow as liveRow } from '../support/cards.ts';

const ddb = mockClient(DynamoDBDocumentClient);
const sfn = mockClient(SFNClient);
const sqs = mockClient(SQSClient);
const registry = new AgentRegistry({
  tableName: 'registry',
  client: DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'us-east-1' })),
});

function agent(handler: AgentHandler, fields: { maxConcurrency?: number } = {}) {
  return defineAgent(
    {
      agentId: 'w1',
      agentType: 'worker',
      description: 'test worker',
      capabilities: [{ name: 'echo', version: '1.0.0' }],
      handler,
      ...fields,
    },
    {
      registry,
      sfn: new SFNClient({ region: 'us-east-1' }),
      sqs: new SQSClient({ region: 'us-east-1' }),
      idempotency: false,
      endpoint: {
        queueUrl: 'https://sqs.us-east-1.amazonaws.com/123456789012/w1',
        queueArn: 'arn:aws:sqs:us-east-1:123456789012:w1',
      },
      deadLetterQueueUrl: 'https://sqs.us-east-1.amazonaws.com/123456789012/w1-dlq',
    },
  );
}

const task = (extra: Record<string, unknown> = {}) => ({
  kind: 'mobius.task',
  coordinationId: 'c1',
  stepId: 'step1',
  agentId: 'w1',
  pattern: 'pipeline',
  input: { text: 'hi' },
  ...extra,
});

function sqsEvent(bodies: unknown[]): SQSEvent {
  return {
    Records: bodies.map((body, i) => ({
      messageId: `m${i}`,
      receiptHandle: `r${i}`,
      body: typeof body === 'string' ? body : JSON.stringify(body),
      attributes: {
        ApproximateReceiveCount: '1',
        SentTimestamp: '0',
        SenderId: 's',
        ApproximateFirstReceiveTimestamp: '0',
      },
      messageAttributes: {},
      md5OfBody: '',
      eventSource: 'aws:sqs',
      eventSourceARN: 'arn:aws:sqs:us-east-1:123456789012:w1',
      awsRegion: 'us-east-1',
    })),
  };
}

describe('defineAgent', () => {
  beforeEach(() => {
    ddb.reset();
    sfn.reset();
    sqs.reset();
    ddb.on(PutCommand).resolves({});
    ddb.on(BatchWriteCommand).resolves({});
    ddb.on(UpdateCommand).resolves({ Attributes: liveRow() });
  });
  afterEach(() => {
    // Log-level stubs and console spies of one test must not reach the next.
    vi.unstubAllEnvs();
    vi.restoreAllMocks();
  });

  it('runs a direct task and returns the output with the time spent in the handler', async () => {
    const handler = agent((message) => ({
      upper: (message.input as { text: string }).text.toUpperCase(),
    }));
    const result = await handler(task(), lambdaContext('w1'));
    expect(result).toMatchObject({ agentId: 'w1', output: { upper: 'HI' } });
    expect((result as { durationMs: number }).durationMs).toBeGreaterThanOrEqual(0);
    // registered itself once on the cold start, with the queue from its configuration
    const registered = ddb.commandCalls(PutCommand)[0]?.args[0].input.Item;
    expect(registered?.card.endpoint).toMatchObject({
      queueUrl: 'https://sqs.us-east-1.amazonaws.com/123456789012/w1',
    });
    await handler(task(), lambdaContext('w1'));
    expect(ddb.commandCalls(PutCommand)).toHaveLength(1);
  });

  it('keeps the error name so state machines can Retry/Catch on it', async () => {
    const handler = agent(() => {
      throw new RetryableAgentError('downstream busy');
    });
    await expect(handler(task(), lambdaContext('w1'))).rejects.toMatchObject({
      name: 'RetryableAgentError',
    });
  });

  it('turns a supervisor plan into subtasks addressed by worker index', async () => {
    const handler = agent(() => ({
      subtasks: [
        { capability: 'sentiment', input: 'a' },
        { capability: 'sentiment', input: 'b' },
        { agentId: 'kw', input: 'c' },
      ],
    }));
    const workers = [
      { agentId: 'kw', capabilities: ['keywords'] },
      { agentId: 's1', capabilities: ['sentiment'] },
      { agentId: 's2', capabilities: ['sentiment'] },
    ];
    const result = await handler(
      task({ pattern: 'hierarchical', stepId: 'supervisor', context: { round: 2, workers } }),
      lambdaContext('w1'),
    );
    expect((result as { output: unknown }).output).toEqual({
      done: false,
      subtasks: [
        { subtaskId: 'r2-t1', worker: 1, agentId: 's1', input: 'a' },
        { subtaskId: 'r2-t2', worker: 2, agentId: 's2', input: 'b' },
        { subtaskId: 'r2-t3', worker: 0, agentId: 'kw', input: 'c' },
      ],
    });
    const bad = agent(() => ({ subtasks: [{ capability: 'ocr', input: 1 }] }));
    await expect(
      bad(
        task({ pattern: 'hierarchical', stepId: 'supervisor', context: { round: 1, workers } }),
        lambdaContext('w1'),
      ),
    ).rejects.toBeInstanceOf(FatalAgentError);
  });

  it('answers a synchronous request with a response envelope', async () => {
    const handler = agent((message) => ({ echo: message.input }));
    const request = createMessage({ from: 'api', to: 'w1', type: 'request', payload: { q: 1 } });
    expect(await handler(request, lambdaContext('w1'))).toMatchObject({
      type: 'response',
      correlationId: request.messageId,
      payload: { echo: { q: 1 } },
    });
  });

  it('answers task-token messages through Step Functions, successes and failures alike', async () => {
    sfn.on(SendTaskSuccessCommand).resolves({});
    sfn.on(SendTaskFailureCommand).resolves({});
    const handler = agent((message) => {
      if ((message.input as { fail?: boolean }).fail) throw new FatalAgentError('cannot');
      return 'done';
    });
    const response = await handler(
      sqsEvent([task({ taskToken: 'tok-1' }), task({ taskToken: 'tok-2', input: { fail: true } })]),
      lambdaContext('w1'),
    );
    expect(response).toEqual({ batchItemFailures: [] });
    const success = sfn.commandCalls(SendTaskSuccessCommand)[0]?.args[0].input;
    expect(success?.taskToken).toBe('tok-1');
    expect(JSON.parse(success?.output ?? '{}')).toMatchObject({ agentId: 'w1', output: 'done' });
    const failure = sfn.commandCalls(SendTaskFailureCommand)[0]?.args[0].input;
    expect(failure).toMatchObject({ taskToken: 'tok-2', error: 'FatalAgentError' });
    expect(JSON.parse(failure?.cause ?? '{}')).toMatchObject({
      agentId: 'w1',
      errorMessage: 'cannot',
    });
  });

  it('answers a task token with a well-formed failure whatever the handler returned or threw', async () => {
    sfn.on(SendTaskFailureCommand).resolves({});
    const handler = agent((message) => {
      const kind = (message.input as { kind: string }).kind;
      if (kind === 'bigint') return { big: 2n ** 70n };
      if (kind === 'circular') {
        const loop: Record<string, unknown> = {};
        loop.again = [loop];
        return loop;
      }
      if (kind === 'string') throw 'no way';
      throw undefined;
    });
    const kinds = ['bigint', 'circular', 'string', 'undefined'];
    const response = await handler(
      sqsEvent(kinds.map((kind) => task({ taskToken: `tok-${kind}`, input: { kind } }))),
      lambdaContext('w1'),
    );
    expect(response).toEqual({ batchItemFailures: [] });
    const failures = sfn
      .commandCalls(SendTaskFailureCommand)
      .map((call) => {
        const { taskToken, error, cause } = call.args[0].input;
        return { taskToken, error, cause: JSON.parse(cause ?? '{}') };
      })
      .sort(
        (a, b) =>
          kinds.indexOf(a.taskToken?.slice(4) ?? '') - kinds.indexOf(b.taskToken?.slice(4) ?? ''),
      );
    expect(failures).toEqual([
      {
        taskToken: 'tok-bigint',
        error: 'FatalAgentError',
        cause: {
          agentId: 'w1',
          errorType: 'FatalAgentError',
          errorMessage:
            'Agent w1 returned a value that is not JSON: a BigInt at output.big (return it as a string or a number)',
        },
      },
      {
        taskToken: 'tok-circular',
        error: 'FatalAgentError',
        cause: expect.objectContaining({
          errorMessage:
            'Agent w1 returned a value that is not JSON: a circular reference at output.again[0]',
        }),
      },
      {
        taskToken: 'tok-string',
        error: 'Error',
        cause: expect.objectContaining({ errorType: 'Error', errorMessage: 'no way' }),
      },
      {
        taskToken: 'tok-undefined',
        error: 'Error',
        cause: expect.objectContaining({
          errorMessage: 'the handler threw undefined instead of an Error',
        }),
      },
    ]);
  });

  it('logs a handler error with the agent, the coordination and the step', async () => {
    vi.stubEnv('POWERTOOLS_DEV', 'true');
    vi.stubEnv('POWERTOOLS_LOG_LEVEL', 'ERROR');
    const printed: string[] = [];
    vi.spyOn(console, 'error').mockImplementation((line: unknown) => {
      printed.push(String(line));
    });
    const handler = agent(() => {
      throw new RetryableAgentError('downstream busy');
    });
    await expect(handler(task(), lambdaContext('w1'))).rejects.toThrow('downstream busy');
    const lines = printed.map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(lines).toEqual([
      expect.objectContaining({
        level: 'ERROR',
        message: 'agent handler failed',
        agentId: 'w1',
        coordinationId: 'c1',
        stepId: 'step1',
        error: expect.objectContaining({ name: 'RetryableAgentError', message: 'downstream busy' }),
      }),
    ]);
  });

  it("puts each task's coordination and step on every line the handler logs, without mixing concurrent tasks", async () => {
    vi.stubEnv('POWERTOOLS_DEV', 'true');
    vi.stubEnv('POWERTOOLS_LOG_LEVEL', 'INFO');
    const printed: string[] = [];
    vi.spyOn(console, 'info').mockImplementation((line: unknown) => {
      printed.push(String(line));
    });
    const handler = agent(async (message, context) => {
      const { text } = message.input as { text: string };
      // The second task logs while the first is still waiting: a shared logger would mix their keys.
      await new Promise((resolve) => setTimeout(resolve, text === 'first' ? 20 : 0));
      context.logger.info('working', { text });
      return { text };
    });
    await Promise.all([
      handler(task({ stepId: 'step1', input: { text: 'first' } }), lambdaContext('w1')),
      handler(
        task({ coordinationId: 'c2', stepId: 'step2', input: { text: 'second' } }),
        lambdaContext('w1'),
      ),
    ]);
    const lines = printed.map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(lines).toEqual([
      expect.objectContaining({
        message: 'working',
        text: 'second',
        coordinationId: 'c2',
        stepId: 'step2',
      }),
      expect.objectContaining({
        message: 'working',
        text: 'first',
        coordinationId: 'c1',
        stepId: 'step1',
      }),
    ]);
  });

  it('drops the answer when the execution already gave up on the token', async () => {
    sfn
      .on(SendTaskSuccessCommand)
      .rejects(new TaskTimedOut({ message: 'timed out', $metadata: {} }));
    const handler = agent(() => 'late');
    expect(await handler(sqsEvent([task({ taskToken: 'old' })]), lambdaContext('w1'))).toEqual({
      batchItemFailures: [],
    });
  });

  it('reports retryable failures for redelivery and parks fatal ones in the dead-letter queue', async () => {
    sqs.on(SendMessageCommand).resolves({});
    const handler = agent((message) => {
      const kind = (message.input as { kind: string }).kind;
      if (kind === 'retry') throw new RetryableAgentError('later');
      if (kind === 'fatal') throw new FatalAgentError('never');
      return 'ok';
    });
    const messages = ['ok', 'retry', 'fatal'].map((kind) =>
      createMessage({ from: 'a', to: 'w1', type: 'request', payload: { kind } }),
    );
    const response = await handler(sqsEvent([...messages, 'not json']), lambdaContext('w1'));
    expect(response).toEqual({ batchItemFailures: [{ itemIdentifier: 'm1' }] });
    const parked = sqs.commandCalls(SendMessageCommand).map((c) => c.args[0].input);
    expect(parked.map((p) => p.QueueUrl)).toEqual([
      'https://sqs.us-east-1.amazonaws.com/123456789012/w1-dlq',
      'https://sqs.us-east-1.amazonaws.com/123456789012/w1-dlq',
    ]);
    expect(parked.map((p) => p.MessageAttributes?.['mobius-error']?.StringValue).sort()).toEqual([
      'body is not JSON',
      'never',
    ]);
  });

  it('handles a batch one record at a time when the agent declares maxConcurrency, in parallel otherwise', async () => {
    const peakOf = async (fields: { maxConcurrency?: number }) => {
      let inFlight = 0;
      let peak = 0;
      const handler = agent(async () => {
        peak = Math.max(peak, ++inFlight);
        await new Promise((resolve) => setTimeout(resolve, 10));
        inFlight--;
        return 'ok';
      }, fields);
      const messages = [1, 2, 3, 4].map((n) =>
        createMessage({ from: 'a', to: 'w1', type: 'request', payload: { n } }),
      );
      expect(await handler(sqsEvent(messages), lambdaContext('w1'))).toEqual({
        batchItemFailures: [],
      });
      return peak;
    };
    // Reserved concurrency bounds environments; one record at a time makes it bound the work.
    expect(await peakOf({ maxConcurrency: 2 })).toBe(1);
    expect(await peakOf({})).toBe(4);
  });

  it('refuses events it does not understand, saying why', async () => {
    const handler = agent(() => 'x');
    await expect(handler({ hello: 'world' }, lambdaContext('w1'))).rejects.toThrow(
      /cannot handle this event: not a task, ping/,
    );
  });
});
