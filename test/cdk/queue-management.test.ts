import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, Stack, Validations } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { Function as LambdaFunction } from 'aws-cdk-lib/aws-lambda';
import { Queue } from 'aws-cdk-lib/aws-sqs';
import { AwsSolutionsChecks } from 'cdk-nag';
import { Construct } from 'constructs';
import { beforeAll, describe, expect, it } from 'vitest';
import { summarizer } from '../../examples/agents/summarizer.ts';
import type { Agent } from '../../lib/agent.ts';
import { MobiusCoordinator } from '../../lib/mobius-coordinator.ts';

/**
 * What the operators' queue routes need of the stack: the API function may read every agent
 * queue's attributes, look at and redrive its dead letters — on exactly the queues of the agents
 * the stack deploys or is given — and read CloudWatch's queue metrics; cdk-nag passes.
 */
let stack: Stack;
let resources: Record<string, { Type: string; Properties: Record<string, unknown> }>;
let mobius: MobiusCoordinator;
let deployed: Agent;

type Statement = { Action: string | string[]; Resource: unknown; Effect: string };

const LEGACY_QUEUE = 'arn:aws:sqs:eu-west-1:123456789012:ranker';
const LEGACY_DLQ = 'arn:aws:sqs:eu-west-1:123456789012:ranker-dlq';
const REDRIVE = [
  'sqs:GetQueueAttributes',
  'sqs:ReceiveMessage',
  'sqs:DeleteMessage',
  'sqs:StartMessageMoveTask',
  'sqs:ListMessageMoveTasks',
];

beforeAll(() => {
  const app = new App({
    outdir: mkdtempSync(join(tmpdir(), 'mobius-queues-')),
    context: { 'aws:cdk:bundling-stacks': [] },
  });
  stack = new Stack(app, 'Queues', { env: { account: '123456789012', region: 'eu-west-1' } });
  mobius = new MobiusCoordinator(stack, 'Mobius', {
    agents: [{ definition: summarizer, entry: 'examples/agents/summarizer.ts' }],
  });
  [deployed] = mobius.agents as [Agent];
  // An agent the stack did not deploy, reached through its imported function and queues.
  mobius.addTarget(
    new (class extends Construct {
      readonly agentId = 'legacy-ranker';
      readonly function = LambdaFunction.fromFunctionArn(
        this,
        'Fn',
        'arn:aws:lambda:eu-west-1:123456789012:function:legacy-ranker',
      );
      readonly queue = Queue.fromQueueArn(this, 'Q', LEGACY_QUEUE);
      readonly deadLetterQueue = Queue.fromQueueArn(this, 'Dlq', LEGACY_DLQ);
    })(stack, 'Legacy'),
  );
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  app.synth(); // throws when cdk-nag reports an unacknowledged error
  resources = Template.fromStack(stack).toJSON().Resources;
}, 120_000);

/** The statements of the policies attached to the API function's role. */
function apiStatements(): Statement[] {
  const role = mobius.api.function.role;
  expect(role).toBeDefined();
  const roleId = stack.getLogicalId(role?.node.defaultChild as never);
  return Object.values(resources)
    .filter((r) => r.Type === 'AWS::IAM::Policy')
    .filter((r) => JSON.stringify(r.Properties.Roles).includes(`"${roleId}"`))
    .flatMap((r) => (r.Properties.PolicyDocument as { Statement: Statement[] }).Statement);
}

const actions = (statement: Statement) => [statement.Action].flat();
const resourcesOf = (statement: Statement) =>
  [statement.Resource].flat().map((r) => stack.resolve(r));
const arnOf = (queue: { queueArn: string }) => stack.resolve(queue.queueArn);

describe('the API function and agent queues', () => {
  it('may look at and redrive the dead letters of each agent, on its dead-letter queue only', () => {
    const statements = apiStatements();
    const dlqs = [arnOf(deployed.deadLetterQueue), LEGACY_DLQ];
    for (const dlq of dlqs) {
      const granting = statements.filter((s) =>
        resourcesOf(s).some((r) => JSON.stringify(r) === JSON.stringify(dlq)),
      );
      expect(granting.flatMap(actions).sort(), JSON.stringify(dlq)).toEqual([...REDRIVE].sort());
    }
    // Receiving, deleting and moving are granted on those dead-letter queues and nothing else.
    for (const statement of statements) {
      if (!actions(statement).some((a) => REDRIVE.slice(1).includes(a))) continue;
      for (const resource of resourcesOf(statement))
        expect(dlqs.map((d) => JSON.stringify(d))).toContain(JSON.stringify(resource));
    }
  });

  it("may read each agent queue's attributes and send to it (the redrive's destination)", () => {
    const statements = apiStatements();
    for (const queue of [arnOf(deployed.queue), LEGACY_QUEUE]) {
      const granted = statements
        .filter((s) => resourcesOf(s).some((r) => JSON.stringify(r) === JSON.stringify(queue)))
        .flatMap(actions);
      expect(granted).toEqual(
        expect.arrayContaining(['sqs:GetQueueAttributes', 'sqs:SendMessage']),
      );
      expect(granted).not.toContain('sqs:ReceiveMessage');
      expect(granted).not.toContain('sqs:DeleteMessage');
    }
  });

  it("may read CloudWatch metrics (a queue's oldest message's age), and nothing else of CloudWatch", () => {
    const cloudWatch = apiStatements().filter((s) =>
      actions(s).some((a) => a.startsWith('cloudwatch:')),
    );
    expect(cloudWatch).toEqual([
      { Effect: 'Allow', Action: 'cloudwatch:GetMetricData', Resource: '*' },
    ]);
  });
});
