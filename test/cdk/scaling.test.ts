import { App, Duration, Stack } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import { LambdaInsightsVersion, LayerVersion } from 'aws-cdk-lib/aws-lambda';
import { describe, expect, it } from 'vitest';
import { keywordExtractor } from '../../examples/agents/keyword-extractor.ts';
import { summarizer } from '../../examples/agents/summarizer.ts';
import { PING_KIND } from '../../functions/core/model/task.ts';
import type { AgentDefinition } from '../../functions/core/sdk/define-agent.ts';
import {
  type CoordinatorAgent,
  MobiusCoordinator,
  type MobiusCoordinatorProps,
} from '../../lib/mobius-coordinator.ts';
import { AGENT_SDK_METRICS } from '../../lib/monitoring.ts';

/**
 * Scaling on AWS as the template says it (docs/scaling.md): maxConcurrency on both paths,
 * replicas sharing a queue, provisioned concurrency with auto scaling, warm pings, the dashboard's
 * utilisation widgets and the API's throttle alarm. Synthesised without bundling.
 */
type Resource = { Type: string; Properties: Record<string, unknown> };

const ENTRY = 'examples/agents/summarizer.ts';

function synth(agents: CoordinatorAgent[], props: MobiusCoordinatorProps = {}) {
  const stack = new Stack(new App({ context: { 'aws:cdk:bundling-stacks': [] } }), 'Scaling', {
    env: { account: '123456789012', region: 'eu-west-1' },
  });
  const mobius = new MobiusCoordinator(stack, 'Mobius', { ...props, agents });
  const template = Template.fromStack(stack);
  const resources = template.toJSON().Resources as Record<string, Resource>;
  const ofType = (type: string) => Object.entries(resources).filter(([, r]) => r.Type === type);
  /** Logical id of agent `agentId`'s function. */
  const functionOf = (agentId: string) => {
    const found = ofType('AWS::Lambda::Function').find(([, r]) =>
      String(r.Properties.Description).startsWith(`Mobius agent ${agentId}:`),
    );
    if (!found) throw new Error(`no function for ${agentId}`);
    return found;
  };
  /** The event source mappings reading into `target` (a logical id: function or alias). */
  const mappingsInto = (target: string) =>
    ofType('AWS::Lambda::EventSourceMapping').filter(([, r]) =>
      JSON.stringify(r.Properties.FunctionName).includes(`"${target}"`),
    );
  const cardOf = (agentId: string) => {
    const card = ofType('Custom::MobiusAgentCard').find(([, r]) =>
      JSON.stringify(r.Properties.Card).includes(`\\"agentId\\":\\"${agentId}\\"`),
    );
    if (!card) throw new Error(`no card for ${agentId}`);
    return JSON.stringify(card[1].Properties.Card);
  };
  return { stack, mobius, template, resources, ofType, functionOf, mappingsInto, cardOf };
}

const withConcurrency = (definition: AgentDefinition, maxConcurrency: number): AgentDefinition => ({
  ...definition,
  maxConcurrency,
});

describe('maxConcurrency on AWS', () => {
  it('reserves the function’s concurrency and caps the queue’s event source mapping at it', () => {
    const { functionOf, mappingsInto } = synth([
      { definition: withConcurrency(summarizer, 3), entry: ENTRY },
    ]);
    const [id, fn] = functionOf('summarizer');
    expect(fn.Properties.ReservedConcurrentExecutions).toBe(3);
    const mappings = mappingsInto(id);
    expect(mappings).toHaveLength(1);
    expect(mappings[0]?.[1].Properties.ScalingConfig).toEqual({ MaximumConcurrency: 3 });
  });

  it('bounds maxConcurrency 1 by the reserved concurrency alone: the mapping takes 2 at least', () => {
    const { functionOf, mappingsInto } = synth([
      { definition: withConcurrency(summarizer, 1), entry: ENTRY },
    ]);
    const [id, fn] = functionOf('summarizer');
    expect(fn.Properties.ReservedConcurrentExecutions).toBe(1);
    expect(mappingsInto(id)[0]?.[1].Properties.ScalingConfig).toBeUndefined();
  });

  it('leaves an agent without maxConcurrency unbounded on both paths', () => {
    const { functionOf, mappingsInto } = synth([{ definition: summarizer, entry: ENTRY }]);
    const [id, fn] = functionOf('summarizer');
    expect(fn.Properties.ReservedConcurrentExecutions).toBeUndefined();
    expect(mappingsInto(id)[0]?.[1].Properties.ScalingConfig).toBeUndefined();
  });
});

describe('replicas sharing one queue (competing consumers)', () => {
  const replica: AgentDefinition = { ...summarizer, agentId: 'summarizer-2' };

  it('lets a replica consume its original’s queue and name it in its card, with no rules of its own', () => {
    const { ofType, functionOf, mappingsInto, cardOf, template } = synth([
      { definition: summarizer, entry: ENTRY },
      { definition: replica, entry: ENTRY, sharesQueueWith: 'summarizer' },
    ]);
    const queues = ofType('AWS::SQS::Queue').filter(
      ([, q]) => !String(q.Properties.QueueName).includes('-dlq'),
    );
    expect(queues).toHaveLength(1);
    const [queueId] = queues[0] ?? [''];
    for (const agentId of ['summarizer', 'summarizer-2']) {
      const [fnId, fn] = functionOf(agentId);
      const mappings = mappingsInto(fnId);
      expect(mappings).toHaveLength(1);
      expect(JSON.stringify(mappings[0]?.[1].Properties.EventSourceArn)).toContain(queueId);
      expect(JSON.stringify(fn.Properties.Environment)).toContain(queueId);
      // Direct messages and standard tasks for either go to the one queue.
      expect(cardOf(agentId)).toContain(`"queueUrl\\":\\"",{"Ref":"${queueId}"}`);
    }
    // One broadcast rule (the original's), delivering each broadcast once to the shared queue.
    const broadcastRules = ofType('AWS::Events::Rule').filter(([, r]) =>
      String(r.Properties.Name).endsWith('-broadcast'),
    );
    expect(broadcastRules).toHaveLength(1);
    expect(String(broadcastRules[0]?.[1].Properties.Name)).toMatch(
      /^mobius-summarizer-[0-9a-f]+-broadcast$/,
    );
    // The queue admits run-time rules of both agents.
    const policy = JSON.stringify(
      ofType('AWS::SQS::QueuePolicy').find(([, p]) =>
        JSON.stringify(p.Properties.Queues).includes(queueId),
      ),
    );
    expect(policy).toContain('AgentRulesOnTheMobiusBus');
    expect(policy).toContain('RulesOfsummarizer2');
    // One dead-letter alarm for the one dead-letter queue; an error-rate alarm per replica.
    const alarms = Object.values(template.findResources('AWS::CloudWatch::Alarm')).map((a) =>
      JSON.stringify(a.Properties.AlarmDescription),
    );
    expect(alarms.filter((d) => d.includes('dead-lettered messages'))).toHaveLength(1);
    expect(alarms.filter((d) => d.includes('of its invocations'))).toHaveLength(2);
  });

  it('refuses a replica of an agent not deployed before it, or one setting its queue’s settings', () => {
    expect(() =>
      synth([{ definition: replica, entry: ENTRY, sharesQueueWith: 'summarizer' }]),
    ).toThrow(/summarizer-2 sharesQueueWith 'summarizer', which this coordinator has not deployed/);
    expect(() =>
      synth([
        { definition: summarizer, entry: ENTRY },
        { definition: replica, entry: ENTRY, sharesQueueWith: 'summarizer', maxReceiveCount: 3 },
      ]),
    ).toThrow(/summarizer-2: maxReceiveCount is set on the shared queue by its owner/);
    expect(() =>
      synth([
        { definition: summarizer, entry: ENTRY },
        { definition: replica, entry: ENTRY, sharesQueueWith: 'summarizer', ordered: true },
      ]),
    ).toThrow(/ordered is true, but the shared queue is not FIFO/);
  });
});

describe('warm capacity', () => {
  const hot = { definition: withConcurrency(summarizer, 10), entry: ENTRY };

  it('provisions concurrency on a live alias, scales it on utilisation, and points the card and the queue at the alias', () => {
    const { ofType, functionOf, mappingsInto, cardOf, template } = synth([
      { ...hot, provisionedConcurrency: { min: 2, max: 8, targetUtilization: 0.6 } },
    ]);
    const [fnId] = functionOf('summarizer');
    const aliases = ofType('AWS::Lambda::Alias');
    expect(aliases).toHaveLength(1);
    const [aliasId, alias] = aliases[0] ?? ['', { Properties: {} }];
    expect(alias.Properties).toMatchObject({
      Name: 'live',
      FunctionName: { Ref: fnId },
      ProvisionedConcurrencyConfig: { ProvisionedConcurrentExecutions: 2 },
    });
    template.hasResourceProperties('AWS::ApplicationAutoScaling::ScalableTarget', {
      MinCapacity: 2,
      MaxCapacity: 8,
      ScalableDimension: 'lambda:function:ProvisionedConcurrency',
      ServiceNamespace: 'lambda',
    });
    template.hasResourceProperties('AWS::ApplicationAutoScaling::ScalingPolicy', {
      PolicyType: 'TargetTrackingScaling',
      TargetTrackingScalingPolicyConfiguration: Match.objectLike({
        TargetValue: 0.6,
        PredefinedMetricSpecification: {
          PredefinedMetricType: 'LambdaProvisionedConcurrencyUtilization',
        },
      }),
    });
    // Everything that invokes the agent goes through the alias, so its self-registration (the
    // invoked ARN) names the alias too.
    expect(mappingsInto(aliasId)).toHaveLength(1);
    expect(mappingsInto(fnId)).toHaveLength(0);
    expect(cardOf('summarizer')).toContain(`"lambdaArn\\":\\"",{"Ref":"${aliasId}"}`);
  });

  it('keeps a fixed provisioned concurrency without auto scaling when max is not given', () => {
    const { template } = synth([{ ...hot, provisionedConcurrency: { min: 3 } }]);
    template.hasResourceProperties('AWS::Lambda::Alias', {
      ProvisionedConcurrencyConfig: { ProvisionedConcurrentExecutions: 3 },
    });
    template.resourceCountIs('AWS::ApplicationAutoScaling::ScalableTarget', 0);
  });

  it('refuses provisioned concurrency Lambda would refuse, naming the field', () => {
    for (const [provisionedConcurrency, message] of [
      [{ min: 0 }, /provisionedConcurrency\.min must be a whole number ≥ 1; got 0/],
      [{ min: 4, max: 2 }, /provisionedConcurrency\.max must be a whole number ≥ min \(4\); got 2/],
      [{ min: 2, max: 20 }, /max \(20\) exceeds the card's maxConcurrency \(10\)/],
      [{ min: 1, max: 2, targetUtilization: 0.95 }, /targetUtilization must be between 0\.1/],
    ] as const)
      expect(() => synth([{ ...hot, provisionedConcurrency }])).toThrow(message);
    expect(() => synth([{ ...hot, provisionedConcurrency: { min: 1 }, warm: true }])).toThrow(
      /warm and provisionedConcurrency together/,
    );
  });

  it('pings a warm agent on a schedule of its own with the health sweep’s ping', () => {
    const { ofType, functionOf } = synth([
      { definition: summarizer, entry: ENTRY, warm: true },
      {
        definition: keywordExtractor,
        entry: 'examples/agents/keyword-extractor.ts',
        warm: Duration.minutes(2),
      },
    ]);
    const warmRules = ofType('AWS::Events::Rule').filter(([, r]) =>
      String(r.Properties.Description).startsWith('Keeps one environment'),
    );
    expect(warmRules.map(([, r]) => r.Properties.ScheduleExpression).sort()).toEqual([
      'rate(2 minutes)',
      'rate(5 minutes)',
    ]);
    const [fnId] = functionOf('summarizer');
    const fiveMinutes = warmRules.find(
      ([, r]) => r.Properties.ScheduleExpression === 'rate(5 minutes)',
    );
    const [target] = (fiveMinutes?.[1].Properties.Targets ?? []) as {
      Arn: unknown;
      Input: string;
    }[];
    expect(target?.Arn).toEqual({ 'Fn::GetAtt': [fnId, 'Arn'] });
    expect(JSON.parse(target?.Input ?? '{}')).toEqual({ kind: PING_KIND });
    expect(() =>
      synth([{ definition: summarizer, entry: ENTRY, warm: Duration.seconds(30) }]),
    ).toThrow(/warm must be a whole number of minutes ≥ 1 .*got 30 seconds/);
  });

  it('sweeps at the health check interval it is given', () => {
    const { template } = synth([], { healthCheckInterval: Duration.minutes(10) });
    template.hasResourceProperties('AWS::Events::Rule', {
      Description: 'Mobius health sweep',
      ScheduleExpression: 'rate(10 minutes)',
    });
  });
});

describe('graceful shutdown', () => {
  it('warns at synth when an agent declares onStop but its function has no extension to bring SIGTERM', () => {
    const stopping: AgentDefinition = { ...summarizer, onStop: async () => {} };
    const { stack } = synth([{ definition: stopping, entry: ENTRY }]);
    Annotations.fromStack(stack).hasWarning(
      '/Scaling/Mobius/Agent-summarizer',
      Match.stringLikeRegexp(
        'declares onStop, but Lambda sends SIGTERM .* only to functions with an extension',
      ),
    );
    const withExtension = synth([
      {
        definition: stopping,
        entry: ENTRY,
        insightsVersion: LambdaInsightsVersion.VERSION_1_0_498_0,
      },
    ]);
    Annotations.fromStack(withExtension.stack).hasNoWarning('*', Match.stringLikeRegexp('onStop'));
  });

  it('adds the extension layers and Lambda Insights an agent is given', () => {
    const { functionOf, resources } = synth([
      {
        definition: summarizer,
        entry: ENTRY,
        insightsVersion: LambdaInsightsVersion.VERSION_1_0_498_0,
      },
    ]);
    const [, fn] = functionOf('summarizer');
    expect(JSON.stringify(fn.Properties.Layers)).toContain('LambdaInsightsExtension-Arm64');
    const role = Object.values(resources).find(
      (r) =>
        r.Type === 'AWS::IAM::Role' &&
        String(JSON.stringify(r.Properties.ManagedPolicyArns)).includes(
          'CloudWatchLambdaInsightsExecutionRolePolicy',
        ),
    );
    expect(role).toBeDefined();

    const layered = new Stack(new App({ context: { 'aws:cdk:bundling-stacks': [] } }), 'L', {
      env: { account: '123456789012', region: 'eu-west-1' },
    });
    const layer = LayerVersion.fromLayerVersionArn(
      layered,
      'Shutdown',
      'arn:aws:lambda:eu-west-1:123456789012:layer:sigterm-extension:3',
    );
    new MobiusCoordinator(layered, 'Mobius', {
      agents: [{ definition: summarizer, entry: ENTRY, layers: [layer] }],
    });
    Template.fromStack(layered).hasResourceProperties('AWS::Lambda::Function', {
      Description: Match.stringLikeRegexp('^Mobius agent summarizer:'),
      Layers: ['arn:aws:lambda:eu-west-1:123456789012:layer:sigterm-extension:3'],
    });
  });
});

describe('the dashboard and alarms', () => {
  const body = (template: Template) =>
    JSON.stringify(
      Object.values(template.findResources('AWS::CloudWatch::Dashboard'))[0]?.Properties
        .DashboardBody,
    );

  it('draws each agent’s duration, concurrency, throttles and the SDK’s memory and in-flight figures', () => {
    const { template } = synth([{ definition: summarizer, entry: ENTRY }]);
    const dashboard = body(template);
    for (const title of [
      'Agent duration p50 (ms)',
      'Agent duration p99 (ms)',
      'Agent concurrent executions (max)',
      'Agent throttles',
      'Agent memory used (MB, max, from the SDK)',
      'Agent memory size (MB)',
    ])
      expect(dashboard).toContain(title);
    expect(dashboard).toMatch(/\\"Duration\\",\\"FunctionName\\".*\\"stat\\":\\"p99\\"/);
    expect(dashboard).toContain('\\"ConcurrentExecutions\\",\\"FunctionName\\"');
    // The SDK's EMF figures, in the stack's namespace, with the dimensions the SDK publishes.
    for (const name of Object.values(AGENT_SDK_METRICS))
      expect(dashboard).toContain(
        `[\\"Mobius/Scaling\\",\\"${name}\\",\\"agentId\\",\\"summarizer\\",\\"service\\",\\"summarizer\\"`,
      );
  });

  it('draws the API’s latency and 5xx, and alarms when Lambda throttles the API function', () => {
    const { template, ofType } = synth([]);
    const dashboard = body(template);
    expect(dashboard).toMatch(
      /AWS\/ApiGateway\\",\\"Latency\\",\\"ApiName\\",\\"mobius-coordinator\\".*\\"stat\\":\\"p99\\"/,
    );
    expect(dashboard).toContain('\\"5XXError\\",\\"ApiName\\",\\"mobius-coordinator\\"');
    const api = ofType('AWS::Lambda::Function').find(
      ([, r]) => r.Properties.Description === 'Mobius Coordinator HTTP API',
    );
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'Throttles',
      Namespace: 'AWS/Lambda',
      Dimensions: [{ Name: 'FunctionName', Value: { Ref: api?.[0] } }],
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
    });
  });
});
