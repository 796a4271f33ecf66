import { Agent as HttpAgent } from 'node:http';
import { DynamoDBPersistenceLayer } from '@aws-lambda-powertools/idempotency/dynamodb';
import { Logger } from '@aws-lambda-powertools/logger';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { CreateEventBusCommand, EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { SQSClient } from '@aws-sdk/client-sqs';
import type { Context } from 'aws-lambda';
import { createA2aProxy } from '../a2a/proxy.ts';
import { A2aRemoteClient } from '../a2a/remote-client.ts';
import { EMBEDDED_SETTING } from '../a2a/settings.ts';
import { createApi } from '../api/app.ts';
import type { AdmissionOptions } from '../coordination/admission.ts';
import { CachedDirectory } from '../coordination/cached-directory.ts';
import { CoordinationService } from '../coordination/service.ts';
import { createDocumentClient } from '../core/aws/dynamodb.ts';
import type { ResponseStream, StreamingHandler } from '../core/aws/lambda-streaming.ts';
import { ValidationError } from '../core/errors.ts';
import { MessageRouter } from '../core/messaging/router.ts';
import { declaredRuleKind } from '../core/messaging/routing-rules.ts';
import type { A2aEndpointPolicy } from '../core/model/agent-card.ts';
import { hostEntryIssue } from '../core/model/remote-hosts.ts';
import { PING_KIND } from '../core/model/task.ts';
import { AgentRegistry } from '../core/registry/agent-registry.ts';
import {
  ensureEventsTable,
  ensureIdempotencyTable,
  ensureRegistryTable,
} from '../core/registry/create-table.ts';
import {
  type AgentDefinition,
  type AgentLambdaHandler,
  defineAgent,
} from '../core/sdk/define-agent.ts';
import { DynamoEventLog } from '../core/streaming/dynamo-event-log.ts';
import { sweep } from '../monitor/health-monitor.ts';
import { AgentSlots } from './agent-slots.ts';
import { type ApiServer, startApiServer } from './api-server.ts';
import { CrashContainment, timedOut } from './crash-containment.ts';
import {
  type DynamoEngine,
  LOCAL_CREDENTIALS,
  LOCAL_REGION,
  startDynalite,
} from './dynamodb-engine.ts';
import { EmbeddedEngine } from './embedded-engine.ts';
import { type EventBusServer, startEventBusServer } from './event-bus-server.ts';
import { lambdaContext } from './lambda-context.ts';
import { type LambdaServer, startLambdaServer } from './lambda-server.ts';
import type { AgentInvoker } from './local-executor.ts';
import { createAgentQueues } from './queues.ts';
import { SqsPoller } from './sqs-poller.ts';
import { type SqsServer, startSqsServer } from './sqs-server.ts';

export interface EmbeddedRuntimeOptions {
  /** The agents to run in-process. */
  readonly agents: readonly AgentDefinition[];
  /** Serve the HTTP API on 127.0.0.1:port (0: any free port). Omit to run without HTTP. */
  readonly port?: number;
  /** Called for every agent task the engine dispatches, and when it completes (CLI progress). */
  readonly onTask?: (event: TaskEvent) => void;
  /** Seconds between health sweeps (pings). @default 30 */
  readonly sweepSeconds?: number;
  /**
   * Check each new state machine shape with asl-validator before its first run, as Step Functions
   * does on CreateStateMachine. Off by default: it adds 150–550 ms to the first coordination of
   * every shape, and the compiler's output is validated in the test suite and by `mobius compile`.
   * @default false
   */
  readonly validateMachines?: boolean;
  /**
   * Agents whose messages must be handled in order: their queues are FIFO with one message group
   * per conversation, as the CDK Agent construct's `ordered` makes them on AWS.
   * @default none
   */
  readonly ordered?: readonly string[];
  /**
   * Back-pressure: how many coordinations the runtime works on at once; beyond that the API
   * answers 503 `CAPACITY_EXCEEDED` with `Retry-After` (`mobius dev --max-in-flight`).
   * @default DEFAULT_ADMISSION (16 in flight, the next refused at once)
   */
  readonly admission?: AdmissionOptions;
  /**
   * Remote A2A agents (POST /agents/import, docs/a2a.md): the hosts they may be imported from, as
   * the stack's `a2aAllowedHosts` (entries such as `agents.example.com`, `*.example.com`,
   * `127.0.0.1`, `10.0.0.0/8`; see core/model/remote-hosts.ts). http is allowed here besides
   * https. An A2A proxy runs in the process and calls them, as the proxy function does on AWS.
   * @default none: no agent can be imported
   */
  readonly a2a?: { readonly allowedHosts: readonly string[] };
}

export interface EmbeddedRuntimeStopOptions {
  /**
   * How long work already running (agents handling queued messages, standard coordinations) may
   * take to finish after intake has stopped. Then it is abandoned: its messages go back to their
   * queues, never deleted. @default SHUTDOWN_GRACE_MS (3 s)
   */
  readonly graceMs?: number;
}

/**
 * Grace for in-flight work on stop. Process managers and test harnesses commonly allow a few
 * seconds between SIGTERM and SIGKILL; 3 s lets ordinary agent calls finish and leaves as much
 * again for closing the engines, so `mobius dev` is gone within 6 s even on a loaded machine.
 */
export const SHUTDOWN_GRACE_MS = 3000;

export type TaskEvent =
  | { readonly phase: 'start'; readonly agentId: string; readonly stepId: string }
  | {
      readonly phase: 'end';
      readonly agentId: string;
      readonly stepId: string;
      readonly ms: number;
      readonly ok: boolean;
    };

export interface RunningAgent {
  readonly agentId: string;
  readonly lambdaArn: string;
  readonly queueUrl: string;
  /**
   * The agent as its invokers reach it, its streaming entry (`handler.streaming`) included: held
   * to its `maxConcurrency`, its crashes contained (see invocations()). The context passed is
   * ignored: each invocation gets its own.
   */
  readonly handler: AgentLambdaHandler;
}

const ACCOUNT = '000000000000';
const REGISTRY_TABLE = 'mobius-registry';
const IDEMPOTENCY_TABLE = 'mobius-idempotency';
const EVENTS_TABLE = 'mobius-events';
const EVENT_BUS = 'mobius-bus';
/** The A2A proxy's function name: imported agents' lambdaArn (see functions/a2a/proxy.ts). */
const A2A_PROXY = 'mobius-a2a-proxy';
/** Agent lookups for planning are reused for this long (see CachedDirectory). */
const PLANNING_CACHE_MS = 1000;

/**
 * Mobius on one machine, no AWS account: the same handlers, compiled ASL and registry code as on
 * AWS, over local engines — dynalite (DynamoDB, in process), an SQS server (local-aws-sqs), an
 * EventBridge adapter (rules evaluated by the project's matchesPattern), a Lambda Invoke endpoint
 * for in-process agents, and aws-local-stepfunctions for the state machines. Every AWS SDK client
 * in the process is pointed at these endpoints through the standard AWS_ENDPOINT_URL_* variables.
 */
export class EmbeddedRuntime {
  readonly registry: AgentRegistry;
  readonly router: MessageRouter;
  readonly coordinations: CoordinationService;
  readonly engine: EmbeddedEngine;
  /**
   * The coordination event log (in dynalite): what agents append as they work on steps, and what
   * `GET /coordinations/{id}/events` and `mobius dev` follow.
   */
  readonly events: DynamoEventLog;
  readonly agents: readonly RunningAgent[];
  /** Each agent's concurrency: its limit, tasks in flight and waiting, the peak. */
  readonly slots: AgentSlots;
  readonly apiUrl: string | undefined;
  readonly #stops: (() => Promise<void>)[];
  readonly #sweep: NodeJS.Timeout;
  readonly #pollers: readonly SqsPoller[];
  readonly #api: ApiServer | undefined;
  #stopped: Promise<void> | undefined;

  private constructor(parts: {
    registry: AgentRegistry;
    router: MessageRouter;
    coordinations: CoordinationService;
    engine: EmbeddedEngine;
    events: DynamoEventLog;
    agents: RunningAgent[];
    slots: AgentSlots;
    apiUrl: string | undefined;
    stops: (() => Promise<void>)[];
    sweep: NodeJS.Timeout;
    pollers: SqsPoller[];
    api: ApiServer | undefined;
  }) {
    this.registry = parts.registry;
    this.router = parts.router;
    this.coordinations = parts.coordinations;
    this.engine = parts.engine;
    this.events = parts.events;
    this.agents = parts.agents;
    this.slots = parts.slots;
    this.apiUrl = parts.apiUrl;
    this.#stops = parts.stops;
    this.#sweep = parts.sweep;
    this.#pollers = parts.pollers;
    this.#api = parts.api;
  }

  static async start(options: EmbeddedRuntimeOptions): Promise<EmbeddedRuntime> {
    const stops: (() => Promise<void>)[] = [];
    try {
      return await EmbeddedRuntime.#start(options, stops);
    } catch (error) {
      for (const stop of stops.reverse()) await stop().catch(() => undefined);
      throw error;
    }
  }

  static async #start(
    options: EmbeddedRuntimeOptions,
    stops: (() => Promise<void>)[],
  ): Promise<EmbeddedRuntime> {
    // Logs and EMF metrics stay quiet unless asked for: the CLI prints what matters.
    process.env.POWERTOOLS_LOG_LEVEL ??= 'ERROR';
    process.env.POWERTOOLS_METRICS_DISABLED ??= 'true';
    const local = { region: LOCAL_REGION, credentials: LOCAL_CREDENTIALS };
    const ids = options.agents.map((a) => a.agentId);
    const strays = (options.ordered ?? []).flatMap((id, index) =>
      ids.includes(id)
        ? []
        : [
            {
              path: `ordered.${index}`,
              message: `"${id}" is not one of the agents (${ids.join(', ')}): add its definition to agents, or drop it from ordered`,
            },
          ],
    );
    const badHosts = (options.a2a?.allowedHosts ?? []).flatMap((entry, index) => {
      const issue = hostEntryIssue(entry);
      return issue === undefined ? [] : [{ path: `a2a.allowedHosts.${index}`, message: issue }];
    });
    if (strays.length + badHosts.length > 0)
      throw new ValidationError('embedded runtime options', [...strays, ...badHosts]);
    const ordered = new Set(options.ordered ?? []);
    // Closed last: agents' crashes are contained for as long as any of their work may run.
    const containment = new CrashContainment();
    containment.install();
    stops.push(async () => containment.uninstall());
    const slots = new AgentSlots(options.agents.map((a) => [a.agentId, a.maxConcurrency]));

    const [dynamo, sqsServer, lambdaServer]: [DynamoEngine, SqsServer, LambdaServer] =
      await Promise.all([startDynalite(), startSqsServer(), startLambdaServer()]);
    stops.push(
      () => dynamo.stop(),
      () => sqsServer.stop(),
      () => lambdaServer.stop(),
    );
    const sqs = new SQSClient({ ...local, endpoint: sqsServer.endpoint });
    // The event-source pollers long-poll on an SQS client of their own: a long poll holds its socket
    // for the whole wait, and on the shared client (50 sockets) a hundred idle agents would leave
    // none for the router's sends.
    const pollerSqs = new SQSClient({
      ...local,
      endpoint: sqsServer.endpoint,
      requestHandler: { httpAgent: new HttpAgent({ keepAlive: true, maxSockets: Infinity }) },
    });
    stops.push(async () => pollerSqs.destroy());
    const queueUrlOf = (arn: string) =>
      `${sqsServer.endpoint}/${arn.split(':')[4]}/${arn.split(':')[5]}`;
    const bus: EventBusServer = await startEventBusServer({ sqs, queueUrlOf, accountId: ACCOUNT });
    stops.push(() => bus.stop());
    // What stop() closes last, once the work on them has ended or been abandoned.
    const engines = [...stops];
    pointSdkAt({
      dynamodb: dynamo.endpoint,
      sqs: sqsServer.endpoint,
      eventbridge: bus.endpoint,
      lambda: lambdaServer.endpoint,
    });

    const raw = new DynamoDBClient({ ...local, endpoint: dynamo.endpoint });
    await Promise.all([
      ensureRegistryTable(raw, REGISTRY_TABLE),
      ensureIdempotencyTable(raw, IDEMPOTENCY_TABLE),
      ensureEventsTable(raw, EVENTS_TABLE),
    ]);
    const documents = createDocumentClient({ ...local, endpoint: dynamo.endpoint });
    // One log for the process: its followers are woken by its appends in this process at once.
    const events = new DynamoEventLog({ tableName: EVENTS_TABLE, client: documents });
    const a2a: A2aEndpointPolicy | undefined =
      (options.a2a?.allowedHosts.length ?? 0) > 0
        ? {
            hosts: {
              allowedHosts: [...(options.a2a?.allowedHosts ?? [])],
              allowHttp: true,
              setting: EMBEDDED_SETTING,
            },
            proxyArn: `arn:aws:lambda:${LOCAL_REGION}:${ACCOUNT}:function:${A2A_PROXY}`,
          }
        : undefined;
    const registry = new AgentRegistry({
      tableName: REGISTRY_TABLE,
      client: documents,
      // The same endpoint rules as a deployed API, for the local account: a card registered over
      // `mobius dev` cannot point the router at an arbitrary URL either.
      endpointPolicy: {
        region: LOCAL_REGION,
        accounts: [ACCOUNT],
        sqsEndpoint: sqsServer.endpoint,
        ...(a2a === undefined ? {} : { a2a }),
      },
    });
    const eventBridge = new EventBridgeClient({ ...local, endpoint: bus.endpoint });
    await eventBridge.send(new CreateEventBusCommand({ Name: EVENT_BUS }));
    const router = new MessageRouter({
      registry,
      eventBusName: EVENT_BUS,
      sqs,
      eventBridge,
      lambda: new LambdaClient({ ...local, endpoint: lambdaServer.endpoint }),
    });

    // Every agent: its queues, its handler (defineAgent, as in Lambda), its Lambda endpoint, its poller.
    const agents: RunningAgent[] = [];
    const pollers: SqsPoller[] = [];
    const byTarget = new Map<string, Pick<AgentInvocations, 'invoke'>>();
    if (a2a !== undefined) {
      // The A2A proxy, as the stack deploys it: imported agents' tasks, requests (streamed ones
      // too, on the same function) and pings reach it through the Lambda endpoint and the engine.
      const proxy = createA2aProxy({
        registry,
        client: new A2aRemoteClient(a2a.hosts),
        events,
      });
      lambdaServer.register(
        A2A_PROXY,
        (event, context) => proxy.handler(event, context),
        proxy.streaming,
      );
      byTarget.set(a2a.proxyArn, {
        invoke: (event, timeoutSeconds) => {
          const seconds = timeoutSeconds ?? taskTimeoutSeconds(event);
          return proxy.handler(
            event,
            lambdaContext(
              A2A_PROXY,
              seconds === undefined
                ? {}
                : { timeoutMs: seconds * 1000 + FUNCTION_TIMEOUT_MARGIN_MS },
            ),
          );
        },
      });
    }
    for (const definition of options.agents) {
      const queues = await createAgentQueues(sqs, definition.agentId, {
        fifo: ordered.has(definition.agentId),
        visibilityTimeoutSeconds: 2,
      });
      const lambdaArn = `arn:aws:lambda:${LOCAL_REGION}:${ACCOUNT}:function:${definition.agentId}`;
      const sdkHandler = defineAgent(definition, {
        registry,
        sqs,
        // One persistence layer per agent, as in Lambda: Powertools keeps the key prefix (the
        // agent id) on the instance, so a shared one would let agents' keys collide.
        idempotency: new DynamoDBPersistenceLayer({
          tableName: IDEMPOTENCY_TABLE,
          awsSdkV3Client: raw,
        }),
        endpoint: { lambdaArn, queueUrl: queues.queueUrl, queueArn: queues.queueArn },
        deadLetterQueueUrl: queues.deadLetterQueueUrl,
        events,
      });
      const invoked = invocations(definition.agentId, sdkHandler, { slots, containment });
      const { handler } = invoked;
      // Streamed requests (InvokeWithResponseStream) reach the same function, as the agent's
      // streaming function does on AWS, under the same slots and containment.
      lambdaServer.register(definition.agentId, handler, handler.streaming);
      byTarget.set(lambdaArn, invoked);
      byTarget.set(queues.queueUrl, invoked);
      const poller = new SqsPoller({
        sqs: pollerSqs,
        queueUrl: queues.queueUrl,
        queueArn: queues.queueArn,
        handler: (event) => handler(event, lambdaContext(definition.agentId)),
        // Only a bounded agent's poller waits for room, as only its mapping has a maximum.
        ...(definition.maxConcurrency === undefined
          ? {}
          : {
              capacity: {
                room: () => slots.room(definition.agentId),
                whenRoom: () => slots.whenRoom(definition.agentId),
              },
            }),
        // Not Lambda's 20 s: local-aws-sqs holds a receive of up to 10 messages for the whole wait
        // unless 10 arrive, where SQS answers as soon as any do.
        waitSeconds: 1,
      });
      poller.start();
      pollers.push(poller);
      // Only if starting fails later on: stop() stops the pollers itself, with a grace period.
      stops.push(() => poller.stop({ graceMs: 0 }));
      agents.push({ agentId: definition.agentId, lambdaArn, queueUrl: queues.queueUrl, handler });
    }
    // A ping registers each agent and records its first heartbeat, as the health monitor does on AWS.
    await Promise.all(
      agents.map((agent) => agent.handler({ kind: PING_KIND }, lambdaContext(agent.agentId))),
    );
    for (const definition of options.agents) {
      await router.ensureBroadcastRule(definition.agentId);
      for (const [index, subscription] of (definition.subscriptions ?? []).entries())
        await router.subscribe(definition.agentId, subscription, declaredRuleKind(index));
    }

    const invokeAgent: AgentInvoker = async (target, task, invokeOptions) => {
      const agent = byTarget.get(target);
      if (agent === undefined)
        throw Object.assign(new Error(`No embedded agent is reachable at ${target}`), {
          name: 'Lambda.ResourceNotFoundException',
        });
      const agentId = String(task.agentId);
      const stepId = String(
        task.stepId ?? (task.subtask as { subtaskId?: string } | undefined)?.subtaskId ?? '',
      );
      options.onTask?.({ phase: 'start', agentId, stepId });
      const started = performance.now();
      try {
        const result = await agent.invoke(task, invokeOptions?.timeoutSeconds);
        options.onTask?.({
          phase: 'end',
          agentId,
          stepId,
          ms: performance.now() - started,
          ok: true,
        });
        return result;
      } catch (error) {
        options.onTask?.({
          phase: 'end',
          agentId,
          stepId,
          ms: performance.now() - started,
          ok: false,
        });
        throw error;
      }
    };
    const engine = new EmbeddedEngine(invokeAgent, {
      validate: options.validateMachines ?? false,
      events,
    });
    stops.push(() => engine.drain());
    const coordinations = new CoordinationService({
      registry,
      engine,
      recordOutcomes: 'background',
      directory: new CachedDirectory(registry, { ttlMs: PLANNING_CACHE_MS }),
      events,
      ...(options.admission === undefined ? {} : { admission: options.admission }),
    });
    stops.push(() => coordinations.close());

    // The health monitor's sweep, on a timer: the same pings keep every agent's heartbeat fresh.
    const lambda = new LambdaClient({ ...local, endpoint: lambdaServer.endpoint });
    const sweepTimer = setInterval(
      () => {
        sweep(registry, { lambda, sqs }).catch(() => undefined);
      },
      (options.sweepSeconds ?? 30) * 1000,
    );
    sweepTimer.unref();

    let api: ApiServer | undefined;
    if (options.port !== undefined) {
      const logger = new Logger({ serviceName: 'mobius-api' });
      // The queue routes read the local SQS; oldest-message ages stay unknown (no CloudWatch here).
      api = await startApiServer(
        createApi({ registry, router, coordinations, events, logger, sqs }),
        { port: options.port },
      );
      const server = api;
      stops.push(() => server.stop());
    }
    return new EmbeddedRuntime({
      registry,
      router,
      coordinations,
      engine,
      events,
      agents,
      slots,
      apiUrl: api?.url,
      stops: engines,
      sweep: sweepTimer,
      pollers,
      api,
    });
  }

  /**
   * Stops taking work (the API stops listening, the pollers stop receiving, the health sweep
   * ends), gives the work in flight `graceMs` to finish, abandons what is still running — its
   * queued messages go back to their queues, never deleted — records the outcomes, and closes the
   * engines. Resolves within the grace period plus the time closing takes, however long agents
   * hang. Calling it again returns the same promise.
   */
  stop(options: EmbeddedRuntimeStopOptions = {}): Promise<void> {
    this.#stopped ??= this.#stop(options.graceMs ?? SHUTDOWN_GRACE_MS);
    return this.#stopped;
  }

  async #stop(graceMs: number): Promise<void> {
    clearInterval(this.#sweep);
    const deadline = performance.now() + graceMs;
    const left = () => Math.max(0, deadline - performance.now());
    // Open HTTP requests are cut: an API call waiting on a hung agent would otherwise hold the stop.
    await this.#api?.stop();
    await Promise.all([
      // Each agent marks itself draining, lets its work finish and runs its onStop — while the
      // registry it writes to is still up.
      ...this.agents.map((agent) => agent.handler.stop({ graceMs: left() })),
      ...this.#pollers.map((poller) => poller.stop({ graceMs: left() })),
      // A standard coordination still running past the grace is left unfinished, as a Step
      // Functions execution is when its account is closed; pollers' messages are what must survive.
      settledWithin(this.engine.drain(), left()),
    ]);
    await this.coordinations.close();
    for (const stop of [...this.#stops].reverse()) await stop();
  }
}

/**
 * A task's function timeout is its step's plus this: the step's own timeout (States.Timeout) is
 * what the state machine sees, as on AWS where an agent's function timeout is set above its steps',
 * and the invocation ends soon after (the SDK's middy answers just before the function's timeout;
 * CrashContainment stops whatever does not).
 */
const FUNCTION_TIMEOUT_MARGIN_MS = 1000;

/**
 * A ping's function timeout: the Agent construct's default function timeout on AWS. Without one,
 * the health sweep's pings to a hung agent would wait for a slot for ever, one more every sweep.
 */
const PING_TIMEOUT_SECONDS = 30;

interface AgentInvocations {
  /**
   * The agent as every invoker reaches it (the context passed is ignored: see invoke), with its
   * streaming entry held to the same rules.
   */
  readonly handler: AgentLambdaHandler;
  /**
   * One invocation; `timeoutSeconds` is the function's timeout for it, by default the task's own
   * `timeoutSeconds` (none for messages and pings).
   */
  readonly invoke: (event: unknown, timeoutSeconds?: number) => Promise<unknown>;
}

/**
 * One agent's handler as the runtime invokes it, by every path (express and standard tasks, the
 * Lambda endpoint, streamed requests to its streaming entry, the queue's poller, the health sweep's
 * pings), as Lambda would run it:
 * - held to the card's `maxConcurrency` (AgentSlots): excess invocations wait for a slot, a batch
 *   from the queue ahead of the others since it has already been taken off the queue;
 * - in an execution environment of its own (CrashContainment): an uncaught exception or unhandled
 *   rejection fails this invocation with `Runtime.ExitError` / `Runtime.UnhandledPromiseRejection`
 *   and ends nothing else;
 * - a task stopped with `Sandbox.Timedout` a second after its step's timeout, as Lambda stops a
 *   function past its own timeout, so a hung agent's slot is free again once its step has given up
 *   on it (see FUNCTION_TIMEOUT_MARGIN_MS); the time counts from the call, so a task still waiting
 *   for a slot then is given up (never run) with the same error; a ping gets PING_TIMEOUT_SECONDS;
 * - a streamed request whose reader leaves while it still waits for a slot is given up too (never
 *   run): its answer would go nowhere. One that runs is stopped by the agent SDK at its next chunk;
 * - with a Lambda context whose remaining time is that function timeout.
 */
function invocations(
  agentId: string,
  handler: AgentLambdaHandler,
  parts: { slots: AgentSlots; containment: CrashContainment },
): AgentInvocations {
  const run = <T>(
    event: unknown,
    timeoutSeconds: number | undefined,
    work: (context: Context) => Promise<T>,
    readerGone?: AbortSignal,
  ): Promise<T> => {
    const records = sqsRecords(event);
    const seconds =
      timeoutSeconds ??
      (records === undefined ? taskTimeoutSeconds(event) : undefined) ??
      (isPing(event) ? PING_TIMEOUT_SECONDS : undefined);
    const timeoutMs =
      seconds === undefined ? undefined : seconds * 1000 + FUNCTION_TIMEOUT_MARGIN_MS;
    // The deadline runs from the call, not from the slot: a task still waiting for a slot when its
    // step has given up on it leaves the queue of waiters and fails as a timed-out Lambda does,
    // rather than running later for nobody and holding a slot meanwhile.
    const startedAt = performance.now();
    const deadline = new AbortController();
    const timer =
      timeoutMs === undefined
        ? undefined
        : setTimeout(() => deadline.abort(timedOut(timeoutMs)), timeoutMs);
    timer?.unref();
    return parts.slots
      .run(
        agentId,
        () => {
          const leftMs =
            timeoutMs === undefined
              ? undefined
              : Math.max(0, startedAt + timeoutMs - performance.now());
          return parts.containment.run(
            agentId,
            () => work(lambdaContext(agentId, leftMs === undefined ? {} : { timeoutMs: leftMs })),
            timeoutMs,
            startedAt,
          );
        },
        // One slot, a batch from the queue too (see AgentSlots), ahead of the direct calls.
        {
          signal:
            readerGone === undefined
              ? deadline.signal
              : AbortSignal.any([deadline.signal, readerGone]),
          ...(records === undefined ? {} : { front: true }),
        },
      )
      .finally(() => clearTimeout(timer));
  };
  const invoke = (event: unknown, timeoutSeconds?: number): Promise<unknown> =>
    run(event, timeoutSeconds, (context) => handler(event, context));
  // A streamed request holds a slot for as long as the agent writes its answer; one whose reader
  // leaves before it has a slot is given up.
  const streaming: StreamingHandler = (event, responseStream) => {
    const reader = readerOf(responseStream);
    return run(
      event,
      undefined,
      (context) => handler.streaming(event, responseStream, context),
      reader.gone,
    ).finally(reader.forget);
  };
  // What else the SDK's handler carries (its id, its card, stop) stays reachable.
  return {
    handler: Object.assign((event: unknown) => invoke(event), { ...handler, streaming }),
    invoke,
  };
}

/**
 * A signal that aborts when the reader of `stream` leaves (the stream is closed or fails before it
 * finished), and `forget` to stop watching once the invocation is over.
 */
function readerOf(stream: ResponseStream): { gone: AbortSignal; forget: () => void } {
  const controller = new AbortController();
  const leave = () => {
    if (!stream.writableFinished)
      controller.abort(
        Object.assign(new Error('the reader of the streamed answer went away'), {
          name: 'ReaderGoneError',
        }),
      );
  };
  if (stream.destroyed) leave();
  stream.once('close', leave);
  stream.once('error', leave);
  return {
    gone: controller.signal,
    forget: () => {
      stream.off('close', leave);
      stream.off('error', leave);
    },
  };
}

function sqsRecords(event: unknown): { eventSourceARN?: string }[] | undefined {
  const records = (event as { Records?: unknown } | null)?.Records;
  return Array.isArray(records) ? (records as { eventSourceARN?: string }[]) : undefined;
}

function isPing(event: unknown): boolean {
  return (event as { kind?: unknown } | null)?.kind === PING_KIND;
}

function taskTimeoutSeconds(event: unknown): number | undefined {
  const seconds = (event as { timeoutSeconds?: unknown } | null)?.timeoutSeconds;
  return typeof seconds === 'number' && seconds > 0 ? seconds : undefined;
}

/** Resolves when `work` settles or after `ms`, whichever comes first. */
async function settledWithin(work: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    work.catch(() => undefined),
    new Promise<void>((resolve) => {
      timer = setTimeout(resolve, ms);
    }),
  ]);
  clearTimeout(timer);
}

/** Points every AWS SDK client created from the environment at the embedded endpoints. */
function pointSdkAt(endpoints: {
  dynamodb: string;
  sqs: string;
  eventbridge: string;
  lambda: string;
}): void {
  process.env.AWS_REGION = LOCAL_REGION;
  process.env.AWS_ACCESS_KEY_ID = LOCAL_CREDENTIALS.accessKeyId;
  process.env.AWS_SECRET_ACCESS_KEY = LOCAL_CREDENTIALS.secretAccessKey;
  process.env.AWS_ENDPOINT_URL_DYNAMODB = endpoints.dynamodb;
  process.env.AWS_ENDPOINT_URL_SQS = endpoints.sqs;
  process.env.AWS_ENDPOINT_URL_EVENTBRIDGE = endpoints.eventbridge;
  process.env.AWS_ENDPOINT_URL_LAMBDA = endpoints.lambda;
}
