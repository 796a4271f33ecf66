import {
  DescribeExecutionCommand,
  ExecutionDoesNotExist,
  GetExecutionHistoryCommand,
  type HistoryEvent,
  SFNClient,
  StopExecutionCommand,
} from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import type { CoordinationEngine, ExecutionStatus } from '../../functions/coordination/engine.ts';
import { outcomeOf } from '../../functions/coordination/execution.ts';
import { COORDINATION_CANCELLED, shapeResult } from '../../functions/coordination/result.ts';
import { CoordinationService } from '../../functions/coordination/service.ts';
import {
  StepFunctionsEngine,
  standardCoordinationId,
} from '../../functions/coordination/step-functions-engine.ts';
import { ConflictError, NotFoundError } from '../../functions/core/errors.ts';
import type { AgentRegistry } from '../../functions/core/registry/agent-registry.ts';
import type { CoordinationEventLog } from '../../functions/core/streaming/event-log.ts';
import type {
  CoordinationEvent,
  CoordinationEventInput,
  CoordinationSummary,
} from '../../functions/core/streaming/events.ts';
import { appendStandardFinished } from '../../functions/monitor/coordination-events.ts';
import { compile } from '../../statemachines/compile.ts';
import { executionInput } from '../../statemachines/plan.ts';
import { planFor } from '../compiler/fixtures.ts';

/**
 * Cancelling a standard coordination on AWS: StopExecution on the execution its id names, the
 * run's end shaped as `cancelled` (GET /coordinations/{id} and the monitor's coordination.finished
 * alike), and the service's answers when a run cannot be cancelled.
 */
const sfn = mockClient(SFNClient);
const PREFIX = 'arn:aws:states:eu-west-1:123456789012';
const plan = planFor('sequential', { mode: 'standard' });
const machine = compile(plan);
const coordinationId = standardCoordinationId(machine, '0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0');
const input = executionInput(plan, coordinationId, { topic: 'streams' });
const executionArn = `${PREFIX}:execution:${machine.name}:${coordinationId}`;
const reason = { error: COORDINATION_CANCELLED, cause: 'the coordination was cancelled by ops' };

const engine = () =>
  new StepFunctionsEngine({
    arnPrefix: PREFIX,
    roleArn: 'arn:aws:iam::123456789012:role/engine',
    sfn: new SFNClient({ region: 'eu-west-1' }),
  });

/** Where a run stood when it was stopped during its second step: what its history holds. */
const stoppedInStep2: { events: HistoryEvent[] } = {
  events: [
    {
      id: 7,
      type: 'TaskScheduled',
      previousEventId: 6,
      timestamp: new Date(),
      taskScheduledEventDetails: {
        resource: 'sendMessage.waitForTaskToken',
        resourceType: 'sqs',
        region: 'eu-west-1',
        parameters: JSON.stringify({
          QueueUrl: 'https://sqs/a2',
          MessageBody: { agentId: 'a2', stepId: 'step2' },
        }),
      },
    },
    {
      id: 6,
      type: 'TaskStateEntered',
      previousEventId: 5,
      timestamp: new Date(),
      stateEnteredEventDetails: {
        name: 'step2',
        input: JSON.stringify({
          coordinationId,
          pattern: 'sequential',
          steps: {
            step1: {
              outcome: {
                ok: true,
                attempt: 0,
                result: { agentId: 'a1', output: { wrote: 'step1' }, durationMs: 5 },
              },
            },
          },
        }),
      },
    },
  ],
};

beforeEach(() => {
  sfn.reset();
});

describe('StepFunctionsEngine.stop', () => {
  it('stops the execution the id names, giving the reason as its error and cause', async () => {
    sfn.on(StopExecutionCommand).resolves({ stopDate: new Date() });
    await engine().stop(coordinationId, reason);
    const calls = sfn.commandCalls(StopExecutionCommand);
    expect(calls).toHaveLength(1);
    expect(calls[0]?.args[0].input).toEqual({ executionArn, ...reason });
  });

  it('keeps within StopExecution’s limits on error and cause', async () => {
    sfn.on(StopExecutionCommand).resolves({ stopDate: new Date() });
    await engine().stop(coordinationId, { error: 'E'.repeat(300), cause: 'c'.repeat(40_000) });
    const sent = sfn.commandCalls(StopExecutionCommand)[0]?.args[0].input;
    expect(sent?.error).toHaveLength(256);
    expect(sent?.cause).toHaveLength(32_768);
  });

  it('asks AWS nothing about an id it never handed out, and takes an unknown execution quietly', async () => {
    await engine().stop('0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0', reason);
    expect(sfn.commandCalls(StopExecutionCommand)).toHaveLength(0);
    sfn
      .on(StopExecutionCommand)
      .rejects(new ExecutionDoesNotExist({ message: 'Execution Does Not Exist', $metadata: {} }));
    await expect(engine().stop(coordinationId, reason)).resolves.toBeUndefined();
  });

  it('describes a stopped run as ABORTED with its reason and how far it had got', async () => {
    sfn.on(DescribeExecutionCommand, { executionArn }).resolves({
      status: 'ABORTED',
      input: JSON.stringify(input),
      startDate: new Date(1_700_000_000_000),
      stopDate: new Date(1_700_000_004_000),
      ...reason,
    });
    sfn.on(GetExecutionHistoryCommand, { executionArn }).resolves(stoppedInStep2);
    const status = await engine().describe(coordinationId);
    expect(status?.outcome).toMatchObject({
      status: 'ABORTED',
      ...reason,
      progress: { stoppedIn: 'step2', running: [{ agentId: 'a2', stepId: 'step2' }] },
    });
    const result = shapeResult(
      input,
      status?.outcome as Exclude<ExecutionStatus['outcome'], { status: 'RUNNING' }>,
      4000,
    );
    expect(result).toMatchObject({
      status: 'cancelled',
      output: null,
      steps: [
        { stepId: 'step1', agentId: 'a1', status: 'succeeded', output: { wrote: 'step1' } },
        { stepId: 'step2', agentId: 'a2', status: 'failed' },
      ],
      errors: [
        {
          agentId: 'a2',
          stepId: 'step2',
          error: COORDINATION_CANCELLED,
          cause:
            'the coordination was cancelled by ops while a2 was still working on step step2; its answer is dropped',
        },
      ],
    });
  });
});

describe('a cancelled run’s result', () => {
  it('is cancelled, not failed, whoever stopped it: a stop without a reason is named as ours', () => {
    const outcome = outcomeOf({ status: 'ABORTED', error: null, cause: null });
    expect(outcome).toEqual({ status: 'ABORTED', error: null, cause: null });
    const result = shapeResult(input, outcome, 10);
    expect(result.status).toBe('cancelled');
    expect(result.errors).toEqual([
      {
        agentId: null,
        stepId: null,
        error: COORDINATION_CANCELLED,
        cause: 'the coordination was cancelled',
      },
    ]);
  });

  it('ends the event log cancelled when the monitor hears of an ABORTED run', async () => {
    sfn.on(GetExecutionHistoryCommand, { executionArn }).resolves(stoppedInStep2);
    const appended: CoordinationEventInput[] = [];
    const log = {
      append: async (_id: string, events: readonly CoordinationEventInput[]) => {
        appended.push(...events);
        return [] as CoordinationEvent[];
      },
    } as unknown as CoordinationEventLog;
    const outcome = await appendStandardFinished(
      log,
      {
        executionArn,
        name: coordinationId,
        status: 'ABORTED',
        startDate: 1_700_000_000_000,
        stopDate: 1_700_000_004_000,
        input: JSON.stringify(input),
        output: null,
        ...reason,
      },
      { sfn: sfn as never, warn: () => undefined },
    );
    expect(outcome).toBe('appended');
    expect(appended).toEqual([
      expect.objectContaining({
        type: 'coordination.finished',
        status: 'cancelled',
        result: expect.objectContaining({
          status: 'cancelled',
          steps: [
            expect.objectContaining({ stepId: 'step1', status: 'succeeded' }),
            expect.objectContaining({ stepId: 'step2', status: 'failed' }),
          ],
          timings: expect.objectContaining({ totalMs: 4000 }),
        }),
      }),
    ]);
  });
});

describe('CoordinationService.cancel', () => {
  /** An engine whose run is in `states`, one per describe(), the last one repeated. */
  const engineWith = (...states: ExecutionStatus['outcome'][]) => {
    const stops: string[] = [];
    let reads = 0;
    const fake: CoordinationEngine = {
      runSync: async () => {
        throw new Error('not in these tests');
      },
      start: async () => undefined,
      describe: async () => ({
        input,
        startedAt: new Date(0),
        stoppedAt: new Date(10),
        outcome: states[Math.min(reads++, states.length - 1)] as ExecutionStatus['outcome'],
      }),
      stop: async (id, why) => {
        stops.push(`${id}: ${why.error}: ${why.cause}`);
      },
    };
    const service = new CoordinationService({
      registry: {} as AgentRegistry,
      engine: fake,
    });
    return { service, stops };
  };

  it('stops a running run, naming who cancelled it', async () => {
    const { service, stops } = engineWith({ status: 'RUNNING' }, { ...reason, status: 'ABORTED' });
    expect(await service.cancel(coordinationId, { by: 'arn:aws:iam::1:role/Ops' })).toEqual({
      coordinationId,
      status: 'cancelled',
    });
    expect(stops).toEqual([
      `${coordinationId}: ${COORDINATION_CANCELLED}: the coordination was cancelled by arn:aws:iam::1:role/Ops`,
    ]);
  });

  it('refuses a run that ended on its own before the stop reached it, saying how', async () => {
    const { service } = engineWith(
      { status: 'RUNNING' },
      { status: 'FAILED', error: 'FatalAgentError', cause: null },
    );
    const error = await service.cancel(coordinationId).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConflictError);
    expect((error as ConflictError).details).toEqual({ coordinationId, status: 'failed' });
  });

  it('refuses a run that has ended without stopping anything', async () => {
    const { service, stops } = engineWith({ status: 'TIMED_OUT' });
    const error = await service.cancel(coordinationId).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConflictError);
    expect((error as ConflictError).message).toContain('already ended (failed)');
    expect(stops).toEqual([]);
  });

  it('answers 404 for a run neither the engine nor (without one) an event log knows', async () => {
    const service = new CoordinationService({
      registry: {} as AgentRegistry,
      engine: {
        runSync: async () => {
          throw new Error('not in these tests');
        },
        start: async () => undefined,
        describe: async () => undefined,
        stop: async () => {
          throw new Error('nothing to stop');
        },
      },
    });
    await expect(service.cancel('0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0')).rejects.toBeInstanceOf(
      NotFoundError,
    );
  });
});

describe('CoordinationService.cancel of a run listed before its execution exists', () => {
  /**
   * A run as DELETE may meet it right after GET /coordinations listed it: its start is in the log
   * (its summary at once, its started event a moment later), its execution not yet in the engine —
   * `missing` describe() calls answer undefined, then it runs. `summaries`: what each read of its
   * summary finds, the last one repeated (undefined: none; 'none': a log that keeps no summaries).
   */
  const setUp = (options: {
    readonly summaries: readonly (Partial<CoordinationSummary> | undefined)[] | 'none';
    readonly firstEvent?: CoordinationEventInput;
    readonly missing?: number;
    readonly startWaitMs?: number;
  }) => {
    const stops: string[] = [];
    let describes = 0;
    let summaryReads = 0;
    const engine: CoordinationEngine = {
      runSync: async () => {
        throw new Error('not in these tests');
      },
      start: async () => undefined,
      describe: async () =>
        describes++ < (options.missing ?? Number.POSITIVE_INFINITY)
          ? undefined
          : { input, startedAt: new Date(0), outcome: { status: 'RUNNING' } },
      stop: async (id) => {
        stops.push(id);
      },
    };
    const summaryOf = (fields: Partial<CoordinationSummary> | undefined) =>
      fields === undefined
        ? undefined
        : ({
            coordinationId,
            pattern: 'sequential',
            mode: 'standard',
            status: 'running',
            startedAt: new Date(0).toISOString(),
            finishedAt: null,
            totalMs: null,
            steps: 2,
            agents: ['a1', 'a2'],
            ...fields,
          } satisfies CoordinationSummary);
    const { summaries } = options;
    const log = {
      // The started event is not readable yet unless the test says otherwise.
      read: async () =>
        options.firstEvent === undefined
          ? []
          : [{ ...options.firstEvent, id: 1, coordinationId, time: new Date(0).toISOString() }],
      ...(summaries === 'none'
        ? {}
        : {
            summary: async () =>
              summaryOf(summaries[Math.min(summaryReads++, summaries.length - 1)]),
          }),
    } as unknown as CoordinationEventLog;
    const service = new CoordinationService({
      registry: {} as AgentRegistry,
      engine,
      events: log,
      startWaitMs: options.startWaitMs ?? 2000,
    });
    return { service, stops, describes: () => describes };
  };

  it('refuses an express run from its summary, before its started event can be read', async () => {
    const { service, stops } = setUp({ summaries: [{ mode: 'express' }] });
    const error = await service.cancel(coordinationId).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConflictError);
    expect((error as ConflictError).details).toEqual({ coordinationId, mode: 'express' });
    expect(stops).toEqual([]);
  });

  it('waits for a standard run’s execution to exist, then cancels it', async () => {
    const { service, stops, describes } = setUp({ summaries: [{}], missing: 3 });
    expect(await service.cancel(coordinationId)).toEqual({ coordinationId, status: 'cancelled' });
    expect(stops).toEqual([coordinationId]);
    expect(describes()).toBeGreaterThanOrEqual(4);
  });

  it('refuses a standard run whose start Step Functions refused: its log says it ended', async () => {
    const ended = setUp({ summaries: [{ status: 'failed' }] });
    const error = await ended.service.cancel(coordinationId).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConflictError);
    expect((error as ConflictError).details).toEqual({ coordinationId, status: 'failed' });
    // Refused while DELETE waited for it.
    const late = setUp({ summaries: [{}, { status: 'failed' }] });
    const lateError = await late.service.cancel(coordinationId).catch((e: unknown) => e);
    expect((lateError as ConflictError).details).toEqual({ coordinationId, status: 'failed' });
    expect(late.stops).toEqual([]);
  });

  it('says a standard run has not started yet when its execution never comes', async () => {
    const { service, stops } = setUp({ summaries: [{}], startWaitMs: 300 });
    const error = await service.cancel(coordinationId).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConflictError);
    expect((error as ConflictError).message).toContain('has not started yet');
    expect((error as ConflictError).details).toEqual({ coordinationId, status: 'running' });
    expect(stops).toEqual([]);
  });

  it('falls back to the first event where the log keeps no summary', async () => {
    const started: CoordinationEventInput = {
      type: 'coordination.started',
      pattern: 'sequential',
      mode: 'express',
      steps: [],
    };
    const express = setUp({ summaries: 'none', firstEvent: started });
    const error = await express.service.cancel(coordinationId).catch((e: unknown) => e);
    expect((error as ConflictError).details).toEqual({ coordinationId, mode: 'express' });
    const standard = setUp({
      summaries: 'none',
      firstEvent: { ...started, mode: 'standard' },
      missing: 1,
    });
    expect(await standard.service.cancel(coordinationId)).toEqual({
      coordinationId,
      status: 'cancelled',
    });
    const nothing = setUp({ summaries: [undefined] });
    await expect(nothing.service.cancel(coordinationId)).rejects.toBeInstanceOf(NotFoundError);
  });
});
