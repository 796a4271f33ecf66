import {
  DescribeExecutionCommand,
  GetExecutionHistoryCommand,
  SFNClient,
} from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { shapeResult } from '../../functions/coordination/result.ts';
import type {
  CoordinationEventLog,
  CoordinationPage,
} from '../../functions/core/streaming/event-log.ts';
import type {
  CoordinationEvent,
  CoordinationEventInput,
} from '../../functions/core/streaming/events.ts';
import { LocalStateMachines } from '../../functions/embedded/local-executor.ts';
import {
  appendStandardFinished,
  recordStatusChange,
} from '../../functions/monitor/coordination-events.ts';
import { compile } from '../../statemachines/compile.ts';
import { executionInput } from '../../statemachines/plan.ts';
import { planFor } from '../compiler/fixtures.ts';
import { emf, metricsFor } from '../support/emf.ts';

describe('standard coordination outcomes from status-change events', () => {
  it('counts a run whose input Step Functions left out of the event, without timings', async () => {
    const metrics = metricsFor('mobius-api');
    const emitted = await emf(
      () =>
        recordStatusChange(metrics, {
          name: 'mobius-sequential-0123456789abcdef--0123',
          status: 'TIMED_OUT',
          startDate: 1_700_000_000_000,
          stopDate: 1_700_000_060_000,
          input: null,
          inputDetails: { included: false },
        }),
      metrics,
    );
    expect(emitted.result).toBe('counted');
    expect(emitted.metrics).toEqual([{ name: 'CoordinationsFailed', pattern: undefined }]);
  });

  it('counts a run an operator stopped (ABORTED) as cancelled, not failed, with or without its input', async () => {
    // The failure-rate alarm reads CoordinationsFailed: a batch of cancels must not set it off.
    const plan = planFor('sequential', { mode: 'standard' });
    const coordinationId = 'mobius-sequential-0123456789abcdef--0456';
    const stopped = {
      name: coordinationId,
      status: 'ABORTED',
      startDate: 1_700_000_000_000,
      stopDate: 1_700_000_004_000,
      error: 'Mobius.CoordinationCancelled',
      cause: 'the coordination was cancelled by ops',
    };
    const counted = metricsFor('mobius-api');
    const withoutInput = await emf(
      () => recordStatusChange(counted, { ...stopped, input: null }),
      counted,
    );
    expect(withoutInput.result).toBe('counted');
    expect(withoutInput.metrics).toEqual([{ name: 'CoordinationsCancelled', pattern: undefined }]);

    const recorded = metricsFor('mobius-api');
    const withInput = await emf(
      () =>
        recordStatusChange(recorded, {
          ...stopped,
          input: JSON.stringify(executionInput(plan, coordinationId, {})),
          output: null,
        }),
      recorded,
    );
    expect(withInput.result).toBe('recorded');
    // Single metrics (the timings) print at once, the count when the handler publishes.
    expect(withInput.metrics).toEqual([
      { name: 'CoordinationDuration', pattern: 'sequential' },
      { name: 'CoordinationOverhead', pattern: 'sequential' },
      { name: 'CoordinationsCancelled', pattern: undefined },
    ]);
    expect(withInput.values).not.toHaveProperty('CoordinationsFailed');
  });

  it('reads the ISO dates LocalStack sends where AWS sends epoch milliseconds', async () => {
    const metrics = metricsFor('mobius-api');
    const emitted = await emf(
      () =>
        recordStatusChange(metrics, {
          executionArn: 'arn:aws:states:us-east-1:000000000000:execution:m:run',
          name: 'run',
          status: 'FAILED',
          startDate: '2026-11-30T06:25:59.694425+00:00',
          stopDate: '2026-11-30T06:26:19.017593+00:00',
          input: null,
        }),
      metrics,
    );
    expect(emitted.result).toBe('counted');
    expect(emitted.metrics).toEqual([{ name: 'CoordinationsFailed', pattern: undefined }]);
  });

  it('leaves Express executions to the API, which recorded them (LocalStack reports them too)', async () => {
    const metrics = metricsFor('mobius-api');
    const emitted = await emf(
      () =>
        recordStatusChange(metrics, {
          executionArn: 'arn:aws:states:us-east-1:000000000000:express:m:run:0f1e',
          name: 'run',
          status: 'SUCCEEDED',
          startDate: 1_700_000_000_000,
          stopDate: 1_700_000_000_100,
          input: null,
        }),
      metrics,
    );
    expect(emitted.result).toBe('express');
    expect(emitted.metrics).toEqual([]);
  });

  it('ignores events that are not execution status changes', async () => {
    const metrics = metricsFor('mobius-api');
    const emitted = await emf(() => recordStatusChange(metrics, { hello: 'world' }), metrics);
    expect(emitted.result).toBe('ignored');
    expect(emitted.metrics).toEqual([]);
  });
});

/**
 * What the monitor appended, in order. Appending is all the monitor does with a log; the log
 * itself (ids, follow) is DynamoEventLog's, tested on the emulators.
 */
class RecordingLog implements CoordinationEventLog {
  readonly appended: { coordinationId: string; event: CoordinationEventInput }[] = [];
  failures = 0;

  async append(coordinationId: string, events: readonly CoordinationEventInput[]) {
    if (this.failures > 0) {
      this.failures -= 1;
      throw new Error('ProvisionedThroughputExceededException');
    }
    return events.map((event, i): CoordinationEvent => {
      this.appended.push({ coordinationId, event });
      return { ...event, id: this.appended.length + i, coordinationId, time: 'now' };
    });
  }
  countStart(): Promise<number> {
    throw new Error('the monitor never counts starts');
  }
  finishedId(): Promise<number | undefined> {
    throw new Error('the monitor never reads');
  }
  read(): Promise<readonly CoordinationEvent[]> {
    throw new Error('the monitor never reads');
  }
  follow(): AsyncGenerator<CoordinationEvent> {
    throw new Error('the monitor never follows');
  }
  list(): Promise<CoordinationPage> {
    throw new Error('the monitor never lists');
  }
}

describe('standard coordination ends in the event log', () => {
  const sfn = mockClient(SFNClient);
  const plan = planFor('sequential', { mode: 'standard' });
  const coordinationId = 'mobius-sequential-0123456789abcdef--0123';
  const input = executionInput(plan, coordinationId, { topic: 'streams' });
  const arn = `arn:aws:states:us-east-1:000000000000:execution:mobius-sequential-0123456789abcdef:${coordinationId}`;
  let output: string;
  const warnings: string[] = [];
  const warn = (message: string) => {
    warnings.push(message);
  };

  beforeEach(async () => {
    sfn.reset();
    warnings.length = 0;
    // The output a real run of the compiled machine leaves, so the result is shaped as on AWS;
    // each agent answers as the agent SDK does (a task result).
    const run = await new LocalStateMachines().run(compile(plan), input, async (_target, task) => ({
      agentId: task.agentId,
      output: { wrote: task.stepId },
      durationMs: 5,
    }));
    if (run.outcome.status !== 'SUCCEEDED')
      throw new Error(`the fixture run failed: ${JSON.stringify(run.outcome)}`);
    output = JSON.stringify(run.outcome.output);
  });

  const change = (overrides: Record<string, unknown> = {}) => ({
    executionArn: arn,
    name: coordinationId,
    status: 'SUCCEEDED',
    startDate: 1_700_000_000_000,
    stopDate: 1_700_000_002_500,
    input: JSON.stringify(input),
    output,
    ...overrides,
  });

  it('appends coordination.finished with the result GET /coordinations/{id} answers', async () => {
    const log = new RecordingLog();
    expect(await appendStandardFinished(log, change(), { sfn: sfn as never, warn })).toBe(
      'appended',
    );
    const expected = shapeResult(input, { status: 'SUCCEEDED', output: JSON.parse(output) }, 2500);
    expect(expected.steps.map((step) => step.output)).toEqual([
      { wrote: 'step1' },
      { wrote: 'step2' },
      { wrote: 'step3' },
    ]);
    expect(log.appended).toEqual([
      {
        coordinationId,
        event: {
          type: 'coordination.finished',
          status: 'succeeded',
          result: JSON.parse(JSON.stringify(expected)),
        },
      },
    ]);
    expect(sfn.calls()).toHaveLength(0);
  });

  it('ends a failed run too, naming the agent and the step, with the steps that had succeeded', async () => {
    // Where a real run of the machine stood when step2's agent failed: what the history holds.
    const failed = await new LocalStateMachines().run(compile(plan), input, async (_t, task) => {
      if (task.stepId === 'step2')
        throw Object.assign(new Error('cannot'), { name: 'FatalAgentError' });
      return { agentId: task.agentId, output: { wrote: task.stepId }, durationMs: 5 };
    });
    if (failed.outcome.status !== 'FAILED' || failed.outcome.progress === undefined)
      throw new Error(
        `the fixture run did not fail with progress: ${JSON.stringify(failed.outcome)}`,
      );
    const { progress } = failed.outcome;
    sfn.on(GetExecutionHistoryCommand, { executionArn: arn }).resolves({
      events: [
        {
          id: 9,
          type: 'TaskStateEntered',
          timestamp: new Date(),
          stateEnteredEventDetails: {
            name: progress.stoppedIn,
            input: JSON.stringify(progress.state),
          },
        },
      ],
    });
    const log = new RecordingLog();
    await appendStandardFinished(
      log,
      change({
        status: 'FAILED',
        output: null,
        error: 'FatalAgentError',
        cause: 'a2 failed at step step2: cannot',
      }),
      { sfn: sfn as never, warn },
    );
    expect(log.appended[0]?.event).toMatchObject({
      type: 'coordination.finished',
      status: 'failed',
      result: {
        errors: [{ agentId: 'a2', stepId: 'step2', error: 'FatalAgentError' }],
        steps: [
          { stepId: 'step1', status: 'succeeded', output: { wrote: 'step1' } },
          { stepId: 'step2', status: 'failed', agentId: 'a2' },
        ],
      },
    });
    expect(warnings).toEqual([]);
  });

  it('ends a failed run whose history cannot be read with the failure alone, and warns', async () => {
    sfn.on(GetExecutionHistoryCommand).rejects(new Error('ThrottlingException: Rate exceeded'));
    const log = new RecordingLog();
    await appendStandardFinished(
      log,
      change({
        status: 'FAILED',
        output: null,
        error: 'FatalAgentError',
        cause: 'a2 failed at step step2: cannot',
      }),
      { sfn: sfn as never, warn },
    );
    expect(log.appended[0]?.event).toMatchObject({
      type: 'coordination.finished',
      status: 'failed',
    });
    expect(warnings).toEqual([
      `could not read the history of standard coordination ${coordinationId}`,
    ]);
  });

  it('reads input and output Step Functions left out of the event with DescribeExecution', async () => {
    sfn
      .on(DescribeExecutionCommand, { executionArn: arn })
      .resolves({ input: JSON.stringify(input), output, status: 'SUCCEEDED' } as never);
    const log = new RecordingLog();
    const result = await appendStandardFinished(
      log,
      change({ input: null, output: null, inputDetails: { included: false } }),
      { sfn: sfn as never, warn },
    );
    expect(result).toBe('appended');
    expect(log.appended[0]?.event).toMatchObject({ status: 'succeeded' });
  });

  it('warns and appends nothing when the execution cannot be read, rather than fail the event', async () => {
    sfn.on(DescribeExecutionCommand).rejects(new Error('AccessDeniedException'));
    const log = new RecordingLog();
    const result = await appendStandardFinished(log, change({ input: null }), {
      sfn: sfn as never,
      warn,
    });
    expect(result).toBe('not appended');
    expect(log.appended).toEqual([]);
    expect(warnings.join('\n')).toContain(coordinationId);
  });

  it('leaves Express executions alone: the service ended them in the log itself', async () => {
    const log = new RecordingLog();
    const express = change({ executionArn: `${arn.replace(':execution:', ':express:')}:0f1e` });
    expect(await appendStandardFinished(log, express, { warn })).toBe('express');
    expect(log.appended).toEqual([]);
  });

  it('a failed append is a warning naming the run, then a slim result without outputs', async () => {
    const log = new RecordingLog();
    log.failures = 1;
    expect(await appendStandardFinished(log, change(), { warn })).toBe('appended');
    expect(warnings).toEqual([expect.stringContaining(coordinationId)]);
    const event = log.appended[0]?.event;
    expect(event).toMatchObject({ type: 'coordination.finished', status: 'succeeded' });
    const result = (event as { result: Record<string, unknown> }).result;
    expect(result.outputOmitted).toMatch(/GET \/coordinations\/\{id\}/);
    expect(JSON.stringify(result.steps)).not.toContain('"output"');

    log.failures = 2;
    expect(await appendStandardFinished(log, change(), { warn })).toBe('not appended');
  });
});
