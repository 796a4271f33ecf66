import { Duration, Lazy, Stack } from 'aws-cdk-lib';
import {
  AccessLogFormat,
  AuthorizationType,
  Cors,
  LambdaIntegration,
  LogGroupLogDestination,
  MethodLoggingLevel,
  RestApi,
} from 'aws-cdk-lib/aws-apigateway';
import type { IEventBus } from 'aws-cdk-lib/aws-events';
import type { IIdentity, IRole, IUser, ManagedPolicy } from 'aws-cdk-lib/aws-iam';
import type { Function as FunctionConstruct } from 'aws-cdk-lib/aws-lambda';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { ROUTES } from '../functions/api/app.ts';
import { API_ENVIRONMENT } from '../functions/api/environment.ts';
import type { IAgentTarget } from './agent-target.ts';
import { API_STAGE, roleManagedPolicy } from './api-access.ts';
import type { CoordinationEngine } from './coordination-engine.ts';
import { mobiusOwnFunction, statesArnPrefix } from './lambda-defaults.ts';
import { acknowledge, acknowledgeWildcard } from './nag.ts';
import type { RegistryTables } from './registry-table.ts';

export interface MobiusApiProps {
  readonly tables: RegistryTables;
  readonly bus: IEventBus;
  readonly engine: CoordinationEngine;
  /** Browser origins allowed to call the API. @default none (no CORS) */
  readonly corsOrigins?: readonly string[];
  /** Steady-state requests per second across the API. @default 100 */
  readonly throttlingRateLimit?: number;
  /**
   * IAM principals (role or user ARNs) the API treats as operators: they may update, heartbeat and
   * deregister any card and send as any agent. They also need the operator policy (or use
   * `grantOperator`, which does both). @default none
   */
  readonly operators?: readonly string[];
  /**
   * Accounts whose SQS queues and Lambda functions cards registered through the API may name,
   * besides the stack's own. @default only the stack's account
   */
  readonly allowedAgentAccounts?: readonly string[];
}

/**
 * The HTTP API of DESIGN.md on API Gateway (REST): every route authorised with IAM (SigV4), all
 * served by one function whose router is functions/api/app.ts — the table the embedded runtime
 * serves too. Access logs, execution logs for errors, X-Ray tracing, stage throttling.
 * Integrations time out at 29 s: long coordinations belong on the standard path (202 + poll).
 */
export class MobiusApi extends Construct {
  readonly api: RestApi;
  readonly function: FunctionConstruct;
  /** `execute-api:Invoke` to run and read coordinations and read the registry. */
  readonly invokerPolicy: ManagedPolicy;
  /** `execute-api:Invoke` to register and keep a card, and send messages and broadcasts. */
  readonly agentPolicy: ManagedPolicy;
  /** `execute-api:Invoke` on every route (the principal must be an operator too: grantOperator). */
  readonly operatorPolicy: ManagedPolicy;
  readonly #operators: string[];

  constructor(scope: Construct, id: string, props: MobiusApiProps) {
    super(scope, id);
    this.#operators = [...(props.operators ?? [])];
    const accounts = [Stack.of(this).account, ...(props.allowedAgentAccounts ?? [])];
    this.function = mobiusOwnFunction(this, 'Function', {
      entry: 'functions/api/index.ts',
      description: 'Mobius Coordinator HTTP API',
      timeout: Duration.seconds(29),
      memorySize: 1024,
      environment: {
        POWERTOOLS_SERVICE_NAME: 'mobius-api',
        [API_ENVIRONMENT.registryTable]: props.tables.registry.tableName,
        [API_ENVIRONMENT.eventBus]: props.bus.eventBusName,
        [API_ENVIRONMENT.stateMachineArnPrefix]: statesArnPrefix(this),
        [API_ENVIRONMENT.engineRoleArn]: props.engine.role.roleArn,
        [API_ENVIRONMENT.engineLogGroupArn]: props.engine.logGroup.logGroupArn,
        [API_ENVIRONMENT.machineNamePrefix]: props.engine.machineNamePrefix,
        [API_ENVIRONMENT.corsOrigins]: (props.corsOrigins ?? []).join(','),
        // Lazy: grantOperator may name operators after construction.
        [API_ENVIRONMENT.operators]: Lazy.string({ produce: () => this.#operators.join(',') }),
        [API_ENVIRONMENT.agentAccounts]: accounts.join(','),
      },
    });
    props.tables.grantRegistryReadWrite(this.function);
    props.bus.grantPutEventsTo(this.function);
    props.engine.grantRun(this.function);

    const accessLogs = new LogGroup(this, 'AccessLogs', { retention: RetentionDays.ONE_MONTH });
    this.api = new RestApi(this, 'Api', {
      restApiName: 'mobius-coordinator',
      description: 'Mobius Coordinator: agents, discovery, messages, coordinations',
      defaultMethodOptions: { authorizationType: AuthorizationType.IAM },
      cloudWatchRole: true,
      deployOptions: {
        stageName: API_STAGE,
        accessLogDestination: new LogGroupLogDestination(accessLogs),
        accessLogFormat: AccessLogFormat.jsonWithStandardFields(),
        loggingLevel: MethodLoggingLevel.ERROR,
        metricsEnabled: true,
        tracingEnabled: true,
        throttlingRateLimit: props.throttlingRateLimit ?? 100,
        throttlingBurstLimit: (props.throttlingRateLimit ?? 100) * 2,
      },
      ...(props.corsOrigins && props.corsOrigins.length > 0
        ? {
            defaultCorsPreflightOptions: {
              allowOrigins: [...props.corsOrigins],
              allowMethods: Cors.ALL_METHODS,
            },
          }
        : {}),
    });
    const integration = new LambdaIntegration(this.function);
    for (const route of ROUTES) {
      this.api.root.resourceForPath(route.path).addMethod(route.method, integration);
    }
    this.invokerPolicy = roleManagedPolicy(this, 'InvokerPolicy', this.api, 'invoker', ROUTES);
    this.agentPolicy = roleManagedPolicy(this, 'AgentPolicy', this.api, 'agent', ROUTES);
    this.operatorPolicy = roleManagedPolicy(this, 'OperatorPolicy', this.api, 'operator', ROUTES);
    acknowledge(
      this.api,
      'AwsSolutions-COG4',
      'The API is authorised with IAM (SigV4) by design; callers are AWS principals, not Cognito users.',
    );
    acknowledge(
      this.api,
      'AwsSolutions-APIG2',
      'Request bodies are validated in the handler with zod, which answers 400 with every bad field path.',
    );
    acknowledge(
      this.api,
      'AwsSolutions-APIG3',
      'AWS WAF is optional for an IAM-authorised API; attach a web ACL to the v1 stage where policy requires it.',
    );
    acknowledge(
      this.api,
      'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs]',
      'The account-level API Gateway logging role uses the AWS managed policy made for it.',
    );
  }

  /** Lets `identity` run and read coordinations and read the registry (the invoker policy). */
  grantInvoker(identity: IIdentity): void {
    identity.addManagedPolicy(this.invokerPolicy);
  }

  /** Lets `identity` register and keep its own cards and send messages (the agent policy). */
  grantAgent(identity: IIdentity): void {
    identity.addManagedPolicy(this.agentPolicy);
  }

  /** Makes `principal` an operator: the operator policy, and the API's list of operators. */
  grantOperator(principal: IRole | IUser): void {
    principal.addManagedPolicy(this.operatorPolicy);
    this.#operators.push('roleArn' in principal ? principal.roleArn : principal.userArn);
  }

  /** Message routing needs the API to send to agent queues and invoke agents synchronously. */
  addAgent(agent: IAgentTarget): void {
    agent.queue.grantSendMessages(this.function);
    agent.function.grantInvoke(this.function);
    acknowledgeWildcard(
      this.function,
      `${agent.function.functionArn}:*`,
      `Invoking agent ${agent.agentId} covers its versions and aliases.`,
    );
  }
}
