import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { GetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ExecutionStatus } from '../../functions/coordination/engine.ts';
import { COORDINATION_CANCELLED, shapeResult } from '../../functions/coordination/result.ts';
import {
  StepFunctionsEngine,
  standardCoordinationId,
} from '../../functions/coordination/step-functions-engine.ts';
import { defineAgent } from '../../functions/core/sdk/define-agent.ts';
import { lambdaContext } from '../../functions/embedded/lambda-context.ts';
import { createAgentQueues } from '../../functions/embedded/queues.ts';
import { SqsPoller } from '../../functions/embedded/sqs-poller.ts';
import { compile } from '../../statemachines/compile.ts';
import { type CoordinationPlan, executionInput } from '../../statemachines/plan.ts';
import { emulatorClients } from '../support/aws.ts';

/**
 * Cancelling a standard coordination on a real Step Functions engine (moto): StopExecution on a
 * run whose agent is still working on its task token, the run read back as cancelled, and the
 * agent's late answer changing nothing, its message consumed rather than retried into the
 * dead-letter queue.
 */
const clients = emulatorClients('moto');
let poller: SqsPoller;
let queueUrl: string;
let deadLetterQueueUrl: string;
let release: () => void = () => undefined;
const gate = new Promise<void>((resolve) => {
  release = resolve;
});
let markStarted: () => void = () => undefined;
const started = new Promise<void>((resolve) => {
  markStarted = resolve;
});
let answered = 0;

const engine = new StepFunctionsEngine({
  arnPrefix: 'arn:aws:states:us-east-1:123456789012',
  roleArn: 'arn:aws:iam::123456789012:role/mobius-engine',
  sfn: clients.sfn,
});

beforeAll(async () => {
  const queues = await createAgentQueues(clients.sqs, `slow-${randomUUID().slice(0, 6)}`);
  queueUrl = queues.queueUrl;
  deadLetterQueueUrl = queues.deadLetterQueueUrl;
  const lambda = defineAgent(
    {
      agentId: 'slow',
      agentType: 'test',
      description: 'answers when the test lets it',
      capabilities: [{ name: 'wait', version: '1.0.0' }],
      handler: async () => {
        markStarted();
        await Promise.race([gate, sleep(20_000)]);
        answered += 1;
        return { late: true };
      },
    },
    { sqs: clients.sqs, sfn: clients.sfn, idempotency: false, deadLetterQueueUrl },
  );
  poller = new SqsPoller({
    sqs: clients.sqs,
    queueUrl,
    queueArn: queues.queueArn,
    handler: (event) => lambda(event, lambdaContext('slow')),
    waitSeconds: 1,
  });
  poller.start();
});

afterAll(async () => {
  release();
  await poller?.stop();
});

/** Messages in `url`, visible and in flight. */
async function messagesIn(url: string): Promise<number> {
  const { Attributes } = await clients.sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl: url,
      AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
    }),
  );
  return (
    Number(Attributes?.ApproximateNumberOfMessages ?? 0) +
    Number(Attributes?.ApproximateNumberOfMessagesNotVisible ?? 0)
  );
}

describe('cancelling on moto Step Functions', () => {
  it('stops a run whose agent is working, which ends cancelled; the agent’s late answer changes nothing', async () => {
    const plan: CoordinationPlan = {
      mode: 'standard',
      failureMode: 'fail_fast',
      timeoutSeconds: 60 + Math.floor(Math.random() * 1000), // a shape new to this server
      pattern: 'sequential',
      steps: [
        { id: 'wait', candidates: [{ agentId: 'slow', target: queueUrl }], timeoutSeconds: 30 },
      ],
    };
    const machine = compile(plan);
    const coordinationId = standardCoordinationId(machine, randomUUID());
    const input = executionInput(plan, coordinationId, {});
    await engine.start(machine, input);
    await started;
    expect((await engine.describe(coordinationId))?.outcome.status).toBe('RUNNING');

    await engine.stop(coordinationId, {
      error: COORDINATION_CANCELLED,
      cause: 'the coordination was cancelled by ops',
    });
    // The agent answers after all. AWS ends the run at the stop and refuses the late token
    // (TaskTimedOut, which the SDK takes quietly); moto ends it once the task it waits on is
    // answered. Either way the run ends ABORTED: the answer does not bring it back.
    release();
    let status = await engine.describe(coordinationId);
    for (let poll = 0; poll < 100 && status?.outcome.status === 'RUNNING'; poll++) {
      await sleep(100);
      status = await engine.describe(coordinationId);
    }
    expect(status?.outcome.status).toBe('ABORTED');
    expect(status?.stoppedAt).toBeInstanceOf(Date);
    const result = shapeResult(
      input,
      status?.outcome as Exclude<ExecutionStatus['outcome'], { status: 'RUNNING' }>,
      0,
    );
    expect(result.status).toBe('cancelled');
    expect(result.output).toBeNull();
    // moto keeps no reason for a stop (empty strings): the result names it as Mobius's own.
    expect(result.errors).toEqual([
      expect.objectContaining({ error: COORDINATION_CANCELLED, cause: expect.any(String) }),
    ]);

    // Stopping it again changes nothing.
    await engine.stop(coordinationId, { error: 'Again', cause: 'again' });
    expect((await engine.describe(coordinationId))?.outcome.status).toBe('ABORTED');

    // The agent's message was consumed, not retried into the dead-letter queue.
    for (let poll = 0; poll < 100 && (await messagesIn(queueUrl)) > 0; poll++) await sleep(100);
    expect(answered).toBe(1);
    expect(await messagesIn(queueUrl)).toBe(0);
    expect(await messagesIn(deadLetterQueueUrl)).toBe(0);
  });
});
