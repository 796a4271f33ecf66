import { App, Aspects, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import { EventBus } from 'aws-cdk-lib/aws-events';
import { AccountRootPrincipal, Role } from 'aws-cdk-lib/aws-iam';
import { Function as LambdaFunction } from 'aws-cdk-lib/aws-lambda';
import { Bucket } from 'aws-cdk-lib/aws-s3';
import { Queue } from 'aws-cdk-lib/aws-sqs';
import {
  AwsCustomResource,
  AwsCustomResourcePolicy,
  PhysicalResourceId,
} from 'aws-cdk-lib/custom-resources';
import { Construct } from 'constructs';
import { describe, expect, it } from 'vitest';
import { keywordExtractor } from '../../examples/agents/keyword-extractor.ts';
import { summarizer } from '../../examples/agents/summarizer.ts';
import { AGENT_ENVIRONMENT } from '../../functions/core/sdk/environment.ts';
import { Agent } from '../../lib/agent.ts';
import { API_TRANSFER_MODE_CONTEXT } from '../../lib/api.ts';
import { LogGroupsWithRetention } from '../../lib/lambda-defaults.ts';
import { MobiusCoordinator, planWorkflows } from '../../lib/mobius-coordinator.ts';
import { RegistryTables } from '../../lib/registry-table.ts';

/**
 * MobiusCoordinator as a user puts it into a stack of their own app: built synchronously, agents
 * added at construction or later, agents it did not deploy reached through IAgentTarget.
 */
const userStack = () =>
  new Stack(new App({ context: { 'aws:cdk:bundling-stacks': [] } }), 'UserApp', {
    env: { account: '123456789012', region: 'eu-west-1' },
  });

const alarmsAbout = (template: Template, agentId: string) =>
  Object.values(
    template.findResources('AWS::CloudWatch::Alarm') as Record<
      string,
      { Properties: { AlarmDescription: unknown } }
    >,
    // A description naming a queue is an Fn::Join: look for the agent in its text.
  ).filter((a) => JSON.stringify(a.Properties.AlarmDescription).includes(`Agent ${agentId} `));

describe('MobiusCoordinator in a stack of your own', () => {
  it('is built synchronously, with agents given at construction and added later', () => {
    const stack = userStack();
    const mobius = new MobiusCoordinator(stack, 'Mobius', {
      agents: [{ definition: summarizer, entry: 'examples/agents/summarizer.ts' }],
    });
    const later = mobius.addAgent({
      definition: keywordExtractor,
      entry: 'examples/agents/keyword-extractor.ts',
    });
    expect(later.agentId).toBe('keyword-extractor');
    expect(mobius.agents.map((a) => a.agentId)).toEqual(['summarizer', 'keyword-extractor']);
    const template = Template.fromStack(stack);
    template.resourceCountIs('Custom::MobiusAgentCard', 2);
    // The agent added after construction has its alarms too.
    expect(alarmsAbout(template, 'keyword-extractor')).toHaveLength(2);
    expect(alarmsAbout(template, 'summarizer')).toHaveLength(2);
  });

  it('reaches an agent it did not deploy through its function and queues (imported)', () => {
    const stack = userStack();
    const mobius = new MobiusCoordinator(stack, 'Mobius');
    const imported = new (class extends Construct {
      readonly agentId = 'legacy-ranker';
      readonly function = LambdaFunction.fromFunctionArn(
        this,
        'Fn',
        'arn:aws:lambda:eu-west-1:123456789012:function:legacy-ranker',
      );
      readonly queue = Queue.fromQueueArn(this, 'Q', 'arn:aws:sqs:eu-west-1:123456789012:ranker');
      readonly deadLetterQueue = Queue.fromQueueArn(
        this,
        'Dlq',
        'arn:aws:sqs:eu-west-1:123456789012:ranker-dlq',
      );
    })(stack, 'Legacy');
    mobius.addTarget(imported);
    const template = Template.fromStack(stack);
    const policies = JSON.stringify(template.findResources('AWS::IAM::Policy'));
    expect(policies).toContain('function:legacy-ranker');
    expect(policies).toContain('arn:aws:sqs:eu-west-1:123456789012:ranker');
    expect(alarmsAbout(template, 'legacy-ranker')).toHaveLength(2);
  });

  it('makes operators of the principals it names or is granted, and allows the accounts it is given', () => {
    const stack = userStack();
    const mobius = new MobiusCoordinator(stack, 'Mobius', {
      operators: ['arn:aws:iam::123456789012:role/oncall/Ops'],
      allowedAgentAccounts: ['210987654321'],
    });
    const admin = new Role(stack, 'Admin', { assumedBy: new AccountRootPrincipal() });
    mobius.grantOperator(admin);
    const runner = new Role(stack, 'Runner', { assumedBy: new AccountRootPrincipal() });
    mobius.api.grantInvoker(runner);
    const template = Template.fromStack(stack);
    const variables = JSON.stringify(
      Object.values(
        template.findResources('AWS::Lambda::Function', {
          Properties: { Description: 'Mobius Coordinator HTTP API' },
        }),
      )[0],
    );
    // The named operator, then the granted role's ARN (a GetAtt of the Admin role).
    expect(variables).toMatch(/"MOBIUS_OPERATORS":\{"Fn::Join":.*oncall\/Ops,".*"Admin\w+","Arn"/);
    expect(variables).toContain('"MOBIUS_AGENT_ACCOUNTS":"123456789012,210987654321"');
    const roles = template.findResources('AWS::IAM::Role');
    const managed = (id: string) =>
      JSON.stringify(
        Object.entries(roles).find(([logical]) => logical.startsWith(id))?.[1].Properties
          .ManagedPolicyArns,
      );
    expect(managed('Admin')).toContain(stack.resolve(mobius.operatorPolicy.managedPolicyArn).Ref);
    expect(managed('Runner')).toContain(stack.resolve(mobius.invokerPolicy.managedPolicyArn).Ref);
  });

  it('reserves the API function’s concurrency and throttles the stage below it, as asked', () => {
    const stack = userStack();
    new MobiusCoordinator(stack, 'Mobius', {
      reservedConcurrency: 50,
      throttle: { rateLimit: 20, burstLimit: 40 },
    });
    const template = Template.fromStack(stack);
    template.hasResourceProperties('AWS::Lambda::Function', {
      Description: 'Mobius Coordinator HTTP API',
      ReservedConcurrentExecutions: 50,
    });
    // The agents' and the monitor's functions keep the unreserved pool.
    expect(
      Object.values(
        template.findResources('AWS::Lambda::Function', {
          Properties: { ReservedConcurrentExecutions: Match.anyValue() },
        }),
      ),
    ).toHaveLength(1);
    template.hasResourceProperties('AWS::ApiGateway::Stage', {
      MethodSettings: Match.arrayWith([
        Match.objectLike({
          HttpMethod: '*',
          ResourcePath: '/*',
          ThrottlingRateLimit: 20,
          ThrottlingBurstLimit: 40,
        }),
      ]),
    });
    Annotations.fromStack(stack).hasNoWarning('*', Match.stringLikeRegexp('throttle'));
  });

  it('warns at synth when the gateway admits bursts the reserved concurrency cannot serve', () => {
    const stack = userStack();
    new MobiusCoordinator(stack, 'Mobius', { reservedConcurrency: 10 });
    Annotations.fromStack(stack).hasWarning(
      '/UserApp/Mobius/Http',
      Match.stringLikeRegexp('bursts of 200 .* only 10 at once.*throttle\\.burstLimit'),
    );
  });

  it('refuses a reserved concurrency or throttle API Gateway and Lambda would not take, naming it', () => {
    for (const [props, message] of [
      [{ reservedConcurrency: 0 }, /reservedConcurrency must be a whole number ≥ 1.*got 0/],
      [{ reservedConcurrency: 2.5 }, /reservedConcurrency .*got 2\.5/],
      [{ throttle: { rateLimit: 0, burstLimit: 10 } }, /throttle\.rateLimit .*> 0; got 0/],
      [{ throttle: { rateLimit: 10, burstLimit: 1.5 } }, /throttle\.burstLimit .*got 1\.5/],
    ] as const)
      expect(() => new MobiusCoordinator(userStack(), 'Mobius', props)).toThrow(message);
  });

  it('echoes the request’s origin on the throttled 503 when the API has several CORS origins', () => {
    const stack = userStack();
    new MobiusCoordinator(stack, 'Mobius', {
      corsOrigins: ['https://app.example.com', 'https://admin.example.com'],
    });
    Template.fromStack(stack).hasResourceProperties('AWS::ApiGateway::GatewayResponse', {
      ResponseType: 'THROTTLED',
      StatusCode: '503',
      ResponseParameters: {
        'gatewayresponse.header.Retry-After': "'1'",
        'gatewayresponse.header.Access-Control-Allow-Origin': 'method.request.header.origin',
        'gatewayresponse.header.Access-Control-Expose-Headers': "'Retry-After'",
        'gatewayresponse.header.Vary': "'Origin'",
      },
    });
  });

  it('gives functions CDK adds of its own a log group with retention (LogGroupsWithRetention)', () => {
    const stack = userStack();
    new AwsCustomResource(stack, 'Lookup', {
      onUpdate: {
        service: 'SSM',
        action: 'getParameter',
        parameters: { Name: 'x' },
        physicalResourceId: PhysicalResourceId.of('x'),
      },
      policy: AwsCustomResourcePolicy.fromSdkCalls({
        resources: AwsCustomResourcePolicy.ANY_RESOURCE,
      }),
    });
    const helperLogGroup = () => {
      const template = Template.fromStack(stack).toJSON().Resources as Record<
        string,
        { Type: string; Properties: { LoggingConfig?: { LogGroup?: { Ref: string } } } }
      >;
      const helper = Object.values(template).find((r) => r.Type === 'AWS::Lambda::Function');
      return template[helper?.Properties.LoggingConfig?.LogGroup?.Ref ?? ''];
    };
    Aspects.of(stack).add(new LogGroupsWithRetention());
    expect(helperLogGroup()).toMatchObject({
      Type: 'AWS::Logs::LogGroup',
      Properties: { RetentionInDays: 30 },
    });
  });

  it('also reaches the functions of CDK core providers, which are plain CfnResources (bucket auto-delete)', () => {
    const stack = userStack();
    new Bucket(stack, 'Scratch', { autoDeleteObjects: true, removalPolicy: RemovalPolicy.DESTROY });
    Aspects.of(stack).add(new LogGroupsWithRetention());
    const template = Template.fromStack(stack).toJSON().Resources as Record<
      string,
      { Type: string; Properties: { LoggingConfig?: { LogGroup?: { Ref: string } } } }
    >;
    const functions = Object.values(template).filter((r) => r.Type === 'AWS::Lambda::Function');
    expect(functions.length).toBeGreaterThan(0);
    for (const fn of functions) {
      expect(template[fn.Properties.LoggingConfig?.LogGroup?.Ref ?? '']).toMatchObject({
        Type: 'AWS::Logs::LogGroup',
        Properties: { RetentionInDays: 30 },
      });
    }
  });

  it('gives an Agent built on its own one standard dead-letter queue for all its rules, FIFO or not', () => {
    const stack = userStack();
    new Agent(stack, 'Ordered', {
      definition: {
        ...summarizer,
        subscriptions: [{ eventTypes: ['document.indexed'] }],
      },
      entry: 'examples/agents/summarizer.ts',
      tables: new RegistryTables(stack, 'Tables'),
      bus: new EventBus(stack, 'Bus'),
      ordered: true,
    });
    const resources = Template.fromStack(stack).toJSON().Resources as Record<
      string,
      { Type: string; Properties: Record<string, unknown> }
    >;
    const rules = Object.values(resources).filter((r) => r.Type === 'AWS::Events::Rule');
    expect(rules).toHaveLength(2);
    const deadLetterQueues = new Set(
      rules.flatMap((rule) =>
        (
          rule.Properties.Targets as { DeadLetterConfig: { Arn: { 'Fn::GetAtt': string[] } } }[]
        ).map((t) => t.DeadLetterConfig.Arn['Fn::GetAtt'][0]),
      ),
    );
    expect(deadLetterQueues.size).toBe(1);
    const [queueId = ''] = deadLetterQueues;
    // EventBridge takes standard queues only: not the agent's own (FIFO) dead-letter queue.
    expect(resources[queueId]).toMatchObject({ Type: 'AWS::SQS::Queue' });
    expect(resources[queueId]?.Properties.FifoQueue).toBeUndefined();
  });

  it('deploys the machines of workflows planned ahead (planWorkflows)', async () => {
    const stack = userStack();
    const agents = [
      { definition: summarizer, entry: 'examples/agents/summarizer.ts' },
      { definition: keywordExtractor, entry: 'examples/agents/keyword-extractor.ts' },
    ];
    const workflows = await planWorkflows(agents, [
      {
        id: 'digest',
        request: { pattern: 'pipeline', agents: ['summarizer', 'keyword-extractor'] },
      },
    ]);
    new MobiusCoordinator(stack, 'Mobius', { agents, workflows });
    Template.fromStack(stack).resourceCountIs('AWS::StepFunctions::StateMachine', 1);
  });
});

describe('streaming in a stack of your own', () => {
  const methodsOf = (template: Template) =>
    Object.values(
      template.findResources('AWS::ApiGateway::Method') as Record<
        string,
        { Properties: { HttpMethod: string; Integration: Record<string, unknown> } }
      >,
    ).filter((m) => m.Properties.HttpMethod !== 'OPTIONS');

  it('exposes the event log and applies the removal policy given to the tables', () => {
    const stack = userStack();
    const mobius = new MobiusCoordinator(stack, 'Mobius', { removalPolicy: RemovalPolicy.DESTROY });
    const template = Template.fromStack(stack);
    const id = stack.getLogicalId(mobius.eventsTable.table.node.defaultChild as never);
    expect(template.toJSON().Resources[id]).toMatchObject({
      Type: 'AWS::DynamoDB::Table',
      DeletionPolicy: 'Delete',
    });
  });

  it('gives an agent added later its streaming function, and the API leave to invoke it', () => {
    const stack = userStack();
    const mobius = new MobiusCoordinator(stack, 'Mobius');
    const agent = mobius.addAgent({
      definition: summarizer,
      entry: 'examples/agents/summarizer.ts',
      streaming: true,
    });
    expect(agent.streamFunction).toBeDefined();
    expect(agent.card.endpoint.streamArn).toBe(agent.streamFunction?.functionArn);
    const template = Template.fromStack(stack);
    template.hasResourceProperties('AWS::Lambda::Function', {
      Handler: 'index.handler',
      Environment: {
        Variables: Match.objectLike({
          [AGENT_ENVIRONMENT.entry]: 'streaming',
          [AGENT_ENVIRONMENT.eventsTable]: Match.anyValue(),
          [AGENT_ENVIRONMENT.queueUrl]: Match.anyValue(),
        }),
      },
    });
    const streamId = stack.getLogicalId(agent.streamFunction?.node.defaultChild as never);
    const apiRole = stack.getLogicalId(mobius.api.function.role?.node.defaultChild as never);
    const invokes = Object.values(
      template.findResources('AWS::IAM::Policy') as Record<
        string,
        { Properties: { Roles: { Ref: string }[]; PolicyDocument: { Statement: object[] } } }
      >,
    )
      .filter((p) => p.Properties.Roles.some((r) => r.Ref === apiRole))
      .flatMap((p) => p.Properties.PolicyDocument.Statement)
      .filter((statement) => JSON.stringify(statement).includes(streamId));
    expect(invokes).toEqual([expect.objectContaining({ Action: 'lambda:InvokeFunction' })]);
  });

  it('lets the API invoke the streaming function of an agent it did not deploy', () => {
    const stack = userStack();
    const mobius = new MobiusCoordinator(stack, 'Mobius');
    const imported = new (class extends Construct {
      readonly agentId = 'remote-writer';
      readonly function = LambdaFunction.fromFunctionArn(
        this,
        'Fn',
        'arn:aws:lambda:eu-west-1:123456789012:function:remote-writer',
      );
      readonly streamFunction = LambdaFunction.fromFunctionArn(
        this,
        'StreamFn',
        'arn:aws:lambda:eu-west-1:123456789012:function:remote-writer-stream',
      );
      readonly queue = Queue.fromQueueArn(this, 'Q', 'arn:aws:sqs:eu-west-1:123456789012:rw');
      readonly deadLetterQueue = Queue.fromQueueArn(
        this,
        'Dlq',
        'arn:aws:sqs:eu-west-1:123456789012:rw-dlq',
      );
    })(stack, 'Remote');
    mobius.addTarget(imported);
    const policies = JSON.stringify(Template.fromStack(stack).findResources('AWS::IAM::Policy'));
    expect(policies).toContain('function:remote-writer-stream');
  });

  it('keeps buffered integrations under the LocalStack context, and says it is for LocalStack only', () => {
    const stack = new Stack(
      new App({
        context: { 'aws:cdk:bundling-stacks': [], [API_TRANSFER_MODE_CONTEXT]: 'BUFFERED' },
      }),
      'LocalApp',
      { env: { account: '123456789012', region: 'eu-west-1' } },
    );
    const mobius = new MobiusCoordinator(stack, 'Mobius');
    const template = Template.fromStack(stack);
    const methods = methodsOf(template);
    expect(methods.length).toBeGreaterThan(0);
    for (const method of methods) {
      expect(method.Properties.Integration.ResponseTransferMode).toBe('BUFFERED');
      expect(JSON.stringify(method.Properties.Integration.Uri)).toContain('2015-03-31/functions/');
      expect(method.Properties.Integration.TimeoutInMillis).toBeUndefined();
    }
    Annotations.fromStack(stack).hasWarning(
      `/${stack.node.id}/${mobius.node.id}/${mobius.api.node.id}`,
      Match.stringLikeRegexp('LocalStack'),
    );
  });

  it('refuses a transfer mode API Gateway does not have, naming the context key', () => {
    const stack = new Stack(
      new App({
        context: { 'aws:cdk:bundling-stacks': [], [API_TRANSFER_MODE_CONTEXT]: 'stream' },
      }),
      'TypoApp',
    );
    expect(() => new MobiusCoordinator(stack, 'Mobius')).toThrow(
      new RegExp(`${API_TRANSFER_MODE_CONTEXT} must be STREAM .* got stream`),
    );
  });
});
