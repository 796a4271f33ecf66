import { randomUUID } from 'node:crypto';
import { Logger } from '@aws-lambda-powertools/logger';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { createDocumentClient } from '../../functions/core/aws/dynamodb.ts';
import { FatalAgentError } from '../../functions/core/messaging/agent-errors.ts';
import { taskRequestSchema } from '../../functions/core/model/task.ts';
import { ensureEventsTable } from '../../functions/core/registry/create-table.ts';
import { type AgentHandler, defineAgent } from '../../functions/core/sdk/define-agent.ts';
import { TaskEventReporter } from '../../functions/core/sdk/step-events.ts';
import { DynamoEventLog } from '../../functions/core/streaming/dynamo-event-log.ts';
import { lambdaContext } from '../../functions/embedded/lambda-context.ts';
import { dynamoConfig } from '../support/dynamo.ts';

/**
 * An agent working on coordination tasks writes its step events to the real event log
 * (DynamoEventLog on dynalite, the embedded runtime's engine), as watchers of the run read them:
 * how the step started, its chunks in order, how it ended.
 */

let log: DynamoEventLog;

beforeAll(async () => {
  const tableName = `events-${randomUUID().slice(0, 8)}`;
  await ensureEventsTable(new DynamoDBClient(dynamoConfig('dynalite')), tableName);
  log = new DynamoEventLog({ tableName, client: createDocumentClient(dynamoConfig('dynalite')) });
});

function agent(handler: AgentHandler) {
  return defineAgent(
    {
      agentId: 'writer',
      agentType: 'worker',
      description: 'writes, streaming',
      capabilities: [{ name: 'write', version: '1.0.0' }],
      handler,
    },
    { idempotency: false, events: log },
  );
}

/** A task as the compiled state machine sends it, for a coordination of its own. */
function task(fields: Record<string, unknown> = {}) {
  return {
    kind: 'mobius.task',
    coordinationId: `c-${randomUUID()}`,
    stepId: 'draft',
    agentId: 'writer',
    pattern: 'sequential',
    candidate: 0,
    input: { topic: 'tides' },
    ...fields,
  };
}

/** The events as a watcher reads them back, without the log's own fields. */
async function eventsOf(coordinationId: string) {
  const events = await log.read(coordinationId);
  expect(events.map((e) => e.id)).toEqual(events.map((_, i) => i + 1));
  return events.map(({ id: _id, time: _time, coordinationId: _c, ...event }) => event);
}

const step = { stepId: 'draft', agentId: 'writer', candidate: 0, attempt: 1 };

describe('an agent reports its coordination task to the event log', () => {
  it('writes step.started, each chunk in order, then step.succeeded with the output', async () => {
    const run = task();
    const result = (await agent(async function* (message) {
      yield `On ${(message.input as { topic: string }).topic}: `;
      yield { progress: 0.5 };
      yield 'the moon pulls.';
      return { words: 4 };
    })(run, lambdaContext('writer'))) as { output: unknown; durationMs: number };
    expect(result.output).toEqual({ words: 4 });
    expect(await eventsOf(run.coordinationId)).toEqual([
      { type: 'step.started', ...step },
      { type: 'step.chunk', ...step, chunk: { seq: 0, text: 'On tides: ' } },
      { type: 'step.chunk', ...step, chunk: { seq: 1, data: { progress: 0.5 } } },
      { type: 'step.chunk', ...step, chunk: { seq: 2, text: 'the moon pulls.' } },
      { type: 'step.succeeded', ...step, output: { words: 4 }, durationMs: result.durationMs },
    ]);
  });

  it('writes 2 000 chunks with none lost, in order, between the start and the success', async () => {
    const run = task();
    await agent(async (_message, context) => {
      for (let i = 0; i < 2_000; i++) await context.stream(`t${i} `);
    })(run, lambdaContext('writer'));
    const events = await eventsOf(run.coordinationId);
    expect(events).toHaveLength(2_002);
    expect(events[0]?.type).toBe('step.started');
    expect(events.at(-1)?.type).toBe('step.succeeded');
    const seqs = events.flatMap((e) => (e.type === 'step.chunk' ? [e.chunk.seq] : []));
    expect(seqs).toEqual(Array.from({ length: 2_000 }, (_, i) => i));
  });

  it('logs the end of a step whose output is too large for the log, without the output, after every chunk', async () => {
    const run = task();
    const big = 'y'.repeat(400 * 1024);
    const result = (await agent(async function* () {
      yield 'a';
      yield 'b';
      return big;
    })(run, lambdaContext('writer'))) as { output: unknown; durationMs: number };
    // The task's result is untouched: only the log leaves the output out.
    expect(result.output).toBe(big);
    expect(await eventsOf(run.coordinationId)).toEqual([
      { type: 'step.started', ...step },
      { type: 'step.chunk', ...step, chunk: { seq: 0, text: 'a' } },
      { type: 'step.chunk', ...step, chunk: { seq: 1, text: 'b' } },
      {
        type: 'step.succeeded',
        ...step,
        output: null,
        outputOmitted: true,
        durationMs: result.durationMs,
      },
    ]);
  });

  it('logs the end of a step whose error message is too long for the log, the message cut', async () => {
    const run = task();
    await expect(
      agent(async function* () {
        yield 'half';
        throw new FatalAgentError(`unreadable: ${'z'.repeat(400 * 1024)}`);
      })(run, lambdaContext('writer')),
    ).rejects.toThrow(/unreadable/);
    const events = await eventsOf(run.coordinationId);
    expect(events.map((e) => e.type)).toEqual(['step.started', 'step.chunk', 'step.failed']);
    const failed = events[2];
    expect(failed).toMatchObject({
      error: 'FatalAgentError',
      cause: expect.stringMatching(/^unreadable: z+… \(cut\)$/),
    });
    expect(
      failed?.type === 'step.failed' && failed.cause !== null && failed.cause.length,
    ).toBeLessThan(40 * 1024);
  });

  it("reports a fallback candidate's first start as step.fallback", async () => {
    const run = task({ candidate: 1, agentId: 'planned-writer' });
    await agent(() => 'stood in')(run, lambdaContext('writer'));
    const fallback = { ...step, candidate: 1 };
    expect(await eventsOf(run.coordinationId)).toEqual([
      { type: 'step.fallback', ...fallback },
      {
        type: 'step.succeeded',
        ...fallback,
        output: 'stood in',
        durationMs: expect.any(Number),
      },
    ]);
  });

  it('reports the same task started again (a Step Functions retry) as step.retried, attempt 2', async () => {
    const run = task();
    const handler = agent(() => 'again');
    await handler(run, lambdaContext('writer'));
    await handler(run, lambdaContext('writer'));
    const events = await eventsOf(run.coordinationId);
    expect(events.map((e) => [e.type, 'attempt' in e ? e.attempt : undefined])).toEqual([
      ['step.started', 1],
      ['step.succeeded', 1],
      ['step.retried', 2],
      ['step.succeeded', 2],
    ]);
  });

  it('reports a handler that throws as step.failed with the error name and message, after its chunks', async () => {
    const run = task();
    await expect(
      agent(async function* () {
        yield 'half a';
        throw new FatalAgentError('the source is unreadable');
      })(run, lambdaContext('writer')),
    ).rejects.toThrow('the source is unreadable');
    expect(await eventsOf(run.coordinationId)).toEqual([
      { type: 'step.started', ...step },
      { type: 'step.chunk', ...step, chunk: { seq: 0, text: 'half a' } },
      {
        type: 'step.failed',
        ...step,
        error: 'FatalAgentError',
        cause: 'the source is unreadable',
      },
    ]);
  });
});

describe("a step's reporter, given an event too large for the log", () => {
  it('leaves out that one event, counts it as lost, and still writes the rest of the step', async () => {
    // defineAgent caps a chunk below the log's limit, but the reporter takes any chunk (and a
    // step.failed keeps its error's name whole): one refused event must not end the step's log.
    const logger = new Logger({ serviceName: 'agent-step-events' });
    const warn = vi.spyOn(logger, 'warn').mockImplementation(() => undefined);
    const run = taskRequestSchema.parse(task());
    const events = await new TaskEventReporter(log, 'writer', logger).begin(run);
    await events.chunk({ seq: 0, text: 'a' });
    await events.chunk({ seq: 1, text: 'x'.repeat(400 * 1024) });
    await events.chunk({ seq: 2, text: 'c' });
    await events.succeeded('done', 5);
    expect(await eventsOf(run.coordinationId)).toEqual([
      { type: 'step.started', ...step },
      { type: 'step.chunk', ...step, chunk: { seq: 0, text: 'a' } },
      { type: 'step.chunk', ...step, chunk: { seq: 2, text: 'c' } },
      { type: 'step.succeeded', ...step, output: 'done', durationMs: 5 },
    ]);
    expect(warn).toHaveBeenCalledTimes(1);
    expect(warn).toHaveBeenCalledWith(
      expect.stringContaining("the coordination event log lost 1 of this step's 5 events"),
      expect.objectContaining({
        coordinationId: run.coordinationId,
        stepId: 'draft',
        lostEvents: 1,
        error: expect.objectContaining({ name: 'EventTooLargeError' }),
      }),
    );
  });
});
