import { randomUUID } from 'node:crypto';
import {
  CreateStateMachineCommand,
  DescribeExecutionCommand,
  StartExecutionCommand,
} from '@aws-sdk/client-sfn';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { shapeResult } from '../../functions/coordination/result.ts';
import {
  StepFunctionsEngine,
  standardCoordinationId,
} from '../../functions/coordination/step-functions-engine.ts';
import { FatalAgentError } from '../../functions/core/messaging/agent-errors.ts';
import { type AgentHandler, defineAgent } from '../../functions/core/sdk/define-agent.ts';
import { lambdaContext } from '../../functions/embedded/lambda-context.ts';
import { createAgentQueues } from '../../functions/embedded/queues.ts';
import { SqsPoller } from '../../functions/embedded/sqs-poller.ts';
import { recordStatusChange } from '../../functions/monitor/coordination-events.ts';
import { compile } from '../../statemachines/compile.ts';
import { type CoordinationPlan, executionInput } from '../../statemachines/plan.ts';
import { emulatorClients } from '../support/aws.ts';
import { emf, metricsFor } from '../support/emf.ts';

/**
 * The standard dispatch path on a real Step Functions engine (moto): compiled machines send
 * `sqs:sendMessage.waitForTaskToken` to agent queues, agents built with defineAgent consume them
 * through the SQS event-source poller and answer with SendTaskSuccess / SendTaskFailure.
 */
const clients = emulatorClients('moto');
const pollers: SqsPoller[] = [];
const queueUrls = new Map<string, string>();

async function startAgent(agentId: string, handler: AgentHandler): Promise<void> {
  const queues = await createAgentQueues(clients.sqs, `${agentId}-${randomUUID().slice(0, 6)}`);
  queueUrls.set(agentId, queues.queueUrl);
  const lambda = defineAgent(
    {
      agentId,
      agentType: 'test',
      description: `standard-path agent ${agentId}`,
      capabilities: [{ name: 'test', version: '1.0.0' }],
      handler,
    },
    {
      sqs: clients.sqs,
      sfn: clients.sfn,
      idempotency: false,
      deadLetterQueueUrl: queues.deadLetterQueueUrl,
    },
  );
  const poller = new SqsPoller({
    sqs: clients.sqs,
    queueUrl: queues.queueUrl,
    queueArn: queues.queueArn,
    handler: (e) => lambda(e, lambdaContext(agentId)),
    waitSeconds: 1,
  });
  poller.start();
  pollers.push(poller);
}

const target = (agentId: string) => ({ agentId, target: queueUrls.get(agentId) as string });

async function execute(
  plan: CoordinationPlan,
): Promise<{ status?: string; output?: unknown; error?: string }> {
  const machine = compile(plan);
  const { stateMachineArn } = await clients.sfn.send(
    new CreateStateMachineCommand({
      name: `${machine.name.slice(0, 60)}-${randomUUID().slice(0, 8)}`,
      definition: machine.json,
      roleArn: 'arn:aws:iam::123456789012:role/mobius-engine',
      type: machine.type,
    }),
  );
  const name = randomUUID();
  const { executionArn } = await clients.sfn.send(
    new StartExecutionCommand({
      stateMachineArn,
      name,
      input: JSON.stringify(executionInput(plan, name, { topic: 'moto' })),
    }),
  );
  for (let poll = 0; poll < 150; poll++) {
    const execution = await clients.sfn.send(new DescribeExecutionCommand({ executionArn }));
    if (execution.status !== 'RUNNING') {
      return {
        status: execution.status,
        output: execution.output ? JSON.parse(execution.output) : undefined,
        error: execution.error,
      };
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error('execution did not finish within 30 s');
}

describe('standard path on moto Step Functions', () => {
  beforeAll(async () => {
    const echo: AgentHandler = (message) => ({ by: message.task?.agentId, seen: message.input });
    await startAgent('std-a', echo);
    await startAgent('std-b', echo);
    await startAgent('std-broken', () => {
      throw new FatalAgentError('broken on purpose');
    });
    await startAgent('std-bigint', () => ({ count: 1n }));
    await startAgent('std-throws-null', () => {
      throw null;
    });
  });

  afterAll(async () => {
    await Promise.all(pollers.map((p) => p.stop()));
  });

  const base = { mode: 'standard' as const, failureMode: 'fail_fast' as const, timeoutSeconds: 60 };

  it('runs a pipeline whose agents answer their task tokens', async () => {
    const plan: CoordinationPlan = {
      ...base,
      pattern: 'pipeline',
      steps: [
        { id: 'first', candidates: [target('std-a')], timeoutSeconds: 20 },
        { id: 'second', candidates: [target('std-b')], timeoutSeconds: 20 },
      ],
    };
    const result = await execute(plan);
    expect(result.status).toBe('SUCCEEDED');
    const steps = (
      result.output as {
        steps: Record<
          string,
          { outcome: { ok: boolean; result: { agentId: string; output: unknown } } }
        >;
      }
    ).steps;
    expect(steps.second?.outcome.result).toMatchObject({
      agentId: 'std-b',
      output: { by: 'std-b', seen: { by: 'std-a', seen: { topic: 'moto' } } },
    });
  });

  it('catches SendTaskFailure and falls back to the next candidate', async () => {
    const plan: CoordinationPlan = {
      ...base,
      pattern: 'sequential',
      steps: [
        { id: 'only', candidates: [target('std-broken'), target('std-a')], timeoutSeconds: 20 },
      ],
    };
    const result = await execute(plan);
    expect(result.status).toBe('SUCCEEDED');
    const outcome = (
      result.output as { steps: { only: { outcome: unknown; k0: { Error: string } } } }
    ).steps.only;
    expect(outcome.outcome).toMatchObject({ ok: true, attempt: 1, result: { agentId: 'std-a' } });
    expect(outcome.k0.Error).toBe('FatalAgentError');
  });

  it.each([
    ['std-bigint', 'FatalAgentError'],
    ['std-throws-null', 'Error'],
  ])(
    '%s: answers SendTaskFailure with a well-formed error, and the fallback runs',
    async (agentId, error) => {
      const plan: CoordinationPlan = {
        ...base,
        pattern: 'sequential',
        steps: [{ id: 'only', candidates: [target(agentId), target('std-a')], timeoutSeconds: 20 }],
      };
      const result = await execute(plan);
      expect(result.status).toBe('SUCCEEDED');
      const record = (
        result.output as {
          steps: { only: { outcome: unknown; k0: { Error: string } } };
        }
      ).steps.only;
      expect(record.outcome).toMatchObject({ ok: true, attempt: 1, result: { agentId: 'std-a' } });
      expect(record.k0.Error).toBe(error);
      // moto keeps no cause for SendTaskFailure; test/unit/define-agent.test.ts reads the cause.
    },
  );

  it('fails fast with the agent’s error name', async () => {
    const plan: CoordinationPlan = {
      ...base,
      pattern: 'sequential',
      steps: [{ id: 'only', candidates: [target('std-broken')], timeoutSeconds: 20 }],
    };
    const result = await execute(plan);
    expect(result).toMatchObject({ status: 'FAILED', error: 'FatalAgentError' });
  });

  it('gathers a scatter over a Map of task tokens, with the quorum counted in ASL', async () => {
    const plan: CoordinationPlan = {
      ...base,
      pattern: 'scatter_gather',
      gather: { strategy: 'quorum', quorum: 2 },
      steps: ['std-a', 'std-broken', 'std-b'].map((id, i) => ({
        id: `s${i}`,
        candidates: [target(id)],
        timeoutSeconds: 20,
      })),
    };
    const result = await execute(plan);
    expect(result.status).toBe('SUCCEEDED');
    expect((result.output as { gather: { successes: number } }).gather.successes).toBe(2);
    const strict = await execute({ ...plan, gather: { strategy: 'quorum', quorum: 3 } });
    expect(strict).toMatchObject({ status: 'FAILED', error: 'Mobius.QuorumNotMet' });
  });
});

describe('StepFunctionsEngine on moto Step Functions', () => {
  // The engine names machines by content hash; a run id keeps this file's machines apart from
  // any other run against the same server.
  const engine = new StepFunctionsEngine({
    arnPrefix: 'arn:aws:states:us-east-1:123456789012',
    roleArn: 'arn:aws:iam::123456789012:role/mobius-engine',
    logGroupArn: 'arn:aws:logs:us-east-1:123456789012:log-group:/aws/vendedlogs/states/mobius:*',
    sfn: clients.sfn,
  });

  beforeAll(async () => {
    await startAgent('engine-a', (message) => ({ handled: message.input }));
    await startAgent('engine-broken', () => {
      throw new FatalAgentError('broken on purpose');
    });
  });

  afterAll(async () => {
    await Promise.all(pollers.map((p) => p.stop()));
  });

  it('creates a machine nobody deployed on its first run, then reports the execution by id', async () => {
    const plan: CoordinationPlan = {
      mode: 'standard',
      failureMode: 'fail_fast',
      timeoutSeconds: 60 + Math.floor(Math.random() * 1000), // a shape new to this server
      pattern: 'sequential',
      steps: [{ id: 'only', candidates: [target('engine-a')], timeoutSeconds: 20 }],
    };
    const machine = compile(plan);
    const coordinationId = standardCoordinationId(machine, randomUUID());
    const input = executionInput(plan, coordinationId, { topic: 'engine' });
    await engine.start(machine, input);

    let status = await engine.describe(coordinationId);
    for (let poll = 0; poll < 150 && status?.outcome.status === 'RUNNING'; poll++) {
      await new Promise((resolve) => setTimeout(resolve, 200));
      status = await engine.describe(coordinationId);
    }
    expect(status?.input.coordinationId).toBe(coordinationId);
    expect(status?.outcome).toMatchObject({ status: 'SUCCEEDED' });
    const outcome = status?.outcome as { output: { steps: { only: { outcome: unknown } } } };
    const output = outcome.output;
    expect(output.steps.only.outcome).toMatchObject({
      ok: true,
      result: { agentId: 'engine-a', output: { handled: { topic: 'engine' } } },
    });

    // What Step Functions sends EventBridge when the run ends feeds the outcome metrics.
    const described = await clients.sfn.send(
      new DescribeExecutionCommand({
        executionArn: `arn:aws:states:us-east-1:123456789012:execution:${machine.name}:${coordinationId}`,
      }),
    );
    const metrics = metricsFor('mobius-api');
    const emitted = await emf(
      () =>
        recordStatusChange(metrics, {
          name: coordinationId,
          status: described.status,
          startDate: described.startDate?.getTime(),
          stopDate: described.stopDate?.getTime(),
          input: described.input,
          output: described.output,
          inputDetails: { included: true },
          outputDetails: { included: true },
        }),
      metrics,
    );
    expect(emitted.result).toBe('recorded');
    expect(emitted.metrics).toEqual(
      expect.arrayContaining([
        { name: 'CoordinationsSucceeded', pattern: undefined },
        { name: 'CoordinationDuration', pattern: 'sequential' },
        { name: 'CoordinationOverhead', pattern: 'sequential' },
      ]),
    );

    // A second run of the same shape finds the machine by name: no second CreateStateMachine.
    const again = standardCoordinationId(machine, randomUUID());
    await engine.start(machine, executionInput(plan, again, { topic: 'again' }));
    expect((await engine.describe(again))?.input.payload).toEqual({ topic: 'again' });
  });

  it('a failed run keeps the outputs of the steps that had succeeded, read from its history', async () => {
    const plan: CoordinationPlan = {
      mode: 'standard',
      failureMode: 'fail_fast',
      timeoutSeconds: 60 + Math.floor(Math.random() * 1000),
      pattern: 'pipeline',
      steps: [
        { id: 'first', candidates: [target('engine-a')], timeoutSeconds: 20 },
        { id: 'second', candidates: [target('engine-broken')], timeoutSeconds: 20 },
      ],
    };
    const machine = compile(plan);
    const coordinationId = standardCoordinationId(machine, randomUUID());
    const input = executionInput(plan, coordinationId, { topic: 'history' });
    await engine.start(machine, input);
    let status = await engine.describe(coordinationId);
    for (let poll = 0; poll < 150 && status?.outcome.status === 'RUNNING'; poll++) {
      await new Promise((resolve) => setTimeout(resolve, 200));
      status = await engine.describe(coordinationId);
    }
    expect(status?.outcome.status).toBe('FAILED');
    const result = shapeResult(input, status?.outcome as never, 0);
    expect(result.status).toBe('failed');
    expect(result.steps).toEqual([
      expect.objectContaining({
        stepId: 'first',
        agentId: 'engine-a',
        status: 'succeeded',
        output: { handled: { topic: 'history' } },
      }),
      expect.objectContaining({ stepId: 'second', agentId: 'engine-broken', status: 'failed' }),
    ]);
    expect(result.errors).toEqual([
      expect.objectContaining({
        agentId: 'engine-broken',
        stepId: 'second',
        error: 'FatalAgentError',
      }),
    ]);
  });

  it('answers "no such coordination" for unknown and malformed ids', async () => {
    expect(await engine.describe(`mobius-sequential-0000000000000000--${randomUUID()}`)).toBe(
      undefined,
    );
    expect(await engine.describe('bad:id--x')).toBe(undefined);
    expect(await engine.describe('no-separator')).toBe(undefined);
  });
});
