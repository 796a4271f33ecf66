import {
  CreateStateMachineCommand,
  DescribeExecutionCommand,
  ExecutionLimitExceeded,
  GetExecutionHistoryCommand,
  SFNClient,
  SFNServiceException,
  StartExecutionCommand,
  StartSyncExecutionCommand,
  StateMachineDoesNotExist,
} from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import {
  StepFunctionsEngine,
  standardCoordinationId,
} from '../../functions/coordination/step-functions-engine.ts';
import { CapacityExceededError } from '../../functions/core/errors.ts';
import { compile } from '../../statemachines/compile.ts';
import { type CoordinationPlan, executionInput } from '../../statemachines/plan.ts';

const sfn = mockClient(SFNClient);
const PREFIX = 'arn:aws:states:eu-west-1:123456789012';

function engine(logGroupArn: string) {
  return new StepFunctionsEngine({
    arnPrefix: PREFIX,
    roleArn: 'arn:aws:iam::123456789012:role/engine',
    logGroupArn,
    sfn: new SFNClient({ region: 'eu-west-1' }),
  });
}

const plan: CoordinationPlan = {
  mode: 'express',
  failureMode: 'fail_fast',
  pattern: 'sequential',
  steps: [
    {
      id: 's1',
      timeoutSeconds: 10,
      candidates: [{ agentId: 'a', target: 'arn:aws:lambda:::function:a' }],
    },
  ],
};
const machine = compile(plan);
const input = executionInput(plan, 'c-1', {});
const missing = () =>
  new StateMachineDoesNotExist({ message: 'State Machine Does Not Exist', $metadata: {} });

beforeEach(() => {
  sfn.reset();
});

describe('StepFunctionsEngine', () => {
  it('runs a known machine with one StartSyncExecution, addressed by its content-hash name', async () => {
    sfn.on(StartSyncExecutionCommand).resolves({ status: 'SUCCEEDED', output: '{"ok":1}' });
    const outcome = await engine('arn:aws:logs:eu-west-1:123456789012:log-group:g').runSync(
      machine,
      input,
    );
    expect(outcome).toEqual({ status: 'SUCCEEDED', output: { ok: 1 } });
    expect(sfn.commandCalls(CreateStateMachineCommand)).toHaveLength(0);
    expect(sfn.commandCalls(StartSyncExecutionCommand)[0]?.args[0].input).toMatchObject({
      stateMachineArn: `${PREFIX}:stateMachine:${machine.name}`,
      name: 'c-1',
    });
  });

  it.each([
    [
      'a CloudFormation log group ARN (ends in :*)',
      'arn:aws:logs:r:1:log-group:/aws/vendedlogs/g:*',
    ],
    ['a name-built log group ARN', 'arn:aws:logs:r:1:log-group:/aws/vendedlogs/g'],
  ])('creates a missing machine once, logging to %s with a single :* suffix', async (_, arn) => {
    sfn
      .on(StartSyncExecutionCommand)
      .rejectsOnce(missing())
      .resolves({ status: 'FAILED', error: 'FatalAgentError', cause: 'no' });
    sfn.on(CreateStateMachineCommand).resolves({ stateMachineArn: 'x' });
    const outcome = await engine(arn).runSync(machine, input);
    expect(outcome).toEqual({ status: 'FAILED', error: 'FatalAgentError', cause: 'no' });
    const create = sfn.commandCalls(CreateStateMachineCommand);
    expect(create).toHaveLength(1);
    expect(create[0]?.args[0].input).toMatchObject({
      name: machine.name,
      type: 'EXPRESS',
      definition: machine.json,
      tracingConfiguration: { enabled: true },
      loggingConfiguration: {
        destinations: [
          {
            cloudWatchLogsLogGroup: {
              logGroupArn: 'arn:aws:logs:r:1:log-group:/aws/vendedlogs/g:*',
            },
          },
        ],
      },
    });
  });

  it('turns a Step Functions quota into CapacityExceededError (503)', async () => {
    sfn
      .on(StartExecutionCommand)
      .rejects(new ExecutionLimitExceeded({ message: 'too many executions', $metadata: {} }));
    const error = await engine('g')
      .start(machine, input)
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CapacityExceededError);
    expect((error as CapacityExceededError).message).toContain('too many executions');
  });

  it('turns Step Functions throttling (after the SDK’s retries) into CapacityExceededError (503)', async () => {
    sfn.on(StartSyncExecutionCommand).rejects(
      new SFNServiceException({
        name: 'ThrottlingException',
        $fault: 'client',
        message: 'Rate exceeded',
        $metadata: { httpStatusCode: 400 },
      }),
    );
    const error = await engine('g')
      .runSync(machine, input)
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CapacityExceededError);
    expect((error as CapacityExceededError).details).toMatchObject({
      service: 'states',
      reason: 'ThrottlingException',
    });
  });

  it("reads a failed run's history once: a finished run's progress does not change", async () => {
    const id = standardCoordinationId(machine, '0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0');
    const state = { coordinationId: id, pattern: 'sequential', steps: { s1: {} } };
    sfn.on(DescribeExecutionCommand).resolves({
      status: 'FAILED',
      error: 'FatalAgentError',
      cause: 'a failed at step s1: broken',
      input: JSON.stringify(input),
      startDate: new Date(),
    });
    sfn.on(GetExecutionHistoryCommand).resolves({
      events: [
        {
          id: 2,
          type: 'FailStateEntered',
          timestamp: new Date(),
          stateEnteredEventDetails: { name: 'CoordinationFailed', input: JSON.stringify(state) },
        },
      ],
    });
    const sfnEngine = engine('g');
    for (let poll = 0; poll < 3; poll++) {
      const status = await sfnEngine.describe(id);
      expect(status?.outcome).toMatchObject({ status: 'FAILED', progress: { state } });
    }
    expect(sfn.commandCalls(GetExecutionHistoryCommand)).toHaveLength(1);
  });

  it('does not ask AWS about ids it never handed out', async () => {
    expect(await engine('g').describe('bad:id--x')).toBeUndefined();
    expect(await engine('g').describe(`${'m'.repeat(60)}--${'u'.repeat(36)}`)).toBeUndefined();
    expect(sfn.commandCalls(DescribeExecutionCommand)).toHaveLength(0);
  });
});
