import { Logger } from '@aws-lambda-powertools/logger';
import type { Context } from 'aws-lambda';
import type { ResponseStream } from '../core/aws/lambda-streaming.ts';
import { NotFoundError } from '../core/errors.ts';
import {
  asAgentError,
  FatalAgentError,
  RetryableAgentError,
} from '../core/messaging/agent-errors.ts';
import { createResponse, type Envelope } from '../core/messaging/envelope.ts';
import type { A2aEndpoint } from '../core/model/agent-card.ts';
import { PING_KIND, type TaskRequest, type TaskResult, taskInput } from '../core/model/task.ts';
import type { AgentRegistry } from '../core/registry/agent-registry.ts';
import type { ChunkSink } from '../core/sdk/chunk-pump.ts';
import { classifyEvent } from '../core/sdk/incoming.ts';
import type { JsonValue } from '../core/sdk/json-output.ts';
import { TaskEventReporter } from '../core/sdk/step-events.ts';
import { respondInFrames, streamedRequestOf } from '../core/sdk/streaming-handler.ts';
import { isSupervisorTask, superviseOutput } from '../core/sdk/supervisor-decision.ts';
import { chunkOf } from '../core/streaming/chunks.ts';
import type { CoordinationEventLog } from '../core/streaming/event-log.ts';
import {
  type A2aRemoteClient,
  isUnderway,
  type OutgoingMessage,
  type RemoteAnswer,
  type RemoteArtifact,
  RemoteProtocolError,
  RemoteRpcError,
  type RemoteTarget,
  type RemoteTask,
} from './remote-client.ts';
import { RemoteCallError } from './remote-http.ts';
import { chunkValuesOfParts, outputOfAnswer, partsOfInput } from './remote-output.ts';

/**
 * The A2A proxy: one function that stands in for every imported A2A agent (docs/a2a.md, "Importing
 * remote agents"). An imported agent's card names this function as its `lambdaArn`, so the router
 * (request-response, streamed requests), the compiled state machines (express tasks) and the health
 * monitor (pings) reach it exactly as they reach a Lambda agent — same timeouts, Retry and Catch,
 * breaker and fallbacks — and the proxy, told which agent by the payload (a task's `agentId`, a
 * message's `to`, a ping's `agentId`), calls that agent's A2A endpoint from its card. Its failures
 * carry the agent SDK's error names: RetryableAgentError for what may pass (the remote busy or
 * unreachable, 408/429/5xx, its deadline), FatalAgentError for what will not (a request the remote
 * refuses, an answer that is not A2A, a task that needs input), and a plain Error for a task the
 * remote failed, as an agent handler's own error.
 */
export interface A2aProxyDependencies {
  readonly registry: AgentRegistry;
  readonly client: A2aRemoteClient;
  /**
   * Where coordination tasks report their step events and streamed chunks, as agents do (see
   * TaskEventReporter). @default MOBIUS_EVENTS_TABLE when set; `false` turns it off
   */
  readonly events?: CoordinationEventLog | false;
  readonly logger?: Logger;
}

export interface A2aProxy {
  /** The function's handler: tasks, requests and pings. */
  handler(event: unknown, context: Context): Promise<unknown>;
  /** Its response-streaming entry: a request, answered in Mobius frames (streamed requests). */
  streaming(event: unknown, responseStream: ResponseStream, context: Context): Promise<void>;
}

/**
 * Time kept back from the function's own deadline to answer with the proxy's error rather than
 * Lambda's: the step's failure logged (two writes) and the return.
 */
const DEADLINE_MARGIN_MS = 500;
/**
 * How long the CancelTask of a remote task given up on may take at most: it runs after the call's
 * deadline and is awaited, so that it is sent before the function returns and is frozen. It is
 * kept out of the call's time up front, with DEADLINE_MARGIN_MS: a call that the function's own
 * time bounds ends early enough for both, rather than the cancel eating into the margin.
 */
const CANCEL_BUDGET_MS = 2000;
/** A request's default timeout, as the router's. */
const DEFAULT_REQUEST_SECONDS = 30;
/** A health ping's read of the card: quick, or the agent is not answering. */
const PING_TIMEOUT_MS = 5000;
const CARD_MAX_BYTES = 256 * 1024;

export function createA2aProxy(deps: A2aProxyDependencies): A2aProxy {
  const logger = deps.logger ?? new Logger({ serviceName: 'mobius-a2a-proxy' });
  const proxy = new ProxyWork(deps, logger);
  return {
    handler: (event, context) => proxy.dispatch(event, context),
    streaming: (event, responseStream, context) =>
      respondInFrames(responseStream, logger, async (sink) => {
        const envelope = streamedRequestOf(event, 'a2a-proxy');
        const agentId = addressee(envelope);
        const output = await proxy.ask(agentId, envelope, deadlineOf(context, envelope), sink);
        return createResponse(envelope, agentId, output);
      }),
  };
}

class ProxyWork {
  readonly #deps: A2aProxyDependencies;
  readonly #logger: Logger;

  constructor(deps: A2aProxyDependencies, logger: Logger) {
    this.#deps = deps;
    this.#logger = logger;
  }

  async dispatch(event: unknown, context: Context): Promise<unknown> {
    const incoming = classifyEvent(event);
    switch (incoming.kind) {
      case 'task':
        return this.#task(incoming.task, context);
      case 'envelope': {
        const { envelope } = incoming;
        if (envelope.type !== 'request')
          throw new FatalAgentError(
            `The A2A proxy answers requests; a ${envelope.type} message has nobody to go to (an imported agent has no queue).`,
          );
        const agentId = addressee(envelope);
        const output = await this.ask(agentId, envelope, deadlineOf(context, envelope));
        return createResponse(envelope, agentId, output);
      }
      case 'ping':
        return this.#ping(event);
      default:
        throw new FatalAgentError(
          `The A2A proxy cannot handle this event: ${incoming.kind === 'unrecognised' ? incoming.reason : incoming.kind}`,
        );
    }
  }

  /** A coordination step: reported in the event log as an agent reports it, its result to Step Functions. */
  async #task(task: TaskRequest, context: Context): Promise<TaskResult> {
    const { agentId } = task;
    const events = await new TaskEventReporter(this.#deps.events, agentId, this.#logger).begin(
      task,
    );
    const started = performance.now();
    const remaining = timeForCall(context);
    const deadlineMs =
      task.timeoutSeconds === undefined
        ? remaining
        : Math.min(remaining, task.timeoutSeconds * 1000);
    try {
      const raw = await this.#call(
        agentId,
        {
          parts: partsOfInput(taskInput(task)),
          contextId: task.coordinationId,
          metadata: { mobius: { coordinationId: task.coordinationId, stepId: task.stepId } },
        },
        { deadlineMs, context },
        events.chunk,
      );
      const output = (isSupervisorTask(task) ? superviseOutput(raw, task) : raw) as JsonValue;
      const durationMs = Math.round((performance.now() - started) * 1000) / 1000;
      await events.succeeded(output, durationMs);
      return { agentId, output, durationMs };
    } catch (error) {
      const failure = asAgentError(error);
      await events.failed(failure);
      throw failure;
    }
  }

  /** A request: the agent's output for the envelope's payload. */
  ask(agentId: string, envelope: Envelope, time: CallTime, sink?: ChunkSink): Promise<JsonValue> {
    return this.#call(
      agentId,
      {
        parts: partsOfInput(envelope.payload),
        contextId: envelope.conversationId,
        metadata: { mobius: { messageId: envelope.messageId, from: envelope.from } },
      },
      time,
      sink,
    );
  }

  /**
   * Sends `message` to the agent and maps its answer to an output; streamed (its artifact updates
   * as chunks to `sink`) when the agent streams and someone reads chunks. Bounded by `deadlineMs`.
   * A remote task still underway when the call fails (its deadline passed, the connection broke)
   * is canceled before the failure is thrown: the step's Retry sends a new message, and the
   * abandoned task would otherwise run on beside it at the remote.
   */
  async #call(
    agentId: string,
    message: OutgoingMessage,
    { deadlineMs, context }: CallTime,
    sink?: ChunkSink,
  ): Promise<JsonValue> {
    const endpoint = await this.#endpointOf(agentId);
    const controller = new AbortController();
    const seconds = Math.max(0, Math.round(deadlineMs / 100) / 10);
    const timer = setTimeout(
      () =>
        controller.abort(
          new RetryableAgentError(`A2A agent ${agentId} did not answer within ${seconds} s.`),
        ),
      Math.max(0, deadlineMs),
    );
    const target = { url: endpoint.url, tenant: endpoint.tenant };
    /** The remote's task as last seen, once it has told its id. */
    const remote: { task?: RemoteTask } = {};
    const observe = (task: RemoteTask) => {
      remote.task = task;
    };
    try {
      if (endpoint.streaming && sink !== undefined) {
        const answer = await this.#streamed(
          agentId,
          target,
          message,
          controller.signal,
          sink,
          observe,
        );
        return outputOfAnswer(agentId, answer);
      }
      return outputOfAnswer(
        agentId,
        await this.#deps.client.send(target, message, controller.signal, observe),
      );
    } catch (error) {
      const failure = agentErrorOf(
        agentId,
        controller.signal.aborted ? controller.signal.reason : error,
      );
      if (remote.task !== undefined && isUnderway(remote.task.status.state))
        await this.#cancelRemote(agentId, target, remote.task.id, context);
      throw failure;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Best effort, within CANCEL_BUDGET_MS: a task gone or ended already needs no cancel. */
  async #cancelRemote(
    agentId: string,
    target: RemoteTarget,
    taskId: string,
    context: Context,
  ): Promise<void> {
    const budget = Math.min(
      CANCEL_BUDGET_MS,
      context.getRemainingTimeInMillis() - DEADLINE_MARGIN_MS,
    );
    if (budget <= 0) {
      this.#logger.warn('no time left to cancel an A2A task given up on', { agentId, taskId });
      return;
    }
    try {
      await this.#deps.client.cancel(target, taskId, AbortSignal.timeout(budget));
    } catch (error) {
      if (error instanceof RemoteRpcError && (error.code === -32001 || error.code === -32002))
        return;
      this.#logger.warn('an A2A task given up on could not be canceled at its agent', {
        agentId,
        taskId,
        error,
      });
    }
  }

  /**
   * SendStreamingMessage: each artifact update's parts go to `sink` as chunks as they come; the
   * answer is the task as the events built it (its artifacts with their appends, its last status),
   * or the message the agent answered with. Appends go onto each artifact's parts in place and the
   * task is built once, at the end: a remote streaming one token per event costs the same per
   * event however long its answer (copying the parts so far on every append made it quadratic).
   */
  async #streamed(
    agentId: string,
    target: RemoteTarget,
    message: OutgoingMessage,
    signal: AbortSignal,
    sink: ChunkSink,
    observe: (task: RemoteTask) => void,
  ): Promise<RemoteAnswer> {
    let task: RemoteTask | undefined;
    /** The task's artifacts by id, in the order they first came; their parts grow by appends. */
    const artifacts = new Map<
      string,
      { artifact: RemoteArtifact; parts: RemoteArtifact['parts'] }
    >();
    const keep = (artifact: RemoteArtifact) =>
      artifacts.set(artifact.artifactId, { artifact, parts: [...artifact.parts] });
    let seq = 0;
    for await (const event of this.#deps.client.stream(target, message, signal)) {
      if (event.kind === 'message') return { message: event.message };
      if (event.kind === 'task') {
        task = event.task;
        observe(task);
        artifacts.clear();
        for (const artifact of event.task.artifacts) keep(artifact);
      } else if (event.kind === 'status') {
        if (task !== undefined) {
          task = { ...task, status: event.status };
          observe(task);
        }
      } else if (task !== undefined) {
        const { artifact, append } = event;
        for (const value of chunkValuesOfParts(artifact.parts))
          await sink(chunkOf(value, seq++, agentId));
        const seen = artifacts.get(artifact.artifactId);
        if (seen !== undefined && append) for (const part of artifact.parts) seen.parts.push(part);
        else keep(artifact);
      }
    }
    // Nothing at all before the end: the stream was cut (the remote or something between closed
    // it), so trying again may well succeed, where a task known by its id would have been read.
    if (task === undefined)
      throw new RemoteCallError(`${target.url} ended its stream before its task or message`, {
        retryable: true,
      });
    return {
      task: {
        ...task,
        artifacts: [...artifacts.values()].map(({ artifact, parts }) => ({ ...artifact, parts })),
      },
    };
  }

  /**
   * The health monitor's ping for one imported agent: its card read again (quickly) says it is up,
   * and the proxy heartbeats for it — without a status when it answered (the registry derives
   * healthy), `unhealthy` when it did not, so it reads unhealthy at once rather than offline only
   * once its heartbeat has lapsed.
   */
  async #ping(event: unknown): Promise<{ agentId: string | null; status: string }> {
    const agentId = (event as { agentId?: unknown }).agentId;
    if (typeof agentId !== 'string')
      return { agentId: null, status: `a ${PING_KIND} for the A2A proxy names no agentId` };
    const endpoint = await this.#endpointOf(agentId);
    let up = true;
    try {
      await this.#deps.client.fetchCard(
        endpoint.cardUrl,
        AbortSignal.timeout(PING_TIMEOUT_MS),
        CARD_MAX_BYTES,
      );
    } catch (error) {
      up = false;
      this.#logger.warn('an imported A2A agent did not answer its ping', { agentId, error });
    }
    const record = await this.#deps.registry.heartbeat(agentId, up ? {} : { status: 'unhealthy' });
    return { agentId, status: record.status };
  }

  async #endpointOf(agentId: string): Promise<A2aEndpoint> {
    let a2a: A2aEndpoint | undefined;
    try {
      a2a = (await this.#deps.registry.get(agentId)).card.endpoint.a2a;
    } catch (error) {
      if (error instanceof NotFoundError)
        throw new FatalAgentError(
          `Agent ${agentId} is not registered (any more): nothing to call.`,
        );
      throw error;
    }
    if (a2a === undefined)
      throw new FatalAgentError(
        `Agent ${agentId} is not an imported A2A agent: the A2A proxy calls only agents whose endpoint has a2a.`,
      );
    return a2a;
  }
}

/** How long a call may take: its deadline, within the time its function has (`context`). */
interface CallTime {
  readonly deadlineMs: number;
  readonly context: Context;
}

/** The agent a request is for. */
function addressee(envelope: Envelope): string {
  if (typeof envelope.to === 'string') return envelope.to;
  throw new FatalAgentError(
    'The A2A proxy answers requests to one agent; this one names an audience.',
  );
}

/** What the function has left for a call: its time, less the cancel's and the answer's. */
function timeForCall(context: Context): number {
  return context.getRemainingTimeInMillis() - CANCEL_BUDGET_MS - DEADLINE_MARGIN_MS;
}

/** A request's deadline: its timeout, within what the function has left. */
function deadlineOf(context: Context, envelope: Envelope): CallTime {
  const wanted = (envelope.timeout ?? DEFAULT_REQUEST_SECONDS) * 1000;
  return {
    deadlineMs: Math.min(wanted, timeForCall(context)),
    context,
  };
}

/**
 * JSON-RPC's and A2A 1.0's codes that refuse the request itself — every code the A2A SDK's
 * A2A_ERROR_CODE names but the internal error (-32603): sending it again changes nothing.
 */
const REFUSALS: ReadonlySet<number> = new Set([
  -32700, // parse error
  -32600, // invalid request
  -32601, // method not found
  -32602, // invalid params
  -32001, // TaskNotFound
  -32002, // TaskNotCancelable
  -32003, // PushNotificationNotSupported
  -32004, // UnsupportedOperation
  -32005, // ContentTypeNotSupported
  -32006, // InvalidAgentResponse
  -32007, // ExtendedAgentCardNotConfigured
  -32008, // ExtensionSupportRequired
  -32009, // VersionNotSupported
]);

/**
 * A failed call in the agent SDK's error names (see A2aProxy): what trying again may cure is
 * retryable, what it cannot is fatal; JSON-RPC's internal error (-32603), and codes A2A does not
 * define, are the remote's own failure — a plain Error, retried where the request's policy says.
 */
export function agentErrorOf(agentId: string, error: unknown): Error {
  if (error instanceof RemoteCallError) {
    const message = `A2A agent ${agentId}: ${error.message}`;
    return error.retryable ? new RetryableAgentError(message) : new FatalAgentError(message);
  }
  if (error instanceof RemoteRpcError)
    return REFUSALS.has(error.code) ? new FatalAgentError(error.message) : new Error(error.message);
  if (error instanceof RemoteProtocolError) return new FatalAgentError(error.message);
  return asAgentError(error);
}
