import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, Duration, Validations } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { beforeAll, describe, expect, it } from 'vitest';
import { factFinder } from '../../examples/agents/fact-finder.ts';
import { EXAMPLE_AGENTS } from '../../examples/agents/index.ts';
import { exampleStackProps, STREAMING_AGENTS } from '../../examples/stack.ts';
import { ROUTES } from '../../functions/api/app.ts';
import {
  ruleName,
  ruleNamePrefix,
  subscriptionPattern,
} from '../../functions/core/messaging/routing-rules.ts';
import { REGISTRY_TABLE } from '../../functions/core/registry/table.ts';
import { AGENT_ENVIRONMENT } from '../../functions/core/sdk/environment.ts';
import { EVENTS_TABLE } from '../../functions/core/streaming/table.ts';
import { MobiusStack } from '../../lib/mobius-stack.ts';
import { aslErrors } from '../../statemachines/validate.ts';

/**
 * Template tests on the example stack, synthesised without bundling (bundling runs for real in
 * synth.test.ts), with cdk-nag's AwsSolutions checks as a validation plugin.
 */
let template: Template;
let json: Record<string, { Type: string; Properties: Record<string, unknown> }>;
let outdir: string;
let stack: MobiusStack;

type Statement = { Action: string | string[]; Resource: unknown };

beforeAll(async () => {
  outdir = mkdtempSync(join(tmpdir(), 'mobius-cdk-'));
  const app = new App({ outdir, context: { 'aws:cdk:bundling-stacks': [] } });
  stack = await MobiusStack.create(app, 'MobiusTest', {
    ...exampleStackProps(),
    env: { account: '123456789012', region: 'eu-west-1' },
  });
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  app.synth(); // throws when cdk-nag reports an unacknowledged error
  template = Template.fromStack(stack);
  json = template.toJSON().Resources;
}, 120_000);

const resources = (type: string) => Object.entries(json).filter(([, r]) => r.Type === type);

/** A resolved value as text: `<Logical>` for a Ref or GetAtt, joins joined. */
function render(value: unknown): string {
  if (typeof value === 'string') return value;
  const intrinsic = (value ?? {}) as Record<string, unknown>;
  if (typeof intrinsic.Ref === 'string') return `<${intrinsic.Ref.replace(/[^A-Za-z0-9]/g, '')}>`;
  const join = intrinsic['Fn::Join'];
  if (Array.isArray(join)) return (join[1] as unknown[]).map(render).join(String(join[0]));
  return JSON.stringify(value);
}

describe('the CDK stack', () => {
  it('passes cdk-nag AwsSolutions with no unacknowledged finding, warnings included', () => {
    const report = JSON.parse(readFileSync(join(outdir, 'validation-report.json'), 'utf8')) as {
      pluginReports: { violations: unknown[] }[];
    };
    expect(report.pluginReports.flatMap((r) => r.violations)).toEqual([]);
  });

  it('every acknowledgement gives a reason', () => {
    const acknowledgements = stack.node
      .findAll()
      .flatMap((c) =>
        c.node.metadata.filter((m) => m.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY),
      )
      .flatMap((m) =>
        Object.entries(m.data as Record<string, string>).map(([id, reason]) => ({ id, reason })),
      );
    expect(acknowledgements.length).toBeGreaterThan(10);
    for (const { id, reason } of acknowledgements) expect(reason.length, id).toBeGreaterThan(30);
  });

  it('keeps the registry on-demand, encrypted, recoverable, with TTL on expiresAt and the byType index', () => {
    template.hasResourceProperties('AWS::DynamoDB::Table', {
      KeySchema: [
        { AttributeName: 'pk', KeyType: 'HASH' },
        { AttributeName: 'sk', KeyType: 'RANGE' },
      ],
      BillingMode: 'PAY_PER_REQUEST',
      TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      SSESpecification: { SSEEnabled: true },
      GlobalSecondaryIndexes: [Match.objectLike({ IndexName: 'byType' })],
      // The same view type the emulator bootstrap gives the table (create-table.ts).
      StreamSpecification: { StreamViewType: REGISTRY_TABLE.streamViewType },
    });
  });

  it('gives every agent queue a dead-letter queue, and every queue encryption and TLS', () => {
    const queues = resources('AWS::SQS::Queue');
    const deadLetters = queues.filter(([, q]) => String(q.Properties.QueueName).includes('-dlq'));
    const agentQueues = queues.filter(([, q]) => !String(q.Properties.QueueName).includes('-dlq'));
    expect(agentQueues).toHaveLength(EXAMPLE_AGENTS.length);
    // One per agent, and the bus's for events its rules could not deliver.
    expect(deadLetters).toHaveLength(EXAMPLE_AGENTS.length + 1);
    for (const [, queue] of agentQueues) {
      expect(queue.Properties.RedrivePolicy).toMatchObject({ maxReceiveCount: 5 });
    }
    for (const [, queue] of queues) expect(queue.Properties.SqsManagedSseEnabled).toBe(true);
    expect(resources('AWS::SQS::QueuePolicy').length).toBeGreaterThanOrEqual(queues.length);
  });

  it('archives the message bus and delivers broadcasts to every agent through a rule', () => {
    template.resourceCountIs('AWS::Events::EventBus', 1);
    template.hasResourceProperties('AWS::Events::Archive', {
      EventPattern: { source: ['mobius'] },
    });
    const rules = resources('AWS::Events::Rule').filter(([, r]) =>
      String(r.Properties.Name ?? '').endsWith('-broadcast'),
    );
    expect(rules).toHaveLength(EXAMPLE_AGENTS.length);
    expect(rules[0]?.[1].Properties.EventPattern).toMatchObject({
      'detail-type': ['mobius.broadcast'],
    });
  });

  it('runs every function on nodejs22.x, arm64, with partial batch failures for agent queues', () => {
    for (const [, fn] of resources('AWS::Lambda::Function')) {
      if (String(fn.Properties.Description ?? '').includes('AWS CDK resource provider framework'))
        continue;
      expect(fn.Properties.Runtime).toBe('nodejs22.x');
      expect(fn.Properties.Architectures).toEqual(['arm64']);
    }
    const mappings = resources('AWS::Lambda::EventSourceMapping');
    expect(
      mappings.filter(([, m]) => JSON.stringify(m.Properties).includes('ReportBatchItemFailures')),
    ).toHaveLength(mappings.length);
  });

  it('deploys both Express and Standard state machines, logged and traced', () => {
    const machines = resources('AWS::StepFunctions::StateMachine');
    const types = new Set(machines.map(([, m]) => m.Properties.StateMachineType));
    expect(types).toEqual(new Set(['EXPRESS', 'STANDARD']));
    for (const [, machine] of machines) {
      expect(machine.Properties.TracingConfiguration).toEqual({ Enabled: true });
      expect(machine.Properties.LoggingConfiguration).toMatchObject({ Level: 'ALL' });
      expect(String(machine.Properties.StateMachineName)).toMatch(
        new RegExp(`^${stack.namePrefix}-[a-z-]+-[0-9a-f]{16}$`),
      );
    }
    template.hasResourceProperties('AWS::Logs::LogGroup', {
      LogGroupName: Match.stringLikeRegexp('^/aws/vendedlogs/states/'),
    });
  });

  it('every state machine definition in the template passes asl-validator', () => {
    const machines = resources('AWS::StepFunctions::StateMachine');
    expect(machines.length).toBeGreaterThan(0);
    for (const [, machine] of machines) {
      const definition = JSON.parse(String(machine.Properties.DefinitionString));
      expect(aslErrors(definition)).toEqual([]);
    }
  });

  it('feeds standard coordinations’ outcomes from Step Functions status changes to the metrics', () => {
    const rules = resources('AWS::Events::Rule').filter(([, r]) =>
      String(JSON.stringify(r.Properties.EventPattern)).includes('aws.states'),
    );
    expect(rules).toHaveLength(1);
    const pattern = JSON.stringify(rules[0]?.[1].Properties.EventPattern);
    expect(pattern).toContain('Step Functions Execution Status Change');
    expect(pattern).toContain(`:stateMachine:${stack.namePrefix}-`);
    expect(JSON.stringify(rules[0]?.[1].Properties.Targets)).toContain(
      stack.resolve(stack.engine.outcomes.functionArn)['Fn::GetAtt'][0],
    );
  });

  it('outputs the API URL, table, bus and dashboard names the README and the LocalStack suite use', () => {
    const outputs = template.toJSON().Outputs as Record<string, unknown>;
    for (const name of ['ApiUrl', 'RegistryTableName', 'EventBusName', 'DashboardName'])
      expect(outputs[name], name).toBeDefined();
  });

  it('outputs managed policies for invokers, agents and operators, scoped by method and path', () => {
    const outputs = template.toJSON().Outputs as Record<string, { Value: { Ref: string } }>;
    const policyOf = (output: string) => {
      const logicalId = outputs[output]?.Value.Ref ?? '';
      const policy = json[logicalId];
      expect(policy?.Type, output).toBe('AWS::IAM::ManagedPolicy');
      const document = policy?.Properties.PolicyDocument as
        | { Statement: (Statement & { Effect: string })[] }
        | undefined;
      const statements = document?.Statement ?? [];
      for (const statement of statements) expect(statement.Action).toBe('execute-api:Invoke');
      // `arn:<partition>:execute-api:<region>:<account>:<api>/<stage>/<METHOD>/<path>`, the
      // method and path rendered readable.
      const routes = (effect: string) =>
        statements
          .filter((statement) => statement.Effect === effect)
          .flatMap((statement) => [statement.Resource].flat())
          .map((r) => render(r).replace(/^.*:execute-api:eu-west-1:123456789012:<\w+>\/v1/, ''))
          .sort();
      denied.set(output, routes('Deny'));
      return routes('Allow');
    };
    const denied = new Map<string, string[]>();
    const served = (routes: string[]) =>
      routes
        .filter((r) => ROUTES.some((route) => `${route.method} ${route.path}` === r))
        .map((r) =>
          r
            .replace(' ', '')
            .replace(/\{[^}]+\}/g, '*')
            .replace(/^/, '/'),
        )
        .sort();
    expect(policyOf('InvokerPolicyArn')).toEqual(
      served([
        'GET /agents',
        'GET /agents/{id}',
        'GET /agents/{id}/health',
        'POST /discover',
        'GET /health',
        'POST /coordinations',
        'GET /coordinations',
        'GET /coordinations/{id}',
        'GET /coordinations/{id}/events',
        'GET /a2a/{agentId}/.well-known/agent-card.json',
        'POST /a2a/{agentId}',
      ]),
    );
    expect(policyOf('InvokerPolicyArn')).toContain('/POST/coordinations');
    expect(policyOf('AgentPolicyArn')).toEqual(
      served([
        'GET /agents',
        'GET /agents/{id}',
        'GET /agents/{id}/health',
        'POST /discover',
        'GET /health',
        'POST /agents',
        'DELETE /agents/{id}',
        'POST /agents/{id}/heartbeat',
        'POST /messages',
        'POST /broadcasts',
      ]),
    );
    expect(policyOf('AgentPolicyArn')).not.toContain('/POST/coordinations');
    expect(policyOf('OperatorPolicyArn')).toEqual(['/*/*']);
    expect(denied.get('OperatorPolicyArn')).toEqual([]);
    // Fails closed: every served route a role is not given is denied outright, since a "*" in
    // an allowed resource (GET /agents/*) also matches deeper paths.
    const all = served(ROUTES.map((route) => `${route.method} ${route.path}`));
    for (const output of ['InvokerPolicyArn', 'AgentPolicyArn']) {
      const allowed = policyOf(output);
      expect(denied.get(output)).toEqual(all.filter((route) => !allowed.includes(route)));
    }
    expect(denied.get('InvokerPolicyArn')).toContain('/DELETE/agents/*');
  });

  it('tells the API function its operators and the accounts agents may live in', () => {
    template.hasResourceProperties('AWS::Lambda::Function', {
      Description: 'Mobius Coordinator HTTP API',
      Environment: {
        Variables: Match.objectLike({
          MOBIUS_AGENT_ACCOUNTS: '123456789012',
          MOBIUS_OPERATORS: '',
        }),
      },
    });
  });

  it('gives every EventBridge rule target a standard dead-letter queue EventBridge may write to', () => {
    const rules = resources('AWS::Events::Rule');
    expect(rules.length).toBeGreaterThan(EXAMPLE_AGENTS.length);
    const queuePolicies = JSON.stringify(resources('AWS::SQS::QueuePolicy'));
    for (const [id, rule] of rules) {
      const targets = rule.Properties.Targets as {
        DeadLetterConfig?: { Arn: { 'Fn::GetAtt': [string, string] } };
      }[];
      for (const target of targets) {
        const queueId = target.DeadLetterConfig?.Arn['Fn::GetAtt'][0] ?? '';
        expect(json[queueId]?.Type, id).toBe('AWS::SQS::Queue');
        expect(json[queueId]?.Properties.FifoQueue, id).toBeUndefined();
        expect(queuePolicies, id).toContain(queueId);
      }
    }
    const alarms = JSON.stringify(resources('AWS::CloudWatch::Alarm'));
    expect(alarms).toContain('EventBridge could not deliver events');
  });

  it('gives every Lambda function, ours and any CDK helper, a log group with a retention', () => {
    const functions = resources('AWS::Lambda::Function');
    // Ours only: the agents (and the streaming functions of those that stream), the API, the
    // health monitor and janitor, the outcome recorder and the card registration — no CDK
    // Provider framework or other singleton helper is left.
    expect(functions).toHaveLength(EXAMPLE_AGENTS.length + STREAMING_AGENTS.size + 5);
    for (const [id, fn] of functions) {
      const { LogGroup } = fn.Properties.LoggingConfig as { LogGroup?: { Ref: string } };
      const group = json[LogGroup?.Ref ?? ''];
      expect(group?.Type, id).toBe('AWS::Logs::LogGroup');
      expect(group?.Properties.RetentionInDays, id).toEqual(expect.any(Number));
    }
  });

  it('authorises every API route with IAM', () => {
    const methods = resources('AWS::ApiGateway::Method').filter(
      ([, m]) => m.Properties.HttpMethod !== 'OPTIONS',
    );
    expect(methods).toHaveLength(ROUTES.length);
    for (const [, method] of methods) expect(method.Properties.AuthorizationType).toBe('AWS_IAM');
  });

  it('has the dashboard and the alarms', () => {
    template.resourceCountIs('AWS::CloudWatch::Dashboard', 1);
    const alarms = resources('AWS::CloudWatch::Alarm').map(([, a]) =>
      JSON.stringify(a.Properties.AlarmDescription),
    );
    expect(alarms.filter((d) => d.includes('dead-lettered'))).toHaveLength(EXAMPLE_AGENTS.length);
    expect(alarms.filter((d) => d.includes('of its invocations'))).toHaveLength(
      EXAMPLE_AGENTS.length,
    );
    expect(alarms.some((d) => d.includes('coordinations failed'))).toBe(true);
    expect(alarms.filter((d) => d.includes('is being throttled'))).toHaveLength(
      resources('AWS::StepFunctions::StateMachine').length,
    );
    expect(alarms.some((d) => d.includes('Step Functions refused coordination starts'))).toBe(true);
    expect(alarms.some((d) => d.includes('Admission control shed coordinations'))).toBe(true);
  });

  it('alarms on shed coordinations as on refused starts: the API’s EMF sum over 5 minutes, from 1', () => {
    const alarmOn = (metricName: string) =>
      resources('AWS::CloudWatch::Alarm').find(
        ([, a]) => a.Properties.MetricName === metricName,
      )?.[1].Properties;
    const shed = alarmOn('CoordinationsShed');
    const {
      AlarmDescription: _,
      MetricName: __,
      ...rest
    } = alarmOn('CoordinationsThrottled') ?? {};
    expect(rest).toMatchObject({
      Namespace: 'Mobius/MobiusTest',
      Dimensions: [{ Name: 'service', Value: 'mobius-api' }],
      Statistic: 'Sum',
      Period: 300,
      Threshold: 1,
    });
    expect(shed).toMatchObject({ ...rest, MetricName: 'CoordinationsShed' });
  });

  it('reserves no concurrency for the API by default, and throttles its stage at 100/s, bursts of 200', () => {
    template.hasResourceProperties('AWS::Lambda::Function', {
      Description: 'Mobius Coordinator HTTP API',
      ReservedConcurrentExecutions: Match.absent(),
    });
    template.hasResourceProperties('AWS::ApiGateway::Stage', {
      StageName: 'v1',
      MethodSettings: Match.arrayWith([
        Match.objectLike({
          HttpMethod: '*',
          ResourcePath: '/*',
          ThrottlingRateLimit: 100,
          ThrottlingBurstLimit: 200,
        }),
      ]),
    });
  });

  it('answers API Gateway’s throttling with the API’s 503 CAPACITY_EXCEEDED and Retry-After', () => {
    const responses = resources('AWS::ApiGateway::GatewayResponse');
    expect(responses).toHaveLength(1);
    const [, response] = responses[0] ?? [];
    expect(response?.Properties).toMatchObject({
      ResponseType: 'THROTTLED',
      StatusCode: '503',
      // No CORS origins in this stack: no CORS headers.
      ResponseParameters: { 'gatewayresponse.header.Retry-After': "'1'" },
    });
    const templates = response?.Properties.ResponseTemplates as Record<string, string>;
    expect(Object.keys(templates)).toEqual(['application/json']);
    expect(JSON.parse(templates['application/json'] ?? '')).toEqual({
      error: {
        code: 'CAPACITY_EXCEEDED',
        message: 'API Gateway is throttling requests to this API; retry after 1 s.',
        details: { source: 'api-gateway' },
      },
    });
  });

  it('shows on the dashboard every figure the issue lists, machines created at run time included', () => {
    const body = JSON.stringify(resources('AWS::CloudWatch::Dashboard')[0]?.[1].Properties);
    for (const figure of [
      'CoordinationsStarted',
      'CoordinationsSucceeded',
      'CoordinationsFailed',
      'CoordinationDuration',
      'CoordinationOverhead',
      'p50',
      'p99',
      'Invocations',
      'Errors',
      'Throttles',
      'ApproximateNumberOfMessagesVisible',
      'ApproximateAgeOfOldestMessage',
      'AgentsHealthy',
      'CoordinationsThrottled',
      'CoordinationsShed',
    ])
      expect(body, figure).toContain(figure);
    // A search over the engine's machine-name prefix, which finds machines created at run time.
    expect(body).toMatch(
      new RegExp(
        `SEARCH\\('\\{AWS/States,StateMachineArn\\} MetricName=[^']*ExecutionThrottled[^']*stateMachine:${stack.engine.machineNamePrefix}-`,
      ),
    );
  });

  it('lets the health monitor read every agent queue’s and dead-letter queue’s depth, and nothing more of them', () => {
    const statements = resources('AWS::IAM::Policy').flatMap(([, policy]) =>
      (policy.Properties.PolicyDocument as { Statement: Statement[] }).Statement.map(
        (statement) => ({
          role: JSON.stringify(policy.Properties.Roles),
          statement,
        }),
      ),
    );
    const reads = statements.filter(
      ({ statement }) => statement.Action === 'sqs:GetQueueAttributes',
    );
    // One role (the monitor's), two queues per agent.
    expect(new Set(reads.map((r) => r.role)).size).toBe(1);
    const queues = new Set(reads.map(({ statement }) => JSON.stringify(statement.Resource)));
    expect(queues.size).toBe(2 * EXAMPLE_AGENTS.length);
  });

  it('registers every agent’s card at deploy time', () => {
    template.resourceCountIs('Custom::MobiusAgentCard', EXAMPLE_AGENTS.length);
  });

  it('grants no wildcard IAM actions, and no wildcard resources on data', () => {
    const statements = resources('AWS::IAM::Policy').flatMap(
      ([, p]) => (p.Properties.PolicyDocument as { Statement: Statement[] }).Statement,
    );
    for (const statement of statements) {
      const actions = [statement.Action].flat();
      for (const action of actions) expect(action, JSON.stringify(statement)).not.toMatch(/\*/);
      // dynamodb:ListStreams (stream event sources) has no resource-level permissions.
      const dataActions = actions.filter(
        (a) => /^(dynamodb|sqs|events):/.test(a) && a !== 'dynamodb:ListStreams',
      );
      if (dataActions.length > 0)
        expect(JSON.stringify(statement.Resource), JSON.stringify(statement)).not.toMatch(
          /"\*"|\/\*/,
        );
    }
  });

  it('passes cfn-lint without errors', () => {
    const file = join(outdir, 'cfn-lint.template.json');
    writeFileSync(file, JSON.stringify(template.toJSON()));
    const lint = spawnSync(
      join(import.meta.dirname, '..', '..', '.venv', 'bin', 'cfn-lint'),
      [file],
      { encoding: 'utf8' },
    );
    expect(lint.error).toBeUndefined();
    expect(lint.status).not.toBeNull();
    // cfn-lint's exit code is a bit field: 2 = errors, 4 = warnings, 8 = informational. CDK's own
    // explicit DependsOn next to GetAtt (W3005) is the only warning expected.
    expect((lint.status ?? 2) & 2, lint.stdout).toBe(0);
    expect(
      lint.stdout
        .split('\n')
        .filter((line) => /^[EW]\d{4}/.test(line) && !line.startsWith('W3005')),
    ).toEqual([]);
  });
});

describe('streaming on the deployed stack', () => {
  type Fn = { Type: string; Properties: Record<string, unknown> };
  const functions = () => resources('AWS::Lambda::Function') as [string, Fn][];
  const describedAs = (prefix: string) =>
    functions().filter(([, fn]) => String(fn.Properties.Description ?? '').startsWith(prefix));
  const variables = (fn: Fn) =>
    ((fn.Properties.Environment as { Variables?: Record<string, unknown> } | undefined)
      ?.Variables ?? {}) as Record<string, unknown>;
  const eventsTableId = () => {
    const tables = resources('AWS::DynamoDB::Table').filter(([, t]) =>
      JSON.stringify(t.Properties.KeySchema).includes(EVENTS_TABLE.partitionKey),
    );
    expect(tables).toHaveLength(1);
    return tables[0]?.[0] ?? '';
  };
  /** The actions each role's policies allow on `resourceId` (a logical id), by role logical id. */
  const actionsOn = (resourceId: string) => {
    const byRole = new Map<string, Set<string>>();
    for (const [, policy] of resources('AWS::IAM::Policy')) {
      const roles = (policy.Properties.Roles as { Ref: string }[]).map((r) => r.Ref);
      for (const statement of (policy.Properties.PolicyDocument as { Statement: Statement[] })
        .Statement) {
        if (!JSON.stringify(statement.Resource).includes(`"${resourceId}"`)) continue;
        for (const role of roles) {
          const actions = byRole.get(role) ?? new Set<string>();
          for (const action of [statement.Action].flat()) actions.add(action);
          byRole.set(role, actions);
        }
      }
    }
    return byRole;
  };
  const roleOf = (fn: Fn) =>
    (fn.Properties.Role as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0];

  it('streams every API method: STREAM transfer, the response-streaming invocation, 15 minutes', () => {
    const methods = resources('AWS::ApiGateway::Method').filter(
      ([, m]) => m.Properties.HttpMethod !== 'OPTIONS',
    );
    expect(methods).toHaveLength(ROUTES.length);
    for (const [id, method] of methods) {
      const integration = method.Properties.Integration as Record<string, unknown>;
      expect(integration.Type, id).toBe('AWS_PROXY');
      expect(integration.ResponseTransferMode, id).toBe('STREAM');
      expect(integration.TimeoutInMillis, id).toBe(900_000);
      const uri = render(integration.Uri);
      expect(uri, id).toContain(':lambda:path/2021-11-15/functions/');
      expect(uri, id).toMatch(/\/response-streaming-invocations$/);
    }
  });

  it('gives the API function the 15 minutes a watched coordination may stream', () => {
    template.hasResourceProperties('AWS::Lambda::Function', {
      Description: 'Mobius Coordinator HTTP API',
      Timeout: 900,
    });
  });

  it('keeps the coordination event log on-demand, with TTL on expiresAt, retained like the registry', () => {
    const id = eventsTableId();
    const table = template.toJSON().Resources[id] as {
      Properties: Record<string, unknown>;
      DeletionPolicy: string;
    };
    expect(table.Properties).toMatchObject({
      KeySchema: [
        { AttributeName: EVENTS_TABLE.partitionKey, KeyType: 'HASH' },
        { AttributeName: EVENTS_TABLE.sortKey, KeyType: 'RANGE' },
      ],
      AttributeDefinitions: expect.arrayContaining([
        { AttributeName: EVENTS_TABLE.partitionKey, AttributeType: 'S' },
        { AttributeName: EVENTS_TABLE.sortKey, AttributeType: 'N' },
      ]),
      BillingMode: 'PAY_PER_REQUEST',
      TimeToLiveSpecification: { AttributeName: EVENTS_TABLE.ttlAttribute, Enabled: true },
      SSESpecification: { SSEEnabled: true },
    });
    expect(table.DeletionPolicy).toBe('Retain');
    const outputs = template.toJSON().Outputs as Record<string, { Value: unknown }>;
    expect(outputs.EventsTableName?.Value).toEqual({ Ref: id });
  });

  it('tells every agent, the API and the outcome recorder where the log is, and lets each do no more than it needs', () => {
    const id = eventsTableId();
    const agents = describedAs('Mobius agent ');
    expect(agents).toHaveLength(EXAMPLE_AGENTS.length + STREAMING_AGENTS.size);
    const [[, api] = []] = describedAs('Mobius Coordinator HTTP API');
    const [[, outcomes] = []] = describedAs('Records the outcomes of standard');
    for (const [, fn] of [...agents, ['api', api], ['outcomes', outcomes]] as [string, Fn][])
      expect(variables(fn)[AGENT_ENVIRONMENT.eventsTable]).toEqual({ Ref: id });
    const granted = actionsOn(id);
    // GetItem: a retried PutItem's check (every writer); the head's end of log (the API).
    for (const [, agent] of agents)
      expect([...(granted.get(roleOf(agent)) ?? [])].sort()).toEqual([
        'dynamodb:GetItem',
        'dynamodb:PutItem',
        'dynamodb:UpdateItem',
      ]);
    expect([...(granted.get(roleOf(api as Fn)) ?? [])].sort()).toEqual([
      'dynamodb:GetItem',
      'dynamodb:PutItem',
      'dynamodb:Query',
      'dynamodb:UpdateItem',
    ]);
    expect([...(granted.get(roleOf(outcomes as Fn)) ?? [])].sort()).toEqual([
      'dynamodb:GetItem',
      'dynamodb:PutItem',
      'dynamodb:UpdateItem',
    ]);
    // Agents, the API, the outcome recorder: nobody else touches the log.
    const roles = new Set([
      ...agents.map(([, a]) => roleOf(a)),
      roleOf(api as Fn),
      roleOf(outcomes as Fn),
    ]);
    expect([...granted.keys()].filter((role) => !roles.has(role))).toEqual([]);
  });

  it('lets the outcome recorder read a finished standard run: what its event left out, how far a failed one got', () => {
    const [[, outcomes] = []] = describedAs('Records the outcomes of standard');
    const role = roleOf(outcomes as Fn);
    const statements = resources('AWS::IAM::Policy')
      .filter(([, p]) => JSON.stringify(p.Properties.Roles).includes(role))
      .flatMap(([, p]) => (p.Properties.PolicyDocument as { Statement: Statement[] }).Statement)
      .filter((s) => [s.Action].flat().some((a) => a.startsWith('states:')));
    expect(statements).toHaveLength(1);
    expect([statements[0]?.Action].flat().sort()).toEqual([
      'states:DescribeExecution',
      'states:GetExecutionHistory',
    ]);
    expect(render(statements[0]?.Resource)).toContain(`:execution:${stack.namePrefix}-*:*`);
  });

  it('deploys a response-streaming function beside each streaming agent: same code, role and handler, marked as the streaming entry, named in its card', () => {
    expect(STREAMING_AGENTS.size).toBeGreaterThan(0);
    for (const agentId of STREAMING_AGENTS) {
      const [[mainId, main] = []] = describedAs(`Mobius agent ${agentId}:`);
      const [[streamId, streaming] = []] = describedAs(
        `Mobius agent ${agentId} (response streaming):`,
      );
      expect(main?.Properties.Handler).toBe('index.handler');
      // Lambda's runtime resolves handlers by export name: the same `handler`, made the SDK's
      // streaming entry by MOBIUS_AGENT_ENTRY.
      expect(streaming?.Properties.Handler).toBe('index.handler');
      expect(streaming?.Properties.Code).toEqual(main?.Properties.Code);
      expect(streaming?.Properties.Role).toEqual(main?.Properties.Role);
      for (const setting of ['Runtime', 'Architectures', 'MemorySize', 'Timeout', 'TracingConfig'])
        expect(streaming?.Properties[setting], setting).toEqual(main?.Properties[setting]);
      const { [AGENT_ENVIRONMENT.streamArn]: streamArn, ...rest } = variables(main as Fn);
      expect(streamArn).toEqual({ 'Fn::GetAtt': [streamId, 'Arn'] });
      const { [AGENT_ENVIRONMENT.entry]: entry, ...streamingRest } = variables(streaming as Fn);
      expect(entry).toBe('streaming');
      expect(variables(main as Fn)[AGENT_ENVIRONMENT.entry]).toBeUndefined();
      expect(rest).toEqual(streamingRest);
      // The card the stack registers names it; the API may invoke it (InvokeWithResponseStream
      // is authorised as lambda:InvokeFunction).
      const card = resources('Custom::MobiusAgentCard')
        .map(([, c]) => JSON.stringify(c.Properties.Card))
        .find((c) => c.includes(`\\"agentId\\":\\"${agentId}\\"`));
      expect(card).toContain(streamId);
      const [[, api] = []] = describedAs('Mobius Coordinator HTTP API');
      expect([...(actionsOn(streamId as string).get(roleOf(api as Fn)) ?? [])]).toEqual([
        'lambda:InvokeFunction',
      ]);
      expect(mainId).not.toBe(streamId);
    }
    // Agents that do not stream have no second function and no streamArn.
    const plain = describedAs('Mobius agent fact-finder');
    expect(plain).toHaveLength(1);
    expect(variables(plain[0]?.[1] as Fn)[AGENT_ENVIRONMENT.streamArn]).toBeUndefined();
  });
});

describe('two deployments in one account and region', () => {
  let dev: Template;
  let prod: Template;
  let report: { pluginReports: { violations: unknown[] }[] };

  beforeAll(async () => {
    const out = mkdtempSync(join(tmpdir(), 'mobius-cdk-two-'));
    const app = new App({ outdir: out, context: { 'aws:cdk:bundling-stacks': [] } });
    const env = { account: '123456789012', region: 'eu-west-1' };
    const devStack = await MobiusStack.create(app, 'MobiusDev', {
      ...exampleStackProps({ bedrockModelId: 'eu.anthropic.claude-3-haiku-20240307-v1:0' }),
      env,
    });
    const prodStack = await MobiusStack.create(app, 'MobiusProd', { ...exampleStackProps(), env });
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
    app.synth();
    dev = Template.fromStack(devStack);
    prod = Template.fromStack(prodStack);
    report = JSON.parse(readFileSync(join(out, 'validation-report.json'), 'utf8'));
  }, 120_000);

  /** Every fixed name of `type` in `template` (tokens left out). */
  const names = (template: Template, type: string, property: string) =>
    Object.values(
      template.toJSON().Resources as Record<
        string,
        { Type: string; Properties: Record<string, unknown> }
      >,
    )
      .filter((r) => r.Type === type)
      .map((r) => JSON.stringify(r.Properties[property]));

  it('never give two resources the same name', () => {
    for (const [type, property] of [
      ['AWS::StepFunctions::StateMachine', 'StateMachineName'],
      ['AWS::SQS::Queue', 'QueueName'],
      ['AWS::Events::EventBus', 'Name'],
      ['AWS::CloudWatch::Dashboard', 'DashboardName'],
    ] as const) {
      const ours = names(dev, type, property);
      expect(ours.length, type).toBeGreaterThan(0);
      const theirs = new Set(names(prod, type, property));
      expect(
        ours.filter((name) => theirs.has(name)),
        type,
      ).toEqual([]);
    }
  });

  it('grant each API only its own machines, and publish metrics to their own namespace', () => {
    const devMachines = names(dev, 'AWS::StepFunctions::StateMachine', 'StateMachineName');
    const prefix = JSON.parse(devMachines[0] ?? '""')
      .split('-')
      .slice(0, 2)
      .join('-');
    const policies = JSON.stringify(dev.findResources('AWS::IAM::Policy'));
    expect(policies).toContain(`:stateMachine:${prefix}-*`);
    expect(policies).not.toContain(':stateMachine:mobius-*');
    const environments = JSON.stringify(dev.findResources('AWS::Lambda::Function'));
    expect(environments).toContain('"POWERTOOLS_METRICS_NAMESPACE":"Mobius/MobiusDev"');
    expect(JSON.stringify(dev.findResources('AWS::CloudWatch::Dashboard'))).toContain(
      'Mobius/MobiusDev',
    );
  });

  it('lets the optional Bedrock writer invoke its model, and nothing else, with cdk-nag clean', () => {
    const statements = Object.values(
      dev.findResources('AWS::IAM::Policy') as Record<
        string,
        { Properties: { PolicyDocument: { Statement: Statement[] } } }
      >,
    ).flatMap((p) => p.Properties.PolicyDocument.Statement);
    const bedrock = statements.filter((s) =>
      [s.Action].flat().some((a) => a.startsWith('bedrock:')),
    );
    expect(bedrock).toHaveLength(1);
    expect(bedrock[0]?.Action).toEqual([
      'bedrock:InvokeModel',
      'bedrock:InvokeModelWithResponseStream',
    ]);
    expect(JSON.stringify(bedrock[0]?.Resource)).toContain(
      ':bedrock:*::foundation-model/anthropic.claude-3-haiku-20240307-v1:0',
    );
    expect(JSON.stringify(bedrock[0]?.Resource)).toContain(
      ':inference-profile/eu.anthropic.claude-3-haiku-20240307-v1:0',
    );
    expect(report.pluginReports.flatMap((r) => r.violations)).toEqual([]);
  });
});

describe('an agent with its own settings and subscriptions, in a stack that declares no workflow', () => {
  const subscriptions = [
    { eventTypes: ['corpus.updated'] },
    { eventTypes: ['document.indexed', 'document.removed'], filter: { payload: { lang: ['en'] } } },
  ];
  let subscribed: Template;
  let nag: { pluginReports: { violations: unknown[] }[] };

  beforeAll(async () => {
    const out = mkdtempSync(join(tmpdir(), 'mobius-cdk-agent-'));
    const app = new App({ outdir: out, context: { 'aws:cdk:bundling-stacks': [] } });
    const stack = await MobiusStack.create(app, 'MobiusAgentSettings', {
      env: { account: '123456789012', region: 'eu-west-1' },
      corsOrigins: ['https://app.example.com'],
      agents: [
        {
          definition: { ...factFinder, subscriptions },
          entry: 'examples/agents/fact-finder.ts',
          ordered: true,
          memorySize: 1024,
          timeout: Duration.seconds(60),
          batchSize: 5,
          maxReceiveCount: 3,
          receiveBroadcasts: false,
        },
      ],
    });
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
    app.synth();
    subscribed = Template.fromStack(stack);
    nag = JSON.parse(readFileSync(join(out, 'validation-report.json'), 'utf8'));
  }, 120_000);

  it('deploys one rule per declared subscription, with the pattern the router and the embedded runtime use', () => {
    const rules = Object.values(
      subscribed.findResources('AWS::Events::Rule') as Record<
        string,
        { Properties: { Name?: string; EventPattern: unknown; Targets: unknown[] } }
      >,
    ).filter((r) => String(r.Properties.Name).startsWith(ruleNamePrefix('fact-finder')));
    expect(rules.map((r) => r.Properties.Name).sort()).toEqual([
      ruleName('fact-finder', 'sub1'),
      ruleName('fact-finder', 'sub2'),
    ]);
    const byName = new Map(rules.map((r) => [r.Properties.Name, r.Properties]));
    expect(byName.get(ruleName('fact-finder', 'sub2'))?.EventPattern).toEqual(
      subscriptionPattern(['document.indexed', 'document.removed'], ['fact-lookup'], {
        payload: { lang: ['en'] },
      }),
    );
    // FIFO target: a message group per rule.
    expect(byName.get(ruleName('fact-finder', 'sub1'))?.Targets).toEqual([
      expect.objectContaining({ SqsParameters: { MessageGroupId: 'mobius-sub1' } }),
    ]);
  });

  it('admits the agent’s own rules, and rules the router adds at run time, to its queue', () => {
    const policies = JSON.stringify(subscribed.findResources('AWS::SQS::QueuePolicy'));
    expect(policies).toContain('AgentRulesOnTheMobiusBus');
    expect(policies).toContain(`/${ruleNamePrefix('fact-finder')}*`);
  });

  it('applies the agent settings: FIFO with content-based deduplication, redrive, memory, timeout, batch', () => {
    subscribed.hasResourceProperties('AWS::SQS::Queue', {
      FifoQueue: true,
      ContentBasedDeduplication: true,
      VisibilityTimeout: 360,
      RedrivePolicy: Match.objectLike({ maxReceiveCount: 3 }),
    });
    subscribed.hasResourceProperties('AWS::Lambda::Function', {
      Description: Match.stringLikeRegexp('^Mobius agent fact-finder'),
      MemorySize: 1024,
      Timeout: 60,
    });
    subscribed.hasResourceProperties('AWS::Lambda::EventSourceMapping', { BatchSize: 5 });
    const broadcastRules = Object.values(
      subscribed.findResources('AWS::Events::Rule') as Record<
        string,
        { Properties: { Name?: string } }
      >,
    ).filter((r) => String(r.Properties.Name).endsWith('-broadcast'));
    expect(broadcastRules).toEqual([]);
  });

  it('lets the engine log and trace machines it creates at run time, and the agent answer task tokens', () => {
    subscribed.resourceCountIs('AWS::StepFunctions::StateMachine', 0);
    const statements = Object.values(
      subscribed.findResources('AWS::IAM::Policy') as Record<
        string,
        { Properties: { Roles?: { Ref: string }[]; PolicyDocument: { Statement: Statement[] } } }
      >,
    );
    const actionsOf = (role: string) =>
      statements
        .filter((p) => p.Properties.Roles?.some((r) => r.Ref.startsWith(role)))
        .flatMap((p) => p.Properties.PolicyDocument.Statement.flatMap((s) => [s.Action].flat()));
    expect(actionsOf('MobiusEngineRole')).toEqual(
      expect.arrayContaining([
        'logs:CreateLogDelivery',
        'xray:PutTraceSegments',
        'lambda:InvokeFunction',
      ]),
    );
    expect(actionsOf('MobiusAgentfactfinder')).toEqual(
      expect.arrayContaining(['states:SendTaskSuccess', 'states:SendTaskFailure']),
    );
    expect(nag.pluginReports.flatMap((r) => r.violations)).toEqual([]);
  });

  it('answers CORS preflights for the configured origin without auth, and still signs every route', () => {
    const methods = Object.values(
      subscribed.findResources('AWS::ApiGateway::Method') as Record<
        string,
        { Properties: { HttpMethod: string; AuthorizationType: string; Integration?: unknown } }
      >,
    );
    const preflights = methods.filter((m) => m.Properties.HttpMethod === 'OPTIONS');
    const routes = methods.filter((m) => m.Properties.HttpMethod !== 'OPTIONS');
    expect(preflights.length).toBeGreaterThan(0);
    for (const preflight of preflights) {
      expect(preflight.Properties.AuthorizationType).toBe('NONE');
      expect(JSON.stringify(preflight.Properties.Integration)).toContain('https://app.example.com');
    }
    expect(routes.length).toBe(ROUTES.length);
    for (const route of routes) expect(route.Properties.AuthorizationType).toBe('AWS_IAM');
    subscribed.hasResourceProperties('AWS::Lambda::Function', {
      Environment: {
        Variables: Match.objectLike({ MOBIUS_CORS_ORIGINS: 'https://app.example.com' }),
      },
    });
  });

  it('lets a browser of the configured origin read the 503 API Gateway answers when it throttles', () => {
    subscribed.hasResourceProperties('AWS::ApiGateway::GatewayResponse', {
      ResponseType: 'THROTTLED',
      StatusCode: '503',
      ResponseParameters: {
        'gatewayresponse.header.Retry-After': "'1'",
        'gatewayresponse.header.Access-Control-Allow-Origin': "'https://app.example.com'",
        'gatewayresponse.header.Access-Control-Expose-Headers': "'Retry-After'",
      },
    });
  });

  it('refuses a bad subscription at synth, naming the field', async () => {
    const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
    await expect(
      MobiusStack.create(app, 'MobiusBadSubscription', {
        agents: [
          {
            definition: { ...factFinder, subscriptions: [{ eventTypes: ['not an event type'] }] },
            entry: 'examples/agents/fact-finder.ts',
          },
        ],
      }),
    ).rejects.toThrow(/subscriptions.*0\.eventTypes\.0.*dotted names/s);
  });
});
