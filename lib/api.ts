import { Annotations, Duration, Lazy, Stack } from 'aws-cdk-lib';
import {
  AccessLogFormat,
  AuthorizationType,
  Cors,
  LambdaIntegration,
  LogGroupLogDestination,
  MethodLoggingLevel,
  ResponseTransferMode,
  ResponseType,
  RestApi,
} from 'aws-cdk-lib/aws-apigateway';
import type { IEventBus } from 'aws-cdk-lib/aws-events';
import {
  type IIdentity,
  type IRole,
  type IUser,
  type ManagedPolicy,
  PolicyStatement,
} from 'aws-cdk-lib/aws-iam';
import type { Function as FunctionConstruct } from 'aws-cdk-lib/aws-lambda';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { ROUTES } from '../functions/api/app.ts';
import { API_ENVIRONMENT } from '../functions/api/environment.ts';
import type { IAgentTarget } from './agent-target.ts';
import { API_STAGE, roleManagedPolicy } from './api-access.ts';
import type { CoordinationEngine } from './coordination-engine.ts';
import type { IEventLogTable } from './events-table.ts';
import { mobiusOwnFunction, statesArnPrefix } from './lambda-defaults.ts';
import { acknowledge, acknowledgeWildcard } from './nag.ts';
import type { RegistryTables } from './registry-table.ts';

/**
 * Context key: `BUFFERED` gives every method a buffered Lambda proxy integration instead of
 * `STREAM`. For LocalStack only (localstack/deploy.ts sets it): its API Gateway refuses the
 * response-streaming integration URI, and its host runtime (localstack/plugins) turns the API
 * function's streamed answer into the proxy result a buffered integration reads. On AWS, a
 * buffered integration would get the streamed bytes, not a proxy result: leave it unset.
 */
export const API_TRANSFER_MODE_CONTEXT = 'mobius:apiTransferMode';

/**
 * How long the API function may run: Lambda's and a streaming integration's limit. An SSE route
 * (a watched coordination) ends itself before this, and the client resumes with Last-Event-ID.
 */
export const API_FUNCTION_TIMEOUT = Duration.minutes(15);

export interface MobiusApiProps {
  readonly tables: RegistryTables;
  readonly bus: IEventBus;
  readonly engine: CoordinationEngine;
  /**
   * The coordination event log the SSE routes read and the coordination service appends to
   * (MOBIUS_EVENTS_TABLE). @default none: coordinations run, but their events cannot be watched
   * (MobiusCoordinator passes its own)
   */
  readonly eventsTable?: IEventLogTable;
  /** Browser origins allowed to call the API. @default none (no CORS) */
  readonly corsOrigins?: readonly string[];
  /**
   * Steady-state requests per second across the API (burst: twice this).
   * @default 100
   * @deprecated Use `throttle`, which sets the burst too; `throttle` wins when both are given.
   */
  readonly throttlingRateLimit?: number;
  /**
   * Concurrency reserved for the API's function: at most this many requests (coordinations among
   * them) run at once, across all its containers; the next ones are throttled by Lambda. This is
   * the API's back-pressure bound on AWS (a container serves one request at a time, so the
   * in-process bound of the coordination service never refuses there). Set `throttle` below what
   * it serves: a Lambda throttle behind the proxy integration reaches the caller as a gateway 500,
   * not as the API's 503. A streamed answer (SSE: a watched coordination, a streamed message)
   * holds its environment for as long as it streams, up to 15 minutes: watchers count too.
   * @default none — the account's unreserved pool. Not set by default because Lambda keeps a
   *   minimum of the account's concurrency unreserved (100 of the usual 1 000) and a new account
   *   may have as little as 10 in all: a reservation leaving less than that fails the deployment.
   */
  readonly reservedConcurrency?: number;
  /**
   * API Gateway's throttling of every method of the stage: `rateLimit` requests per second steady,
   * bursts of up to `burstLimit`. Requests past it get the API's 503 `CAPACITY_EXCEEDED` with
   * `Retry-After: 1` (API Gateway's 429 `THROTTLED`, mapped). With `reservedConcurrency`, keep
   * this below what that concurrency serves (`burstLimit` at most `reservedConcurrency`, and
   * `rateLimit` × a request's duration below it), so that the gateway sheds before Lambda throttles.
   * @default 100 per second, bursts of 200 (or `throttlingRateLimit` and twice it)
   */
  readonly throttle?: { readonly rateLimit: number; readonly burstLimit: number };
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
 * serves too. Access logs, execution logs for errors, X-Ray tracing, stage throttling (answered
 * with the API's 503 `CAPACITY_EXCEEDED` and `Retry-After`), optional reserved concurrency.
 *
 * Every method's Lambda proxy integration streams (`responseTransferMode: STREAM`): the function
 * is a response-streaming one (functions/api/index.ts) and API Gateway passes its answer on as it
 * is written, so SSE routes (streamed messages, a coordination's live events) reach the caller
 * event by event, for up to 15 minutes. Buffered answers are unchanged for callers: an express run
 * answered in JSON gives up after 27 s with 504 TIMEOUT (nothing is sent until its result,
 * and API Gateway closes a silent request at 30 s); one watched over SSE is not cut there.
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
  /** What the operators' dead-letter routes may do, on the dead-letter queue of every agent added. */
  readonly #deadLetterAccess = new PolicyStatement({
    actions: [
      'sqs:GetQueueAttributes',
      'sqs:ReceiveMessage',
      'sqs:DeleteMessage',
      'sqs:StartMessageMoveTask',
      'sqs:ListMessageMoveTasks',
    ],
  });

  constructor(scope: Construct, id: string, props: MobiusApiProps) {
    super(scope, id);
    this.#operators = [...(props.operators ?? [])];
    const accounts = [Stack.of(this).account, ...(props.allowedAgentAccounts ?? [])];
    const throttle = throttleOf(props);
    const { reservedConcurrency } = props;
    if (reservedConcurrency !== undefined) {
      if (!(Number.isInteger(reservedConcurrency) && reservedConcurrency >= 1))
        throw new RangeError(
          `reservedConcurrency must be a whole number ≥ 1 (0 would stop the API); got ${reservedConcurrency}`,
        );
      if (throttle.burstLimit > reservedConcurrency)
        Annotations.of(this).addWarningV2(
          'mobius:api-throttle-above-concurrency',
          `API Gateway admits bursts of ${throttle.burstLimit} requests, but the API function may run ` +
            `only ${reservedConcurrency} at once: Lambda throttles the rest, and callers get a gateway ` +
            `500 instead of the API's 503. Set throttle.burstLimit to at most ${reservedConcurrency}.`,
        );
    }
    this.function = mobiusOwnFunction(this, 'Function', {
      entry: 'functions/api/index.ts',
      description: 'Mobius Coordinator HTTP API',
      timeout: API_FUNCTION_TIMEOUT,
      memorySize: 1024,
      ...(reservedConcurrency !== undefined
        ? { reservedConcurrentExecutions: reservedConcurrency }
        : {}),
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
        ...(props.eventsTable
          ? { [API_ENVIRONMENT.eventsTable]: props.eventsTable.tableName }
          : {}),
      },
    });
    props.tables.grantRegistryReadWrite(this.function);
    props.eventsTable?.grantReadAppend(this.function);
    props.bus.grantPutEventsTo(this.function);
    props.engine.grantRun(this.function);
    // GET /agents/{id}/queue reads the age of a queue's oldest message, a CloudWatch metric
    // (AWS/SQS ApproximateAgeOfOldestMessage) rather than a queue attribute.
    this.function.addToRolePolicy(
      new PolicyStatement({ actions: ['cloudwatch:GetMetricData'], resources: ['*'] }),
    );
    acknowledgeWildcard(
      this.function,
      '*',
      'cloudwatch:GetMetricData has no resource-level permissions; the API reads SQS queue metrics with it.',
    );

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
        throttlingRateLimit: throttle.rateLimit,
        throttlingBurstLimit: throttle.burstLimit,
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
    this.api.addGatewayResponse('Throttled', throttledResponse(props.corsOrigins ?? []));
    const integration = new LambdaIntegration(this.function, integrationTransfer(this));
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

  /**
   * Message routing needs the API to send to agent queues and invoke agents synchronously, and to
   * invoke their streaming functions (lambda:InvokeFunction covers InvokeWithResponseStream); the
   * operators' queue routes read the agent's queues and redrive its dead letters.
   */
  addAgent(agent: IAgentTarget): void {
    // Sending includes GetQueueAttributes, which is all GET /agents/{id}/queue needs of the queue.
    agent.queue.grantSendMessages(this.function);
    // Operators look at the agent's dead letters (received with visibility 0, never deleted by the
    // API itself) and redrive them: SQS runs StartMessageMoveTask with its caller's rights, which
    // need receive, delete and GetQueueAttributes on the dead-letter queue and send on the queue
    // (granted above). Only these queues: a card pointing elsewhere gets a 403 from these routes.
    // One statement for every agent's dead-letter queue, which each agent adds an ARN to: the
    // function's role policy is near the size IAM allows an inline policy.
    if (this.#deadLetterAccess.resources.length === 0)
      this.function.addToRolePolicy(this.#deadLetterAccess);
    this.#deadLetterAccess.addResources(agent.deadLetterQueue.queueArn);
    for (const fn of [agent.function, agent.streamFunction]) {
      if (fn === undefined) continue;
      fn.grantInvoke(this.function);
      acknowledgeWildcard(
        this.function,
        `${fn.functionArn}:*`,
        `Invoking agent ${agent.agentId} covers its versions and aliases.`,
      );
    }
  }
}

/**
 * STREAM, with the 15 minutes a streaming integration may take; or, under the LocalStack context
 * (API_TRANSFER_MODE_CONTEXT), a buffered integration with its default 29 s.
 */
function integrationTransfer(scope: Construct): {
  responseTransferMode: ResponseTransferMode;
  timeout?: Duration;
} {
  const mode: unknown = scope.node.tryGetContext(API_TRANSFER_MODE_CONTEXT);
  if (mode === undefined || mode === ResponseTransferMode.STREAM)
    return { responseTransferMode: ResponseTransferMode.STREAM, timeout: API_FUNCTION_TIMEOUT };
  if (mode === ResponseTransferMode.BUFFERED) {
    Annotations.of(scope).addWarningV2(
      'mobius:api-buffered',
      `${API_TRANSFER_MODE_CONTEXT}=BUFFERED: the API's integrations are buffered, which only ` +
        'LocalStack (whose runtime converts the streamed answer) can serve. Do not deploy this to AWS.',
    );
    return { responseTransferMode: ResponseTransferMode.BUFFERED };
  }
  throw new RangeError(
    `${API_TRANSFER_MODE_CONTEXT} must be STREAM (the default) or BUFFERED (LocalStack only); got ${String(mode)}`,
  );
}

/** What the stage throttles at: `throttle`, else the deprecated rate (burst twice it), else 100/200. */
function throttleOf(props: MobiusApiProps): { rateLimit: number; burstLimit: number } {
  const rate = props.throttlingRateLimit ?? 100;
  const throttle = props.throttle ?? { rateLimit: rate, burstLimit: rate * 2 };
  const { rateLimit, burstLimit } = throttle;
  if (!(Number.isFinite(rateLimit) && rateLimit > 0))
    throw new RangeError(
      `throttle.rateLimit must be a number of requests per second > 0; got ${rateLimit}`,
    );
  if (!(Number.isInteger(burstLimit) && burstLimit >= 1))
    throw new RangeError(`throttle.burstLimit must be a whole number ≥ 1; got ${burstLimit}`);
  return { rateLimit, burstLimit };
}

/** The body of the API's 503 when API Gateway sheds a request (stage or account throttling). */
export const THROTTLED_BODY = {
  error: {
    code: 'CAPACITY_EXCEEDED',
    message: 'API Gateway is throttling requests to this API; retry after 1 s.',
    details: { source: 'api-gateway' },
  },
} as const;

/**
 * API Gateway's own 429 for throttled requests, answered as the API answers a shed coordination:
 * 503 `CAPACITY_EXCEEDED` with `Retry-After`, in the API's error shape. The CORS headers go with it
 * when the API has origins, or a browser could not read it (and would see a network error): a
 * gateway response cannot pick one of several origins as the handler does, so with several it
 * echoes the request's `Origin` — the body is the same for every caller and carries no data.
 */
function throttledResponse(corsOrigins: readonly string[]) {
  const [only] = corsOrigins;
  const cors: Record<string, string> =
    corsOrigins.length === 0
      ? {}
      : {
          'Access-Control-Allow-Origin':
            corsOrigins.length === 1 ? `'${only}'` : 'method.request.header.origin',
          'Access-Control-Expose-Headers': "'Retry-After'",
          ...(corsOrigins.length === 1 ? {} : { Vary: "'Origin'" }),
        };
  return {
    type: ResponseType.THROTTLED,
    statusCode: '503',
    responseHeaders: { 'Retry-After': "'1'", ...cors },
    templates: { 'application/json': JSON.stringify(THROTTLED_BODY) },
  };
}
