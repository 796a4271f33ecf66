import type { HistoryEvent } from '@aws-sdk/client-sfn';
import { describe, expect, it } from 'vitest';
import { progressFromHistory } from '../../functions/coordination/execution-history.ts';

const state = (steps: Record<string, unknown>) =>
  JSON.stringify({ coordinationId: 'c1', pattern: 'sequential', steps });
const invoke = (agentId: string, stepId: string) =>
  JSON.stringify({
    FunctionName: `arn:aws:lambda:::function:${agentId}`,
    Payload: { agentId, stepId },
  });

/** A sequential run that timed out while `slow` worked on step2, oldest event first. */
const timedOut: HistoryEvent[] = [
  { id: 1, type: 'ExecutionStarted', timestamp: new Date() },
  {
    id: 2,
    previousEventId: 1,
    type: 'TaskStateEntered',
    stateEnteredEventDetails: { name: 'step1', input: state({}) },
    timestamp: new Date(),
  },
  {
    id: 3,
    previousEventId: 2,
    type: 'TaskScheduled',
    taskScheduledEventDetails: {
      resourceType: 'lambda',
      resource: 'invoke',
      region: 'us-east-1',
      parameters: invoke('fast', 'step1'),
    },
    timestamp: new Date(),
  },
  { id: 4, previousEventId: 3, type: 'TaskStarted', timestamp: new Date() },
  { id: 5, previousEventId: 4, type: 'TaskSucceeded', timestamp: new Date() },
  { id: 6, previousEventId: 5, type: 'TaskStateExited', timestamp: new Date() },
  {
    id: 7,
    previousEventId: 6,
    type: 'TaskStateEntered',
    stateEnteredEventDetails: { name: 'step2', input: state({ step1: { outcome: { ok: true } } }) },
    timestamp: new Date(),
  },
  {
    id: 8,
    previousEventId: 7,
    type: 'TaskScheduled',
    taskScheduledEventDetails: {
      resourceType: 'lambda',
      resource: 'invoke',
      region: 'us-east-1',
      parameters: invoke('slow', 'step2'),
    },
    timestamp: new Date(),
  },
  { id: 9, previousEventId: 8, type: 'TaskStarted', timestamp: new Date() },
  { id: 10, previousEventId: 9, type: 'ExecutionTimedOut', timestamp: new Date() },
];

describe('progressFromHistory', () => {
  it('reads the state the run stopped in and the tasks still running when it timed out', () => {
    expect(progressFromHistory(timedOut.toReversed())).toEqual({
      state: {
        coordinationId: 'c1',
        pattern: 'sequential',
        steps: { step1: { outcome: { ok: true } } },
      },
      stoppedIn: 'step2',
      running: [{ agentId: 'slow', stepId: 'step2' }],
    });
  });

  it('ignores Map iterations, whose data is not the execution state, and answers undefined without a top-level state', () => {
    const iteration: HistoryEvent = {
      id: 3,
      previousEventId: 2,
      type: 'TaskStateEntered',
      stateEnteredEventDetails: {
        name: 'Agent',
        input: JSON.stringify({ item: { stepId: 's1' }, coordinationId: 'c1' }),
      },
      timestamp: new Date(),
    };
    expect(progressFromHistory([iteration])).toBeUndefined();
  });

  it('reads a task-token task by its message body', () => {
    const events: HistoryEvent[] = [
      {
        id: 2,
        previousEventId: 1,
        type: 'TaskScheduled',
        taskScheduledEventDetails: {
          resourceType: 'sqs',
          resource: 'sendMessage.waitForTaskToken',
          region: 'us-east-1',
          parameters: JSON.stringify({
            QueueUrl: 'q',
            MessageBody: { agentId: 'queued', stepId: 's1' },
          }),
        },
        timestamp: new Date(),
      },
      {
        id: 1,
        type: 'TaskStateEntered',
        stateEnteredEventDetails: { name: 's1', input: state({}) },
        timestamp: new Date(),
      },
    ];
    expect(progressFromHistory(events)?.running).toEqual([{ agentId: 'queued', stepId: 's1' }]);
  });
});

describe('a failed result with progress it cannot read', () => {
  it('leaves the progress out instead of failing: the error still names the agent and step', async () => {
    const { shapeResult } = await import('../../functions/coordination/result.ts');
    const { executionInput } = await import('../../statemachines/plan.ts');
    const input = executionInput(
      {
        mode: 'standard',
        failureMode: 'fail_fast',
        pattern: 'sequential',
        steps: [{ id: 's1', timeoutSeconds: 10, candidates: [{ agentId: 'a', target: 'q' }] }],
      },
      'c1',
      {},
    );
    const result = shapeResult(
      input,
      {
        status: 'FAILED',
        error: 'FatalAgentError',
        cause: 'a failed at step s1: broken',
        // A state another compiler version wrote: not this layout.
        progress: { state: { steps: 'not records' }, stoppedIn: 's1', running: [] },
      },
      5,
    );
    expect(result.status).toBe('failed');
    expect(result.errors).toEqual([
      expect.objectContaining({ agentId: 'a', stepId: 's1', error: 'FatalAgentError' }),
    ]);
  });
});
