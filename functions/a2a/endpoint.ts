import { randomUUID } from 'node:crypto';
import type { Logger } from '@aws-lambda-powertools/logger';
import { type Clock, systemClock } from '../core/clock.ts';
import { isMobiusError } from '../core/errors.ts';
import { createMessage, type Envelope } from '../core/messaging/envelope.ts';
import type { MessageRouter } from '../core/messaging/router.ts';
import { API_SENDER } from '../core/messaging/sender.ts';
import type { JsonValue } from '../core/sdk/json-output.ts';
import { A2aError, type JsonRpcId, type JsonRpcResponse, rpcError, rpcResult } from './json-rpc.ts';
import { assertAcceptsOutput, partsOfChunk, partsOfOutput, payloadOf } from './parts.ts';
import {
  A2A_PROTOCOL_VERSION,
  type Artifact,
  isTerminal,
  type Message,
  type StreamResponse,
  TASK_STATES,
  type Task,
  type TaskStatus,
} from './protocol.ts';
import {
  cancelTaskParamsSchema,
  getTaskParamsSchema,
  type IncomingMessage,
  parseParams,
  type RpcCall,
  readCall,
  type SendMessageParams,
  sendMessageParamsSchema,
} from './requests.ts';
import type { NewTask, TaskIdentity, TaskLog, TaskOutcome, TaskRecord } from './task-log.ts';

/**
 * Every Mobius agent as an A2A 1.0 agent: the JSON-RPC methods SendMessage, SendStreamingMessage,
 * GetTask and CancelTask, answered by sending the agent a Mobius request through the router —
 * `request` and `requestStream`, as POST /messages does — so its breaker, timeouts and metrics
 * apply as for any message. Each message is a new task, answered when the agent has answered:
 * completed with its output as the artifact `output`, or failed with the error as the status
 * message. A streamed answer sends the agent's chunks as they come, appended to the artifact
 * `stream`, then the output. Tasks are kept in the event log (task-log.ts) for GetTask and
 * CancelTask. Free of HTTP: the API's route reads the request and writes what this answers.
 */
export interface A2aEndpointDependencies {
  readonly router: Pick<MessageRouter, 'request' | 'requestStream'>;
  readonly tasks: TaskLog;
  /**
   * The longest `metadata.timeout` (seconds) of an answer in one piece and of a streamed one: the
   * limits of POST /messages (API Gateway's 29 s, the API function's 15 minutes).
   */
  readonly limits: { readonly waitSeconds: number; readonly streamSeconds: number };
  readonly logger?: Pick<Logger, 'error'>;
  readonly clock?: Clock;
}

/** One JSON-RPC request to one agent. */
export interface A2aRequest {
  readonly agentId: string;
  /** The authenticated caller (the message's `sender`): a task is the caller's that sent it. */
  readonly sender: string;
  /** Whether the caller is an operator, who may read and cancel every principal's tasks. */
  readonly operator: boolean;
  /** For the message of an internal error and the log line it points to. */
  readonly requestId: string;
  /** The `A2A-Version` header, if any. */
  readonly version: string | undefined;
  readonly body: string | null;
}

/** A JSON-RPC response, or — for SendStreamingMessage — the stream of them to send as SSE. */
export type A2aAnswer =
  | { readonly kind: 'response'; readonly response: JsonRpcResponse }
  | {
      readonly kind: 'stream';
      /** Stopping the iteration, or aborting `signal` (the client left), stops the agent. */
      readonly events: (signal: AbortSignal) => AsyncIterable<JsonRpcResponse<StreamResponse>>;
    };

/** The artifacts a Mobius task produces: its output, and the chunks it streamed before it. */
export const OUTPUT_ARTIFACT = 'output';
export const STREAM_ARTIFACT = 'stream';

export class A2aEndpoint {
  readonly #deps: A2aEndpointDependencies;
  readonly #clock: Clock;

  constructor(deps: A2aEndpointDependencies) {
    this.#deps = deps;
    this.#clock = deps.clock ?? systemClock;
  }

  async answer(request: A2aRequest): Promise<A2aAnswer> {
    const read = readCall(request.body);
    if ('error' in read) return { kind: 'response', response: rpcError(read.id, read.error) };
    try {
      assertVersion(request.version);
      return await this.#dispatch(request, read);
    } catch (error) {
      if (error instanceof A2aError)
        return { kind: 'response', response: rpcError(read.id, error) };
      throw error;
    }
  }

  async #dispatch(request: A2aRequest, call: RpcCall): Promise<A2aAnswer> {
    const respond = (result: unknown): A2aAnswer => ({
      kind: 'response',
      response: rpcResult(call.id, result),
    });
    switch (call.method) {
      case 'SendMessage': {
        const prepared = await this.#prepare(request, call.params, false);
        return respond({ task: await this.#send(prepared) });
      }
      case 'SendStreamingMessage': {
        const prepared = await this.#prepare(request, call.params, true);
        return {
          kind: 'stream',
          events: (signal) => this.#streamOrError(call.id, prepared, signal),
        };
      }
      case 'GetTask': {
        const { id } = parseParams(getTaskParamsSchema, call.params);
        return respond(taskOfRecord(await this.#find(request, id)));
      }
      case 'CancelTask': {
        const { id } = parseParams(cancelTaskParamsSchema, call.params);
        return respond(taskOfRecord(await this.#cancel(request, id)));
      }
    }
  }

  /** Checks a send's params and builds its task and its Mobius request, before anything runs. */
  async #prepare(request: A2aRequest, params: unknown, streamed: boolean): Promise<PreparedTask> {
    const send: SendMessageParams = parseParams(sendMessageParamsSchema, params);
    if (send.configuration?.taskPushNotificationConfig !== undefined)
      throw new A2aError(
        'pushNotificationNotSupported',
        'Push notifications are not supported: a Mobius task answers on the request (or its stream).',
      );
    assertAcceptsOutput(send.configuration?.acceptedOutputModes);
    const payload = payloadOf(send.message);
    const timeout = send.metadata?.timeout;
    const limit = streamed ? this.#deps.limits.streamSeconds : this.#deps.limits.waitSeconds;
    if (timeout !== undefined && timeout > limit)
      throw new A2aError(
        'invalidParams',
        streamed
          ? `metadata.timeout may be at most ${limit} seconds for a streamed answer.`
          : `metadata.timeout may be at most ${limit} seconds for an answer in one piece; SendStreamingMessage allows up to ${this.#deps.limits.streamSeconds}.`,
        [{ path: 'metadata.timeout', message: `at most ${limit}` }],
      );
    const followed = send.message.taskId;
    if (followed !== undefined && followed !== '') await this.#refuseFollowUp(request, followed);
    const task: NewTask = {
      taskId: randomUUID(),
      agentId: request.agentId,
      contextId: nonEmpty(send.message.contextId) ?? randomUUID(),
      sender: request.sender,
    };
    const envelope = createMessage({
      from: API_SENDER,
      sender: request.sender,
      to: request.agentId,
      type: 'request',
      payload,
      conversationId: task.contextId,
      // An answer in one piece must come within API Gateway's integration timeout.
      timeout: timeout ?? (streamed ? undefined : this.#deps.limits.waitSeconds),
    });
    return {
      task,
      envelope,
      userMessage: echoed(send.message, task),
      requestId: request.requestId,
    };
  }

  /** A message naming a task continues it, which no Mobius task takes: they end with their answer. */
  async #refuseFollowUp(request: A2aRequest, taskId: string): Promise<never> {
    const record = await this.#find(request, taskId);
    throw new A2aError(
      'unsupportedOperation',
      `Task ${taskId} is ${stateWord(record.state)}: a Mobius agent answers each message as a task of its own, which ends with its answer. Send the message without taskId (the same contextId keeps the conversation).`,
    );
  }

  /** SendMessage: the agent's answer in one piece, as a task that has ended. */
  async #send(prepared: PreparedTask): Promise<Task> {
    const started = this.#clock.now();
    let outcome: TaskOutcome;
    try {
      const response = await this.#deps.router.request(prepared.envelope);
      outcome = {
        state: 'completed',
        output: response.payload as JsonValue,
        durationMs: this.#clock.now() - started,
      };
    } catch (error) {
      outcome = this.#failure(error, prepared.requestId);
    }
    const now = this.#now();
    await this.#keep(prepared.task, outcome, { start: prepared.task });
    return {
      ...taskOfOutcome(prepared.task, outcome, now),
      history: [prepared.userMessage],
    };
  }

  /**
   * The stream, or — should it break for a reason that is no failure of the agent's (our bug) — an
   * internal error as its last event, logged; the client then knows the stream will not go on.
   */
  async *#streamOrError(
    id: JsonRpcId,
    prepared: PreparedTask,
    signal: AbortSignal,
  ): AsyncGenerator<JsonRpcResponse<StreamResponse>> {
    try {
      yield* this.#stream(id, prepared, signal);
    } catch (error) {
      this.#deps.logger?.error('A2A stream failed', { requestId: prepared.requestId, error });
      yield rpcError(
        id,
        new A2aError(
          'internal',
          `Internal error; quote request ${prepared.requestId} when reporting it.`,
        ),
      );
    }
  }

  /**
   * SendStreamingMessage: the task (submitted), working once the agent has started, its chunks
   * as artifact updates, its output, and its end. A CancelTask (on any instance: the log is
   * watched) or the client leaving stops the agent, as a client leaving POST /messages' stream
   * does; the task then ends canceled.
   */
  async *#stream(
    id: JsonRpcId,
    prepared: PreparedTask,
    signal: AbortSignal,
  ): AsyncGenerator<JsonRpcResponse<StreamResponse>> {
    const { task } = prepared;
    const event = (result: StreamResponse) => rpcResult(id, result);
    const invocation = new AbortController();
    const watching = new AbortController();
    const leave = () => invocation.abort();
    signal.addEventListener('abort', leave, { once: true });
    let canceledBy: string | undefined;
    let outcome: TaskOutcome | undefined;
    /** Whether the task was logged as begun (past its first event), and its end. */
    let begun = false;
    let kept = false;
    try {
      yield event({
        task: {
          id: task.taskId,
          contextId: task.contextId,
          status: { state: TASK_STATES.submitted, timestamp: this.#now() },
          history: [prepared.userMessage],
        },
      });
      const after = await this.#begin(task);
      begun = true;
      void this.#deps.tasks.canceled(task, after, watching.signal).then((reason) => {
        if (reason === undefined) return;
        canceledBy = reason;
        invocation.abort();
      });
      const started = this.#clock.now();
      let output: JsonValue | undefined;
      try {
        const reply = await this.#deps.router.requestStream(prepared.envelope, {
          signal: invocation.signal,
        });
        yield event({
          statusUpdate: statusEvent(task, { state: TASK_STATES.working }, this.#now()),
        });
        let chunks = 0;
        for await (const frame of reply.frames) {
          if ('response' in frame) {
            output = frame.response.payload as JsonValue;
            continue;
          }
          yield event({
            artifactUpdate: {
              taskId: task.taskId,
              contextId: task.contextId,
              artifact: {
                artifactId: STREAM_ARTIFACT,
                name: STREAM_ARTIFACT,
                parts: partsOfChunk(frame.chunk),
              },
              ...(chunks > 0 ? { append: true as const } : {}),
            },
          });
          chunks++;
        }
      } catch (error) {
        if (canceledBy === undefined && !signal.aborted)
          outcome = this.#failure(error, prepared.requestId);
      }
      if (canceledBy !== undefined) {
        // CancelTask logged the end already.
        kept = true;
        outcome = { state: 'canceled', message: canceledBy };
      } else {
        if (outcome === undefined && output !== undefined)
          outcome = { state: 'completed', output, durationMs: this.#clock.now() - started };
        // No answer, no failure: the client left, which stopped the agent.
        outcome ??= { state: 'canceled', message: CLIENT_LEFT };
        kept = true;
        outcome = await this.#keepFirst(task, outcome);
      }
      if (outcome.state === 'completed') {
        const parts = partsOfOutput(outcome.output);
        if (parts.length > 0)
          yield event({
            artifactUpdate: {
              taskId: task.taskId,
              contextId: task.contextId,
              artifact: outputArtifact(parts),
              lastChunk: true,
            },
          });
      }
      yield event({ statusUpdate: statusEvent(task, statusOf(outcome), this.#now()) });
    } finally {
      signal.removeEventListener('abort', leave);
      watching.abort();
      invocation.abort();
      // Stopped at a yield (the client left): the task ends canceled, unless it had ended. A
      // client that left before reading the task event leaves no task behind.
      if (begun && !kept)
        await this.#keep(task, outcome ?? { state: 'canceled', message: CLIENT_LEFT });
    }
  }

  async #begin(task: NewTask): Promise<number> {
    try {
      return await this.#deps.tasks.begin(task);
    } catch (error) {
      // The answer matters more than its record: the task runs, GetTask will not know it.
      this.#deps.logger?.error('A2A task could not be logged', { taskId: task.taskId, error });
      return 0;
    }
  }

  /** Logs the task's end; returns its event's id (undefined when nothing was logged). */
  async #keep(
    task: TaskIdentity,
    outcome: TaskOutcome,
    options: { start?: NewTask } = {},
  ): Promise<number | undefined> {
    try {
      return await this.#deps.tasks.end(task, outcome, options);
    } catch (error) {
      this.#deps.logger?.error('A2A task end could not be logged', { taskId: task.taskId, error });
      return undefined;
    }
  }

  /**
   * Logs a streamed task's own end and answers the task's end as the log has it: a cancel logged
   * before it (CancelTask, which its watcher had not seen yet) is the task's end, as GetTask and
   * CancelTask say, so the stream's client is told CANCELED rather than an output the record
   * says was canceled. One read of the log, at the stream's end only (`settled`: once every id
   * below the end's own is written).
   */
  async #keepFirst(task: TaskIdentity, outcome: TaskOutcome): Promise<TaskOutcome> {
    const logged = await this.#keep(task, outcome);
    if (logged === undefined || outcome.state === 'canceled') return outcome;
    try {
      const record = await this.#deps.tasks.settled(task.taskId, logged);
      if (record?.state === TASK_STATES.canceled)
        return { state: 'canceled', message: record.reason?.message ?? CANCELED_BY_REQUEST };
    } catch (error) {
      // The record cannot be read: the stream says what happened here, as before the log knew.
      this.#deps.logger?.error('A2A task end could not be read back', {
        taskId: task.taskId,
        error,
      });
    }
    return outcome;
  }

  /**
   * The task of this agent with this id, if the caller sent it or is an operator; TaskNotFound
   * otherwise — another agent's task, or another caller's, alike: whether a task id exists is
   * none of a stranger's business, and a task's output is its sender's.
   */
  async #find(request: A2aRequest, taskId: string): Promise<TaskRecord> {
    const record = await this.#deps.tasks.get(taskId);
    if (
      record !== undefined &&
      record.agentId === request.agentId &&
      (request.operator || record.sender === request.sender)
    )
      return record;
    throw new A2aError(
      'taskNotFound',
      this.#deps.tasks.keeps
        ? `Task not found: ${taskId} (tasks are kept for 7 days)`
        : `Task not found: ${taskId}. This API keeps no tasks: it has no event log (MOBIUS_EVENTS_TABLE).`,
    );
  }

  /**
   * Cancels a working task (its stream, wherever it runs, sees the cancel in the log and stops the
   * agent); a task canceled already is answered as it is; one that has ended otherwise is
   * TaskNotCancelable — also when it ended while the cancel was being logged.
   */
  async #cancel(request: A2aRequest, taskId: string): Promise<TaskRecord> {
    const record = await this.#find(request, taskId);
    if (record.state === TASK_STATES.canceled) return record;
    if (!isTerminal(record.state)) {
      const logged = await this.#deps.tasks.end(record, {
        state: 'canceled',
        message: CANCELED_BY_REQUEST,
      });
      // The end that came first wins: one whose id was taken before the cancel's may land after it.
      const after = (await this.#deps.tasks.settled(taskId, logged ?? 0)) ?? record;
      if (after.state === TASK_STATES.canceled) return after;
      return notCancelable(after);
    }
    return notCancelable(record);
  }

  /**
   * An agent's failure (or the router's refusal: breaker open, no agent available, a timeout) as
   * the task's: the Mobius error code and message. Anything else is our bug: logged, and told
   * with the request id only, as a 500 would be.
   */
  #failure(error: unknown, requestId: string): TaskOutcome {
    if (isMobiusError(error)) return { state: 'failed', code: error.code, message: error.message };
    this.#deps.logger?.error('A2A task failed with an internal error', { requestId, error });
    return {
      state: 'failed',
      code: 'INTERNAL',
      message: `Internal error; quote request ${requestId} when reporting it.`,
    };
  }

  #now(): string {
    return new Date(this.#clock.now()).toISOString();
  }
}

interface PreparedTask {
  readonly task: NewTask;
  readonly envelope: Envelope;
  /** The client's message as the task's history has it: with its task and context ids. */
  readonly userMessage: Message;
  readonly requestId: string;
}

const CLIENT_LEFT =
  'The client closed the stream before the agent had answered; the agent was stopped.';
const CANCELED_BY_REQUEST = 'Canceled by CancelTask.';

function notCancelable(record: TaskRecord): never {
  throw new A2aError(
    'taskNotCancelable',
    `Task not cancelable: ${record.taskId} is ${stateWord(record.state)}.`,
  );
}

/**
 * A missing `A2A-Version` is taken as 1.0 (curl and hand-written clients send none; the SDK's
 * clients always do); any other version than 1.0 (`1`, `1.0.x` included) is refused.
 */
export function assertVersion(version: string | undefined): void {
  const given = version?.trim() ?? '';
  if (given === '' || /^1(\.0(\.\d+)?)?$/.test(given)) return;
  throw new A2aError(
    'versionNotSupported',
    `The requested A2A protocol version '${given}' is not supported. Supported versions: ${A2A_PROTOCOL_VERSION}`,
  );
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}

function echoed(message: IncomingMessage, task: TaskIdentity): Message {
  return {
    messageId: message.messageId,
    contextId: task.contextId,
    taskId: task.taskId,
    role: 'ROLE_USER',
    parts: message.parts.map((part) =>
      part.text !== undefined
        ? { text: part.text, ...(part.mediaType ? { mediaType: part.mediaType } : {}) }
        : { data: part.data ?? null, ...(part.mediaType ? { mediaType: part.mediaType } : {}) },
    ),
    ...(message.metadata ? { metadata: message.metadata } : {}),
  };
}

function stateWord(state: string): string {
  return state.replace('TASK_STATE_', '').toLowerCase();
}

function outputArtifact(parts: Artifact['parts']): Artifact {
  return { artifactId: OUTPUT_ARTIFACT, name: OUTPUT_ARTIFACT, parts };
}

/** The status of an ended task: FAILED and CANCELED say why in an agent message. */
function statusOf(outcome: TaskOutcome): Omit<TaskStatus, 'timestamp'> {
  switch (outcome.state) {
    case 'completed':
      return { state: TASK_STATES.completed };
    case 'failed':
      return { state: TASK_STATES.failed, message: agentMessage(outcome.message, outcome.code) };
    case 'canceled':
      return { state: TASK_STATES.canceled, message: agentMessage(outcome.message, 'CANCELED') };
  }
}

function agentMessage(text: string, code: string): Message {
  return {
    messageId: randomUUID(),
    role: 'ROLE_AGENT',
    parts: [{ text }],
    metadata: { code },
  };
}

function statusEvent(task: TaskIdentity, status: Omit<TaskStatus, 'timestamp'>, timestamp: string) {
  return {
    taskId: task.taskId,
    contextId: task.contextId,
    status: { ...status, timestamp },
  };
}

function taskOfOutcome(task: TaskIdentity, outcome: TaskOutcome, timestamp: string): Task {
  const parts = outcome.state === 'completed' ? partsOfOutput(outcome.output) : [];
  return {
    id: task.taskId,
    contextId: task.contextId,
    status: { ...statusOf(outcome), timestamp },
    ...(parts.length > 0 ? { artifacts: [outputArtifact(parts)] } : {}),
  };
}

/** A task as GetTask and CancelTask answer it: from the log, without its history (not kept). */
function taskOfRecord(record: TaskRecord): Task {
  const base = { id: record.taskId, contextId: record.contextId };
  if (record.state === TASK_STATES.completed && record.outputOmitted)
    return {
      ...base,
      status: {
        state: record.state,
        message: agentMessage(
          'The output was too large for the task log: only the caller of SendMessage got it.',
          'OUTPUT_OMITTED',
        ),
        timestamp: record.updatedAt,
      },
    };
  if (record.state === TASK_STATES.completed)
    return taskOfOutcome(
      record,
      { state: 'completed', output: record.output ?? null, durationMs: 0 },
      record.updatedAt,
    );
  if (record.reason !== undefined)
    return {
      ...base,
      status: {
        state: record.state,
        message: agentMessage(record.reason.message, record.reason.code),
        timestamp: record.updatedAt,
      },
    };
  return { ...base, status: { state: record.state, timestamp: record.updatedAt } };
}
