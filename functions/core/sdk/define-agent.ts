import { createHash } from 'node:crypto';
import {
  BatchProcessor,
  EventType,
  processPartialResponse,
  SqsFifoPartialProcessorAsync,
} from '@aws-lambda-powertools/batch';
import { IdempotencyConfig, makeIdempotent } from '@aws-lambda-powertools/idempotency';
import { DynamoDBPersistenceLayer } from '@aws-lambda-powertools/idempotency/dynamodb';
import type { BasePersistenceLayer } from '@aws-lambda-powertools/idempotency/persistence';
import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import type { Tracer } from '@aws-lambda-powertools/tracer';
// The middleware alone loads no X-Ray SDK: agents that trace pass their own Tracer.
import { captureLambdaHandler } from '@aws-lambda-powertools/tracer/middleware';
import {
  InvalidToken,
  SendTaskFailureCommand,
  SendTaskHeartbeatCommand,
  SendTaskSuccessCommand,
  type SFNClient,
  TaskDoesNotExist,
  TaskTimedOut,
} from '@aws-sdk/client-sfn';
import { SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import middy from '@middy/core';
import type { Context, SQSEvent, SQSRecord } from 'aws-lambda';
import { sharedDocumentClient } from '../aws/dynamodb.ts';
import {
  type ResponseStream,
  type StreamingHandler,
  streamifyResponse,
} from '../aws/lambda-streaming.ts';
import { sharedSfnClient } from '../aws/sfn.ts';
import { sharedSqsClient } from '../aws/sqs.ts';
import { annotate, installTracer } from '../aws/tracing.ts';
import { type Clock, systemClock } from '../clock.ts';
import { NotFoundError } from '../errors.ts';
import { asAgentError, FatalAgentError } from '../messaging/agent-errors.ts';
import { createResponse, type Envelope, serialize } from '../messaging/envelope.ts';
import { declaredSubscriptionsSchema, type Subscription } from '../messaging/routing-rules.ts';
import { metricsNamespace } from '../metrics-namespace.ts';
import {
  type AgentCard,
  type AgentCardInput,
  type AgentEndpoint,
  agentCardSchema,
  cardFieldsOf,
} from '../model/agent-card.ts';
import { type TaskRequest, type TaskResult, taskInput } from '../model/task.ts';
import type { QueueFigures } from '../model/utilisation.ts';
import { type HeartbeatReport, Registrar } from '../registry/registrar.ts';
import type { CoordinationEventLog } from '../streaming/event-log.ts';
import { parseWith } from '../validation.ts';
import { ChunkPump, type ChunkSink, MESSAGE_FOLD_LIMIT, TASK_FOLD_LIMIT } from './chunk-pump.ts';
import { AGENT_ENVIRONMENT } from './environment.ts';
import { classifyEvent, classifyPayload } from './incoming.ts';
import { type JsonValue, jsonOutput } from './json-output.ts';
import { onLambdaShutdown } from './lifecycle.ts';
import { TaskEventReporter } from './step-events.ts';
import {
  ReaderGoneError,
  respondInFrames,
  type StreamedRequest,
  streamedRequest,
  streamedRequestOf,
} from './streaming-handler.ts';
import { isSupervisorTask, superviseOutput } from './supervisor-decision.ts';
import { memoryFigures, UtilisationWindow } from './utilisation.ts';

/** What the user's handler receives. */
export interface AgentMessage {
  /** task: a coordination step · request/response/event/broadcast: a message envelope. */
  readonly kind: 'task' | Envelope['type'];
  /** The task input, or the envelope payload. */
  readonly input: unknown;
  readonly task?: TaskRequest;
  readonly envelope?: Envelope;
}

export interface AgentContext {
  readonly agentId: string;
  readonly logger: Logger;
  /** Milliseconds left before Lambda stops this invocation (very large outside Lambda). */
  remainingTimeMs(): number;
  /**
   * Streams one chunk of the answer: a string is a text delta, anything else a JSON value. Await
   * it: it resolves once the chunk is taken, so a slow reader slows the handler instead of filling
   * memory. A handler written `async function*` streams by `yield` instead; both may be mixed.
   */
  stream(chunk: unknown): Promise<void>;
}

/**
 * The agent's work. It returns the output, or streams it: written `async function*` (or
 * `function*`), each `yield` is a chunk and the `return` value the final output; or it calls
 * `context.stream(chunk)`. Callers that do not stream get the final output: the returned value,
 * or when nothing was returned the chunks' text joined (all text) or their values in a list.
 */
export type AgentHandler = (message: AgentMessage, context: AgentContext) => unknown;

/** What the lifecycle hooks receive. */
export interface AgentLifecycleContext {
  readonly agentId: string;
  readonly logger: Logger;
}

export type AgentLifecycleHook = (context: AgentLifecycleContext) => void | Promise<void>;

export type AgentDefinition = Omit<AgentCardInput, 'endpoint'> & {
  readonly handler: AgentHandler;
  /**
   * Runs once per container (Lambda execution environment, embedded runtime process), on its first
   * invocation, after the agent has registered and before that invocation's work: open
   * connections, warm caches. If it throws, the invocation fails and the next one runs it again.
   */
  readonly onStart?: AgentLifecycleHook;
  /**
   * Graceful shutdown, once, in a container that has started: close what onStart opened, flush.
   * Runs on `stop()` (the embedded runtime calls it when it stops) and, on Lambda, on SIGTERM,
   * which Lambda sends only when an extension is registered and then allows 500 ms to 2 s for.
   * What it throws is logged; shutdown goes on.
   */
  readonly onStop?: AgentLifecycleHook;
  /**
   * Event types delivered to the agent's queue, each by its own EventBridge rule: deployed by the
   * CDK Agent construct, created by the embedded runtime. Not part of the card.
   */
  readonly subscriptions?: readonly Subscription[];
};

/** Where the agent's dependencies come from; each defaults to the standard environment. */
export interface AgentDependencies {
  /**
   * Default: MOBIUS_REGISTRY_TABLE on the process-wide DynamoDB client. An AgentRegistry will do;
   * the default is a Registrar, the part of it an agent uses, so that agents' bundles leave out
   * the rest.
   */
  readonly registry?: Registrar;
  readonly sqs?: SQSClient;
  readonly sfn?: SFNClient;
  /**
   * Default: MOBIUS_IDEMPOTENCY_TABLE if set; `false` turns idempotency off. Give each agent its
   * own instance: Powertools keeps the key prefix (the agent id) on it, so agents sharing one could
   * take each other's records for their own.
   */
  readonly idempotency?: BasePersistenceLayer | false;
  /** Default: MOBIUS_AGENT_QUEUE_URL / _QUEUE_ARN, and the invoked function's ARN. */
  readonly endpoint?: Partial<AgentEndpoint>;
  /** Fatal failures are parked here at once instead of being retried. Default: MOBIUS_AGENT_DLQ_URL. */
  readonly deadLetterQueueUrl?: string;
  /**
   * Where coordination tasks report their step events and chunks as they work (live runs). Default:
   * a DynamoEventLog on MOBIUS_EVENTS_TABLE when it is set, none otherwise; `false` turns it off.
   * Without one, a task's chunks only fold into its final output.
   */
  readonly events?: CoordinationEventLog | false;
  readonly clock?: Clock;
  readonly logger?: Logger;
  readonly metrics?: Metrics;
  /**
   * X-Ray tracing: the handler gets a subsegment annotated with `agentId` (and `coordinationId`
   * for tasks), and the SDK clients' calls are traced. Opt-in: the X-Ray SDK adds ≈100 KB to an
   * agent's bundle and ≈40 ms to its cold start. @default no tracing
   */
  readonly tracer?: Tracer;
}

export interface AgentStopOptions {
  /**
   * How long work already running may take to finish before onStop runs regardless.
   * @default STOP_GRACE_MS (3 s)
   */
  readonly graceMs?: number;
}

export type AgentLambdaHandler = ((event: unknown, context: Context) => Promise<unknown>) & {
  readonly agentId: string;
  /** The card this agent registers, for a given endpoint. */
  card(endpoint: AgentEndpoint): AgentCard;
  /**
   * Stops the agent gracefully: marks it `draining` in the registry (discovery and planning pass
   * it over from then on; its later heartbeats say so too), lets work in flight finish (up to
   * `graceMs`), then runs onStop. Work that still reaches it is handled, never dropped. Calling
   * it again returns the same promise. A new process of the agent withdraws `draining` with its
   * first heartbeat.
   */
  stop(options?: AgentStopOptions): Promise<void>;
  /**
   * The streaming entry, for Lambda response streaming (deployed as a second function of the same
   * bundle, run with MOBIUS_AGENT_ENTRY=streaming): takes a request envelope and writes its answer in
   * Mobius frames, chunk by chunk, then the response or the error (streaming/frames.ts).
   */
  readonly streaming: StreamingHandler;
};

/** Grace for work in flight when an agent stops: the embedded runtime's own grace period. */
export const STOP_GRACE_MS = 3000;

/** Records handled in an idempotency window are recognised for this long. */
const IDEMPOTENCY_SECONDS = 3600;

/**
 * Defines a Mobius agent: one handler function becomes a Lambda handler (middy, Powertools logger
 * and metrics) that understands coordination tasks (direct and task-token), synchronous requests,
 * SQS batches with partial failures, EventBridge events, and health pings. See README "Agent SDK".
 */
export function defineAgent(
  definition: AgentDefinition,
  dependencies: AgentDependencies = {},
): AgentLambdaHandler {
  const runtime = new AgentRuntime(definition, dependencies);
  const { tracer } = dependencies;
  if (tracer !== undefined) installTracer(tracer);
  const handler = middy<unknown, unknown, Error, Context>()
    .use(injectLambdaContext(runtime.logger))
    .use(logMetrics(runtime.metrics))
    // Results can exceed X-Ray's 64 KB segment limit: trace the call, not the response.
    .use(tracer ? [captureLambdaHandler(tracer, { captureResponse: false })] : [])
    .handler((event, context) => runtime.dispatch(event, context));
  const streaming = middy<StreamedRequest, void, Error, Context>()
    .use(injectLambdaContext(runtime.logger))
    .use(logMetrics(runtime.metrics))
    .use(tracer ? [captureLambdaHandler(tracer, { captureResponse: false })] : [])
    .handler((request, context) =>
      runtime.streamRequest(request.event, request.responseStream, context),
    );
  // On Lambda, SIGTERM ends this container only: the function's other containers keep serving
  // and Lambda starts new ones, so the agent is not marked draining (that would take the whole
  // agent out of routing until the next ping); onStop runs.
  onLambdaShutdown(() => runtime.shutdown({ drain: false, graceMs: 0 }));
  const streamingEntry = streamifyResponse((event, responseStream, context) =>
    streaming(streamedRequest(event, responseStream), context),
  );
  const parts = {
    agentId: definition.agentId,
    card: (endpoint: AgentEndpoint) => runtime.cardFor(endpoint),
    stop: (options: AgentStopOptions = {}) =>
      runtime.shutdown({ drain: true, graceMs: options.graceMs ?? STOP_GRACE_MS }),
    streaming: streamingEntry,
  };
  // The agent's response-streaming function (the CDK Agent's `streaming: true`) runs this same
  // module, with MOBIUS_AGENT_ENTRY=streaming: there the `handler` export must be the streaming
  // entry itself, as Lambda's Node.js runtime finds handlers by export name (it walks into
  // objects, not functions, so `index.handler.streaming` would not resolve) and streams when the
  // function it finds is marked by streamifyResponse. Lambda only ever calls it that way there.
  if (process.env[AGENT_ENVIRONMENT.entry] === 'streaming')
    return Object.assign(streamingEntry, parts) as unknown as AgentLambdaHandler;
  return Object.assign((event: unknown, context: Context) => handler(event, context), parts);
}

class AgentRuntime {
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly #definition: AgentDefinition;
  readonly #deps: AgentDependencies;
  readonly #clock: Clock;
  readonly #idempotency: BasePersistenceLayer | undefined;
  readonly #taskEvents: TaskEventReporter;
  readonly #startedAt: number;
  #registry: Registrar | undefined;
  #registration: Promise<void> | undefined;
  #started: Promise<void> | undefined;
  #stopping: Promise<void> | undefined;
  #draining = false;
  #inFlight = 0;
  /** The most work in flight since the last EMF flush (AgentInFlight). */
  #peakInFlight = 0;
  /** Fires when in-flight work reaches zero, for a stop waiting on it. */
  #idle: (() => void) | undefined;
  readonly #window = new UtilisationWindow();

  constructor(definition: AgentDefinition, deps: AgentDependencies) {
    this.#definition = definition;
    this.#deps = deps;
    this.#clock = deps.clock ?? systemClock;
    this.#startedAt = this.#clock.now();
    // Validate the card now: a bad definition fails at cold start, not on the first message.
    parseWith(
      agentCardSchema,
      {
        ...cardFieldsOf(definition),
        endpoint: { queueUrl: 'https://placeholder.invalid/q' },
      },
      `agent ${definition.agentId}`,
    );
    parseWith(
      declaredSubscriptionsSchema,
      definition.subscriptions ?? [],
      `agent ${definition.agentId} subscriptions`,
    );
    this.logger = deps.logger ?? new Logger({ serviceName: definition.agentId });
    this.metrics =
      deps.metrics ??
      new Metrics({
        namespace: metricsNamespace(),
        serviceName: definition.agentId,
        defaultDimensions: { agentId: definition.agentId },
        logger: this.logger,
      });
    const table = process.env[AGENT_ENVIRONMENT.idempotencyTable];
    this.#idempotency =
      deps.idempotency === false
        ? undefined
        : (deps.idempotency ??
          (table
            ? new DynamoDBPersistenceLayer({
                tableName: table,
                awsSdkV3Client: sharedDocumentClient(),
              })
            : undefined));
    this.#taskEvents = new TaskEventReporter(deps.events, definition.agentId, this.logger);
  }

  cardFor(endpoint: AgentEndpoint): AgentCard {
    return parseWith(
      agentCardSchema,
      { ...cardFieldsOf(this.#definition), endpoint },
      `agent ${this.#definition.agentId}`,
    );
  }

  async dispatch(event: unknown, context: Context): Promise<unknown> {
    const incoming = classifyEvent(event);
    const registration = this.#ensureRegistered(context);
    try {
      // Without onStart, registration runs beside the first piece of work, as it always has.
      if (this.#definition.onStart !== undefined) await this.#ensureStarted(registration);
      else this.#started ??= Promise.resolve();
      switch (incoming.kind) {
        case 'sqs-batch':
          return await this.#processBatch(incoming.event, context);
        case 'task':
          // Direct invocation by an Express state machine: the coordinator records the outcome.
          return await this.#runTask(incoming.task, context);
        case 'envelope':
          return await this.#handleDirectEnvelope(incoming.envelope, context);
        case 'ping':
          await registration;
          return await this.#heartbeat(context, incoming.queue);
        case 'unrecognised':
          throw new FatalAgentError(
            `Agent ${this.#definition.agentId} cannot handle this event: ${incoming.reason}`,
          );
      }
    } finally {
      await registration;
      this.#emitUtilisation(context);
    }
  }

  /**
   * The streaming entry: one request, answered in frames on `responseStream`. The card is the main
   * function's to register (this function's ARN is not the agent's lambdaArn); onStart runs here
   * too, as this is a container of its own on Lambda.
   */
  async streamRequest(
    event: unknown,
    responseStream: ResponseStream,
    context: Context,
  ): Promise<void> {
    const agentId = this.#definition.agentId;
    try {
      await respondInFrames(responseStream, this.logger, async (sink) => {
        let envelope: Envelope;
        try {
          envelope = streamedRequestOf(event, agentId);
        } catch (error) {
          this.logger.error('streaming entry refused the event', { error });
          throw error;
        }
        if (this.#definition.onStart !== undefined) await this.#ensureStarted(Promise.resolve());
        else this.#started ??= Promise.resolve();
        const output = await this.#invokeHandler(
          { kind: envelope.type, input: envelope.payload, envelope },
          context,
          sink,
        );
        return createResponse(envelope, agentId, output);
      });
    } finally {
      this.#emitUtilisation(context);
    }
  }

  // ── lifecycle ───────────────────────────────────────────────────────────────────────────────

  /** onStart, once per container, after registration; run again on the next invocation if it threw. */
  #ensureStarted(registration: Promise<void>): Promise<void> {
    const onStart = this.#definition.onStart;
    this.#started ??= (async () => {
      await registration;
      try {
        await onStart?.(this.#lifecycleContext());
      } catch (error) {
        this.#started = undefined;
        this.logger.error('onStart failed', { error });
        throw error;
      }
    })();
    return this.#started;
  }

  /**
   * Once: (drain) mark the agent draining in the registry, wait up to `graceMs` for work in flight,
   * then onStop in a container that started. Errors are logged: shutdown goes on.
   */
  shutdown(options: { drain: boolean; graceMs: number }): Promise<void> {
    this.#stopping ??= (async () => {
      if (options.drain) {
        this.#draining = true;
        await this.#markDraining();
      }
      await this.#settled(options.graceMs);
      if (this.#started === undefined) return;
      try {
        await this.#started.catch(() => undefined);
        await this.#definition.onStop?.(this.#lifecycleContext());
      } catch (error) {
        this.logger.error('onStop failed', { error });
      }
    })();
    return this.#stopping;
  }

  async #markDraining(): Promise<void> {
    const registry = this.#registryOrNull();
    if (registry === null) return;
    try {
      await registry.heartbeat(this.#definition.agentId, this.#report());
    } catch (error) {
      // Never registered, or deregistered: nobody routes to it anyway.
      if (!(error instanceof NotFoundError))
        this.logger.warn('could not mark the agent draining', { error });
    }
  }

  /** Resolves when no work is in flight, or after `ms`. */
  async #settled(ms: number): Promise<void> {
    if (this.#inFlight === 0 || ms <= 0) return;
    let timer: NodeJS.Timeout | undefined;
    await new Promise<void>((resolve) => {
      this.#idle = resolve;
      timer = setTimeout(resolve, ms);
    });
    clearTimeout(timer);
    this.#idle = undefined;
  }

  #lifecycleContext(): AgentLifecycleContext {
    return { agentId: this.#definition.agentId, logger: this.logger };
  }

  /** EMF figures for the dashboards, in the invocation's own flush (no call, no write of their own). */
  #emitUtilisation(context: Context): void {
    const memory = memoryFigures(context.memoryLimitInMB);
    this.metrics.addMetric('AgentInFlight', MetricUnit.Count, this.#peakInFlight);
    this.#peakInFlight = this.#inFlight;
    this.metrics.addMetric('AgentMemoryUsedMB', MetricUnit.Megabytes, memory.usedMB);
    if (memory.sizeMB !== undefined)
      this.metrics.addMetric('AgentMemorySizeMB', MetricUnit.Megabytes, memory.sizeMB);
  }

  /** What a heartbeat reports: in flight, since when, draining if stopping, utilisation. */
  #report(queue?: QueueFigures, contextLimitMB?: string): HeartbeatReport {
    return {
      inFlight: this.#inFlight,
      startedAt: this.#startedAt,
      ...(this.#draining ? { status: 'draining' as const } : {}),
      utilisation: this.#window.report(this.#clock.now(), memoryFigures(contextLimitMB)),
      ...(queue === undefined ? {} : { queue }),
    };
  }

  // ── work ────────────────────────────────────────────────────────────────────────────────────

  /**
   * A coordination step, however it arrived. Its step events and chunks go to the event log as it
   * works (when there is one); the result goes back to Step Functions either way.
   */
  async #runTask(task: TaskRequest, context: Context): Promise<TaskResult> {
    const events = await this.#taskEvents.begin(task);
    const started = performance.now();
    try {
      const raw = await this.#invokeHandler(
        { kind: 'task', input: taskInput(task), task },
        context,
        events.chunk,
      );
      const durationMs = Math.round((performance.now() - started) * 1000) / 1000;
      const output = isSupervisorTask(task) ? (superviseOutput(raw, task) as JsonValue) : raw;
      await events.succeeded(output, durationMs);
      return { agentId: this.#definition.agentId, output, durationMs };
    } catch (error) {
      await events.failed(asAgentError(error));
      throw error;
    }
  }

  async #handleDirectEnvelope(envelope: Envelope, context: Context): Promise<Envelope | null> {
    const output = await this.#invokeHandler(
      { kind: envelope.type, input: envelope.payload, envelope },
      context,
    );
    return envelope.type === 'request'
      ? createResponse(envelope, this.#definition.agentId, output)
      : null;
  }

  /**
   * Runs the user's handler and makes whatever it did well-formed: its value becomes JSON (or a
   * FatalAgentError saying what is not JSON), whatever it threw becomes an Error with a name and a
   * message, logged with the step it was working on. Neither the state machine's Catch nor a
   * SendTaskFailure nor a response envelope ever sees a value it cannot carry. What it streams goes
   * to `sink` in order; its final output is what callers that do not stream get (ChunkPump).
   */
  async #invokeHandler(
    message: AgentMessage,
    context: Context,
    sink?: ChunkSink,
  ): Promise<JsonValue> {
    this.#inFlight++;
    this.#peakInFlight = Math.max(this.#peakInFlight, this.#inFlight);
    const started = performance.now();
    // A child per piece of work, not appendKeys on the shared logger: the embedded runtime and
    // parallel SQS batches run several pieces at once, and their ids must not mix.
    const logger = this.logger.createChild();
    logger.appendKeys(this.#whereAbouts(message));
    annotate({ agentId: this.#definition.agentId, coordinationId: message.task?.coordinationId });
    // A step's output goes through Step Functions (256 KB), a message's back from Lambda (6 MB).
    const pump = new ChunkPump(
      this.#definition.agentId,
      sink,
      logger,
      message.kind === 'task' ? TASK_FOLD_LIMIT : MESSAGE_FOLD_LIMIT,
    );
    try {
      const result = await this.#definition.handler(message, {
        agentId: this.#definition.agentId,
        logger,
        remainingTimeMs: () => context.getRemainingTimeInMillis(),
        stream: pump.stream,
      });
      const output = jsonOutput(await pump.finish(result), this.#definition.agentId);
      this.metrics.addMetric('MessagesHandled', MetricUnit.Count, 1);
      return output;
    } catch (thrown) {
      // What the handler streamed before it failed still goes out, before its error does.
      await pump.close();
      const error = asAgentError(thrown);
      // Stopped because its reader left: the agent did nothing wrong.
      if (error instanceof ReaderGoneError) logger.info('agent handler stopped: its reader left');
      else {
        this.metrics.addMetric('HandlerErrors', MetricUnit.Count, 1);
        logger.error('agent handler failed', { error });
      }
      throw error;
    } finally {
      const ms = performance.now() - started;
      this.metrics.addMetric('HandlerDuration', MetricUnit.Milliseconds, ms);
      this.#window.addDuration(ms, this.#clock.now());
      this.#inFlight--;
      if (this.#inFlight === 0) this.#idle?.();
    }
  }

  /** What a log line needs to find the failed work again: the coordination and step, or the message. */
  #whereAbouts(message: AgentMessage): Record<string, string> {
    const agentId = this.#definition.agentId;
    if (message.task !== undefined) return { agentId, ...taskKeys(message.task) };
    if (message.envelope !== undefined) {
      const { messageId, conversationId, from } = message.envelope;
      return { agentId, messageId, conversationId, from, messageType: message.envelope.type };
    }
    return { agentId };
  }

  // ── SQS ─────────────────────────────────────────────────────────────────────────────────────

  async #processBatch(event: SQSEvent, context: Context): Promise<unknown> {
    const fifo = event.Records[0]?.eventSourceARN.endsWith('.fifo') ?? false;
    const recordHandler = (record: SQSRecord) => this.#processRecord(record, context);
    // FIFO: after a failure the rest of that message group waits, so order is never broken.
    return fifo
      ? processPartialResponse(event, recordHandler, new SqsFifoPartialProcessorAsync(), {
          context,
          skipGroupOnError: true,
          throwOnFullBatchFailure: false,
        })
      : processPartialResponse(event, recordHandler, new BatchProcessor(EventType.SQS), {
          context,
          throwOnFullBatchFailure: false,
          // maxConcurrency bounds the function's environments (reserved concurrency); records
          // handled one at a time keep it a bound on the agent's work too.
          processInParallel: this.#definition.maxConcurrency === undefined,
        });
  }

  /** One queued record. Throwing makes it a batch item failure: redelivered, then dead-lettered. */
  async #processRecord(record: SQSRecord, context: Context): Promise<void> {
    const started = this.#clock.now();
    let parsed: unknown;
    try {
      parsed = JSON.parse(record.body);
    } catch {
      return this.#park(record, `body is not JSON`);
    }
    const incoming = classifyPayload(parsed);
    if (incoming.kind === 'unrecognised') return this.#park(record, incoming.reason);
    if (incoming.kind === 'ping') {
      await this.#heartbeat(context, incoming.queue);
      return;
    }
    // How long the message waited in the queue: the agent's view of its queue's age.
    this.#window.addWait(Number(record.attributes?.SentTimestamp), started);
    if (incoming.kind === 'task' && incoming.task.taskToken !== undefined) {
      await this.#answerTaskToken(incoming.task, incoming.task.taskToken, context, record);
      return;
    }
    let ok = false;
    try {
      if (incoming.kind === 'task') {
        await this.#once(
          `task:${incoming.task.coordinationId}:${incoming.task.stepId}:${record.messageId}`,
          () => this.#runTask(incoming.task, context),
          context,
        );
      } else if (incoming.kind === 'envelope') {
        const { envelope } = incoming;
        const output = await this.#once(
          `message:${envelope.messageId}`,
          () =>
            this.#invokeHandler(
              { kind: envelope.type, input: envelope.payload, envelope },
              context,
            ),
          context,
        );
        if (envelope.type === 'request' && envelope.replyTo !== undefined) {
          const reply = createResponse(envelope, this.#definition.agentId, output);
          await this.#sqs().send(
            new SendMessageCommand({ QueueUrl: envelope.replyTo, MessageBody: serialize(reply) }),
          );
        }
      }
      ok = true;
    } catch (error) {
      if (error instanceof FatalAgentError) return this.#park(record, error.message);
      throw error;
    } finally {
      // A redelivered message that fails again is that message's problem (the DLQ takes it),
      // not a sign of the agent's health: it counts in the metrics, not against the breaker.
      const redelivered = Number(record.attributes?.ApproximateReceiveCount ?? '1') > 1;
      await this.#recordOutcome(ok, this.#clock.now() - started, redelivered);
    }
  }

  /** Standard-mode task: the answer goes to Step Functions; the SQS record itself always succeeds. */
  async #answerTaskToken(
    task: TaskRequest,
    taskToken: string,
    context: Context,
    record: SQSRecord,
  ): Promise<void> {
    const started = this.#clock.now();
    const sfn = this.#sfn();
    const beat =
      task.heartbeatSeconds === undefined
        ? undefined
        : setInterval(
            () => {
              sfn
                .send(new SendTaskHeartbeatCommand({ taskToken }))
                .catch((error: unknown) =>
                  this.logger.warn('task heartbeat failed', { ...taskKeys(task), error }),
                );
            },
            Math.max(1_000, (task.heartbeatSeconds * 1000) / 3),
          );
    let ok = false;
    try {
      let result: TaskResult | undefined;
      let failure: unknown;
      try {
        result = await this.#once(
          `token:${sha256(taskToken)}`,
          () => this.#runTask(task, context),
          context,
        );
        ok = true;
      } catch (error) {
        failure = error;
      }
      try {
        if (result !== undefined) {
          await sfn.send(new SendTaskSuccessCommand({ taskToken, output: JSON.stringify(result) }));
        } else {
          await sfn.send(
            new SendTaskFailureCommand({
              taskToken,
              ...taskFailure(this.#definition.agentId, failure),
            }),
          );
        }
      } catch (error) {
        // The execution already moved on (timed out, or this is a duplicate delivery): nothing to answer.
        if (
          error instanceof TaskTimedOut ||
          error instanceof InvalidToken ||
          error instanceof TaskDoesNotExist
        ) {
          this.logger.warn('task token no longer valid', {
            ...taskKeys(task),
            messageId: record.messageId,
            error: error.name,
          });
          return;
        }
        throw error;
      }
    } finally {
      if (beat !== undefined) clearInterval(beat);
      await this.#recordOutcome(ok, this.#clock.now() - started);
    }
  }

  /** Runs `work` at most once per key within the idempotency window (when idempotency is on). */
  async #once<T>(key: string, work: () => Promise<T>, context: Context): Promise<T> {
    const store = this.#idempotency;
    if (store === undefined) return work();
    const config = new IdempotencyConfig({
      eventKeyJmesPath: 'key',
      expiresAfterSeconds: IDEMPOTENCY_SECONDS,
      lambdaContext: context,
    });
    const idempotent = makeIdempotent((_record: { key: string }, run: () => Promise<T>) => run(), {
      persistenceStore: store,
      config,
      dataIndexArgument: 0,
      keyPrefix: this.#definition.agentId,
    });
    return idempotent({ key }, work);
  }

  /** Parks a record that can never succeed in the dead-letter queue at once (or lets redrive do it). */
  async #park(record: SQSRecord, reason: string): Promise<void> {
    const dlq = this.#deps.deadLetterQueueUrl ?? process.env[AGENT_ENVIRONMENT.deadLetterQueueUrl];
    this.logger.error('message cannot be processed', { messageId: record.messageId, reason });
    if (dlq === undefined) throw new FatalAgentError(reason);
    await this.#sqs().send(
      new SendMessageCommand({
        QueueUrl: dlq,
        MessageBody: record.body,
        MessageAttributes: {
          'mobius-error': { DataType: 'String', StringValue: reason.slice(0, 1000) },
          'mobius-agent': { DataType: 'String', StringValue: this.#definition.agentId },
        },
        ...(dlq.endsWith('.fifo')
          ? {
              MessageGroupId: record.attributes.MessageGroupId ?? 'dead-letters',
              MessageDeduplicationId: record.messageId,
            }
          : {}),
      }),
    );
  }

  // ── registry ────────────────────────────────────────────────────────────────────────────────

  #registryOrNull(): Registrar | null {
    if (this.#deps.registry) return this.#deps.registry;
    const tableName = process.env[AGENT_ENVIRONMENT.registryTable];
    if (!tableName) return null;
    this.#registry ??= new Registrar({ tableName, clock: this.#clock });
    return this.#registry;
  }

  /** Once per container: register the card (idempotent; an update when the code changed it). */
  #ensureRegistered(context: Context): Promise<void> {
    this.#registration ??= (async () => {
      const registry = this.#registryOrNull();
      if (registry === null) return;
      try {
        await registry.register(this.cardFor(this.#endpoint(context)), { update: true });
      } catch (error) {
        this.#registration = undefined; // try again on the next invocation
        this.logger.error('registration failed', { error });
      }
    })();
    return this.#registration;
  }

  /**
   * Refreshes the registry entry. An entry gone meanwhile (deregistered, or removed by TTL while the
   * agent was unreachable) is registered again first: a warm container must not stay invisible.
   */
  async #heartbeat(
    context: Context,
    queue?: QueueFigures,
  ): Promise<{ agentId: string; status: string }> {
    this.metrics.addMetric('Heartbeats', MetricUnit.Count, 1);
    const registry = this.#registryOrNull();
    const agentId = this.#definition.agentId;
    if (registry === null) return { agentId, status: 'unregistered' };
    const report = this.#report(queue, context.memoryLimitInMB);
    try {
      return { agentId, status: (await registry.heartbeat(agentId, report)).status };
    } catch (error) {
      if (!(error instanceof NotFoundError)) throw error;
      this.#registration = undefined;
      await this.#ensureRegistered(context);
      return { agentId, status: (await registry.heartbeat(agentId, report)).status };
    }
  }

  async #recordOutcome(ok: boolean, latencyMs: number, redelivered = false): Promise<void> {
    try {
      await this.#registryOrNull()?.recordOutcome(this.#definition.agentId, {
        ok,
        latencyMs,
        ...(redelivered ? { redelivered } : {}),
      });
    } catch (error) {
      this.logger.warn('could not record outcome in the registry', { error });
    }
  }

  #endpoint(context: Context): AgentEndpoint {
    const configured = this.#deps.endpoint ?? {};
    const queueUrl = configured.queueUrl ?? process.env[AGENT_ENVIRONMENT.queueUrl];
    const queueArn = configured.queueArn ?? process.env[AGENT_ENVIRONMENT.queueArn];
    const lambdaArn = configured.lambdaArn ?? context.invokedFunctionArn;
    const streamArn = configured.streamArn ?? process.env[AGENT_ENVIRONMENT.streamArn];
    return {
      ...(lambdaArn ? { lambdaArn } : {}),
      ...(streamArn ? { streamArn } : {}),
      ...(queueUrl ? { queueUrl } : {}),
      ...(queueArn ? { queueArn } : {}),
    };
  }

  #sqs(): SQSClient {
    return this.#deps.sqs ?? sharedSqsClient();
  }

  #sfn(): SFNClient {
    return this.#deps.sfn ?? sharedSfnClient();
  }
}

/** SendTaskFailure fields: the error name the state machine matches on, and a JSON cause. */
function taskFailure(agentId: string, thrown: unknown): { error: string; cause: string } {
  const { name, message } = asAgentError(thrown);
  return {
    error: name.slice(0, 256),
    cause: JSON.stringify({ agentId, errorType: name, errorMessage: message }).slice(0, 32_768),
  };
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** The ids that find a task's log lines again: its coordination and step. */
function taskKeys(task: TaskRequest): { coordinationId: string; stepId: string } {
  return { coordinationId: task.coordinationId, stepId: task.stepId };
}
