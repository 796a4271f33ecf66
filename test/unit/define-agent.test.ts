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
import { agentCardSchemaUnder } from '../../functions/core/model/agent-card.ts';
import { AgentRegistry } from '../../functions/core/registry/agent-registry.ts';
import {
  type AgentDependencies,
  type AgentHandler,
  defineAgent,
} from '../../functions/core/sdk/define-agent.ts';
import type { CoordinationEventLog } from '../../functions/core/streaming/event-log.ts';
import type {
  CoordinationEvent,
  CoordinationEventInput,
} from '../../functions/core/streaming/events.ts';
import { lambdaContext } from '../../functions/embedded/lambda-context.ts';
import { liveAgentRow as liveRow } from '../support/cards.ts';

const ddb = mockClient(DynamoDBDocumentClient);
const sfn = mockClient(SFNClient);
const sqs = mockClient(SQSClient);
const registry = new AgentRegistry({
  tableName: 'registry',
  client: DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'us-east-1' })),
});

function agent(
  handler: AgentHandler,
  fields: { maxConcurrency?: number } = {},
  dependencies: Partial<AgentDependencies> = {},
) {
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
      events: false,
      ...dependencies,
    },
  );
}

/**
 * The event log's contract kept in memory, for the SDK's side of it (the DynamoDB log itself is
 * tested on dynalite in test/integration/agent-step-events.test.ts). `down` makes its writes fail.
 */
class MemoryEventLog implements CoordinationEventLog {
  readonly appended: CoordinationEventInput[] = [];
  readonly #starts = new Map<string, number>();
  down: 'appends' | 'everything' | undefined;

  async append(coordinationId: string, events: readonly CoordinationEventInput[]) {
    if (this.down !== undefined) throw new Error('the event log is down');
    const first = this.appended.length + 1;
    this.appended.push(...events);
    return events.map(
      (event, i): CoordinationEvent => ({
        ...event,
        id: first + i,
        coordinationId,
        time: new Date(0).toISOString(),
      }),
    );
  }

  async countStart(coordinationId: string, key: string) {
    if (this.down === 'everything') throw new Error('the event log is down');
    const count = (this.#starts.get(`${coordinationId}/${key}`) ?? 0) + 1;
    this.#starts.set(`${coordinationId}/${key}`, count);
    return count;
  }

  async finishedId() {
    return undefined;
  }
  async read() {
    return [];
  }

  async *follow(): AsyncGenerator<CoordinationEvent> {}

  async list() {
    return { coordinations: [] };
  }
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

describe('defineAgent: coordination tasks report to the event log', () => {
  beforeEach(() => {
    ddb.reset();
    sfn.reset();
    ddb.on(PutCommand).resolves({});
    ddb.on(BatchWriteCommand).resolves({});
    ddb.on(UpdateCommand).resolves({ Attributes: liveRow() });
  });
  afterEach(() => {
    vi.unstubAllEnvs();
    vi.restoreAllMocks();
  });

  const writer: AgentHandler = async function* () {
    yield 'Once ';
    yield 'upon';
    return { words: 2 };
  };

  it('writes the start, each chunk in order and the success; the task result is what it always was', async () => {
    const events = new MemoryEventLog();
    const result = await agent(writer, {}, { events })(task({ candidate: 0 }), lambdaContext('w1'));
    expect(result).toMatchObject({ agentId: 'w1', output: { words: 2 } });
    const step = { stepId: 'step1', agentId: 'w1', candidate: 0, attempt: 1 };
    expect(events.appended).toEqual([
      { type: 'step.started', ...step },
      { type: 'step.chunk', ...step, chunk: { seq: 0, text: 'Once ' } },
      { type: 'step.chunk', ...step, chunk: { seq: 1, text: 'upon' } },
      {
        type: 'step.succeeded',
        ...step,
        output: { words: 2 },
        durationMs: (result as { durationMs: number }).durationMs,
      },
    ]);
  });

  it('reports a fallback candidate as step.fallback, a second start as step.retried, a failure as step.failed', async () => {
    const events = new MemoryEventLog();
    const failing = agent(
      () => {
        throw new RetryableAgentError('busy');
      },
      {},
      { events },
    );
    await expect(failing(task({ candidate: 1 }), lambdaContext('w1'))).rejects.toThrow('busy');
    await expect(failing(task({ candidate: 1 }), lambdaContext('w1'))).rejects.toThrow('busy');
    const step = { stepId: 'step1', agentId: 'w1', candidate: 1 };
    expect(events.appended).toEqual([
      { type: 'step.fallback', ...step, attempt: 1 },
      { type: 'step.failed', ...step, attempt: 1, error: 'RetryableAgentError', cause: 'busy' },
      { type: 'step.retried', ...step, attempt: 2 },
      { type: 'step.failed', ...step, attempt: 2, error: 'RetryableAgentError', cause: 'busy' },
    ]);
  });

  it("counts a supervisor's starts per round, and says the round", async () => {
    const events = new MemoryEventLog();
    const supervisor = agent(() => ({ done: true, output: 'ok' }), {}, { events });
    const round = (n: number) =>
      task({ pattern: 'hierarchical', stepId: 'supervisor', candidate: 0, context: { round: n } });
    await supervisor(round(1), lambdaContext('w1'));
    await supervisor(round(2), lambdaContext('w1'));
    expect(events.appended.filter((e) => e.type !== 'step.succeeded')).toEqual([
      {
        type: 'step.started',
        stepId: 'supervisor',
        agentId: 'w1',
        candidate: 0,
        attempt: 1,
        round: 1,
      },
      {
        type: 'step.started',
        stepId: 'supervisor',
        agentId: 'w1',
        candidate: 0,
        attempt: 1,
        round: 2,
      },
    ]);
  });

  it('streams a task-token task to the log too, and answers Step Functions with the final output', async () => {
    sfn.on(SendTaskSuccessCommand).resolves({});
    const events = new MemoryEventLog();
    const handler = agent(
      async function* () {
        yield 'a';
        yield 'b';
      },
      {},
      { events },
    );
    await handler(sqsEvent([task({ taskToken: 'tok', candidate: 0 })]), lambdaContext('w1'));
    const success = sfn.commandCalls(SendTaskSuccessCommand)[0]?.args[0].input;
    expect(JSON.parse(success?.output ?? '{}')).toMatchObject({ output: 'ab' });
    expect(events.appended.map((e) => e.type)).toEqual([
      'step.started',
      'step.chunk',
      'step.chunk',
      'step.succeeded',
    ]);
  });

  it.each([
    ['its appends fail', 'appends', 4],
    ['it cannot even count the start', 'everything', 4],
  ] as const)(
    'never fails the task when %s, and warns how many events were lost',
    async (_case, down, lost) => {
      vi.stubEnv('POWERTOOLS_DEV', 'true');
      vi.stubEnv('POWERTOOLS_LOG_LEVEL', 'WARN');
      const printed: string[] = [];
      vi.spyOn(console, 'warn').mockImplementation((line: unknown) => {
        printed.push(String(line));
      });
      const events = new MemoryEventLog();
      events.down = down;
      const result = await agent(writer, {}, { events })(task(), lambdaContext('w1'));
      expect(result).toMatchObject({ output: { words: 2 } });
      const warnings = printed.map((line) => JSON.parse(line) as Record<string, unknown>);
      expect(warnings).toContainEqual(
        expect.objectContaining({
          level: 'WARN',
          message: expect.stringContaining(
            `the coordination event log lost ${lost} of this step's 4 events`,
          ),
          lostEvents: lost,
          coordinationId: 'c1',
          stepId: 'step1',
        }),
      );
    },
  );

  it('fails a task that streams more than Step Functions carries and returns nothing, saying to return a final value', async () => {
    const events = new MemoryEventLog();
    // 300 chunks of 1 KB: 300 KB joined, more than a step's output may be.
    const chatty = async function* () {
      for (let i = 0; i < 300; i++) yield 'x'.repeat(1024);
    };
    const failed = agent(chatty, {}, { events })(task({ candidate: 0 }), lambdaContext('w1'));
    await expect(failed).rejects.toBeInstanceOf(FatalAgentError);
    await expect(failed).rejects.toThrow(
      /streamed more than 262144 bytes and returned no final value.*Step Functions.*return a final value/,
    );
    // Its chunks still went to the log, and watchers see the step fail with that error.
    const types = events.appended.map((e) => e.type);
    expect(types.filter((type) => type === 'step.chunk')).toHaveLength(300);
    expect(types.at(-1)).toBe('step.failed');
    // A message's output goes back from Lambda (6 MB): the same chunks fold into it.
    const request = createMessage({ from: 'api', to: 'w1', type: 'request', payload: {} });
    const response = (await agent(chatty)(request, lambdaContext('w1'))) as { payload: unknown };
    expect(response.payload).toBe('x'.repeat(300 * 1024));
  });

  it('counts what a task folds as JSON: escaped text past 256 KB fails though its raw text fits', async () => {
    // Four chunks of 40 000 characters, each escaped to six bytes: 160 000 characters, 960 KB of JSON.
    const handler = agent(async function* () {
      for (let i = 0; i < 4; i++) yield '\u0001'.repeat(40_000);
    });
    await expect(handler(task(), lambdaContext('w1'))).rejects.toThrow(/return a final value/);
  });

  it('folds the chunks into the output when there is no event log', async () => {
    const handler = agent(async function* () {
      yield 'no ';
      yield 'log';
    });
    expect(await handler(task(), lambdaContext('w1'))).toMatchObject({ output: 'no log' });
  });
});

describe('defineAgent: the card of a streaming agent', () => {
  beforeEach(() => {
    ddb.reset();
    ddb.on(PutCommand).resolves({});
    ddb.on(BatchWriteCommand).resolves({});
    ddb.on(UpdateCommand).resolves({ Attributes: liveRow() });
  });
  afterEach(() => vi.unstubAllEnvs());

  it('registers its streaming function from MOBIUS_AGENT_STREAM_ARN as endpoint.streamArn', async () => {
    const streamArn = 'arn:aws:lambda:us-east-1:123456789012:function:w1-stream';
    vi.stubEnv('MOBIUS_AGENT_STREAM_ARN', streamArn);
    await agent(() => 'ok')(task(), lambdaContext('w1'));
    const registered = ddb.commandCalls(PutCommand)[0]?.args[0].input.Item;
    expect(registered?.card.endpoint).toMatchObject({ streamArn });
  });

  it('checks streamArn as it checks lambdaArn: an ARN, in the region and an allowed account', () => {
    const policy = { region: 'us-east-1', accounts: ['123456789012'] };
    const cardWith = (streamArn: string) =>
      agent(() => 'ok').card({
        lambdaArn: 'arn:aws:lambda:us-east-1:123456789012:function:w1',
        streamArn,
      });
    expect(() => cardWith('https://example.com/stream')).toThrow(/not a Lambda function ARN/);
    const issues = (streamArn: string) =>
      agentCardSchemaUnder(policy)
        .safeParse(cardWith(streamArn))
        .error?.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    expect(issues('arn:aws:lambda:eu-west-1:123456789012:function:w1-stream')).toEqual([
      'endpoint.streamArn: the function is in region eu-west-1; agents are reached in us-east-1 only',
    ]);
    expect(issues('arn:aws:lambda:us-east-1:999999999999:function:w1-stream')).toEqual([
      "endpoint.streamArn: the function is in account 999999999999; agents may be reached in 123456789012 only (the stack's allowedAgentAccounts)",
    ]);
    expect(issues('arn:aws:lambda:us-east-1:123456789012:function:w1-stream')).toBeUndefined();
  });
});
