import { randomUUID } from 'node:crypto';
import * as z from 'zod';
import type { RemoteHostPolicy } from '../core/model/remote-hosts.ts';
import { readSse } from '../core/streaming/sse.ts';
import { toFieldIssues } from '../core/validation.ts';
import { describeIssues } from './json-rpc.ts';
import { A2A_PROTOCOL_VERSION, A2A_VERSION_HEADER, type Part } from './protocol.ts';
import { RemoteCallError, type RemoteResponse, remoteCall, textOf } from './remote-http.ts';
import { partSchema } from './requests.ts';

/**
 * Mobius's client of remote A2A 1.0 agents, JSON-RPC binding: SendMessage, SendStreamingMessage
 * and GetTask, on remote-http.ts (the host allow-list, redirects, bounds). Written here rather than
 * taken from `@a2a-js/sdk`: every call must connect through the allow-list's checked lookup and be
 * bounded in size and time, which the SDK's fetch-based transport leaves to its `fetchImpl`; the
 * SDK does not validate what remotes answer, which here is parsed with zod; and the A2A proxy's
 * bundle stays free of the SDK and its dependencies. The SDK is what the tests check this client
 * against, as the remote.
 */

/** The most bytes of one answer (a JSON-RPC response, or a whole stream): Lambda's own payload bound. */
export const MAX_ANSWER_BYTES = 6 * 1024 * 1024;

/** Where an agent is called: its JSON-RPC URL and the tenant its card names for it. */
export interface RemoteTarget {
  readonly url: string;
  readonly tenant?: string | undefined;
}

/** A message Mobius sends: the user's role, a fresh id, the parts of its input. */
export interface OutgoingMessage {
  readonly parts: readonly Part[];
  readonly contextId?: string;
  readonly metadata?: Readonly<Record<string, unknown>>;
}

const looseMessageSchema = z.looseObject({
  messageId: z.string().optional(),
  contextId: z.string().optional(),
  taskId: z.string().optional(),
  parts: z.array(partSchema).default([]),
  metadata: z.record(z.string(), z.unknown()).optional(),
});
export type RemoteMessage = z.output<typeof looseMessageSchema>;

const statusSchema = z.looseObject({
  state: z.string({ error: 'a task status needs its state' }),
  message: looseMessageSchema.optional(),
});

const artifactSchema = z.looseObject({
  artifactId: z.string().default(''),
  name: z.string().optional(),
  parts: z.array(partSchema).default([]),
});
export type RemoteArtifact = z.output<typeof artifactSchema>;

const taskSchema = z.looseObject({
  id: z.string().min(1, 'a task needs its id'),
  contextId: z.string().optional(),
  status: statusSchema,
  artifacts: z.array(artifactSchema).default([]),
});
export type RemoteTask = z.output<typeof taskSchema>;

/** What SendMessage answers: a task, or a message (an agent that answers without a task). */
export type RemoteAnswer =
  | { readonly task: RemoteTask; readonly message?: undefined }
  | { readonly message: RemoteMessage; readonly task?: undefined };

const sendResultSchema = z
  .union([z.object({ task: taskSchema }), z.object({ message: looseMessageSchema })])
  .transform((result): RemoteAnswer => result);

/** One event of a streamed answer. */
export type RemoteStreamEvent =
  | { readonly kind: 'task'; readonly task: RemoteTask }
  | { readonly kind: 'message'; readonly message: RemoteMessage }
  | { readonly kind: 'status'; readonly status: RemoteTask['status'] }
  | { readonly kind: 'artifact'; readonly artifact: RemoteArtifact; readonly append: boolean };

const streamResultSchema = z
  .union([
    z.object({ task: taskSchema }),
    z.object({ message: looseMessageSchema }),
    z.object({ statusUpdate: z.looseObject({ status: statusSchema }) }),
    z.object({
      artifactUpdate: z.looseObject({ artifact: artifactSchema, append: z.boolean().optional() }),
    }),
  ])
  .transform((result): RemoteStreamEvent => {
    if ('task' in result) return { kind: 'task', task: result.task };
    if ('message' in result) return { kind: 'message', message: result.message };
    if ('statusUpdate' in result) return { kind: 'status', status: result.statusUpdate.status };
    return {
      kind: 'artifact',
      artifact: result.artifactUpdate.artifact,
      append: result.artifactUpdate.append === true,
    };
  });

const rpcIdSchema = z.union([z.string(), z.number(), z.null()]);
const rpcErrorSchema = z.looseObject({
  jsonrpc: z.literal('2.0'),
  id: rpcIdSchema,
  error: z.looseObject({ code: z.number(), message: z.string().default('') }),
});
const rpcResultSchema = z.looseObject({
  jsonrpc: z.literal('2.0'),
  id: rpcIdSchema,
  result: z.unknown(),
});

/** The remote answered with a JSON-RPC error (its A2A code and message). */
export class RemoteRpcError extends Error {
  override readonly name = 'RemoteRpcError';
  readonly code: number;
  constructor(url: string, code: number, message: string) {
    super(`${url} answered JSON-RPC error ${code}: ${message}`);
    this.code = code;
  }
}

/** The remote answered something that is not A2A 1.0 JSON-RPC. */
export class RemoteProtocolError extends Error {
  override readonly name = 'RemoteProtocolError';
}

export class A2aRemoteClient {
  readonly #policy: RemoteHostPolicy;
  readonly #maxBytes: number;

  constructor(policy: RemoteHostPolicy, options: { readonly maxBytes?: number } = {}) {
    this.#policy = policy;
    this.#maxBytes = options.maxBytes ?? MAX_ANSWER_BYTES;
  }

  get policy(): RemoteHostPolicy {
    return this.#policy;
  }

  /** GET of an agent card: its JSON, unvalidated (remote-card.ts validates it). */
  async fetchCard(url: string, signal: AbortSignal, maxBytes: number): Promise<unknown> {
    const response = await remoteCall(
      {
        method: 'GET',
        url,
        headers: { accept: 'application/json', [A2A_VERSION_HEADER]: A2A_PROTOCOL_VERSION },
        signal,
        maxBytes,
      },
      this.#policy,
    );
    const text = await textOf(response);
    assertOk(url, response);
    return parseJson(url, text);
  }

  /**
   * SendMessage with `returnImmediately`: the remote answers at once with the task it started
   * (submitted or working), which is then polled with GetTask until it ends, or `signal` ends the
   * wait. A blocking call (A2A's default) would tell nothing until the task ended, so a caller
   * giving up on it could not name the task to cancel; `observe` is told the task each time it is
   * read, from the first answer on. A remote that ignores the flag and answers the ended task (or
   * a message) is read as it is; one that holds the call open anyway has told no task id.
   */
  async send(
    target: RemoteTarget,
    message: OutgoingMessage,
    signal: AbortSignal,
    observe?: (task: RemoteTask) => void,
  ): Promise<RemoteAnswer> {
    const result = await this.#call(
      target,
      'SendMessage',
      { ...this.#sendParams(target, message), configuration: { returnImmediately: true } },
      signal,
    );
    const answer: RemoteAnswer = parseResult(target.url, sendResultSchema, result, 'SendMessage');
    if (answer.task === undefined) return answer;
    return { task: await this.#untilEnded(target, answer.task, signal, observe) };
  }

  /**
   * CancelTask: asks the remote to stop a task Mobius gives up on (its deadline passed). Closing
   * a call does not stop an A2A task; without this the remote would work on, and a retry would
   * start another copy beside it. The answer (the task, or -32001/-32002 for one that is gone or
   * ended) is not read further.
   */
  async cancel(target: RemoteTarget, taskId: string, signal: AbortSignal): Promise<void> {
    await this.#call(target, 'CancelTask', { id: taskId, ...tenantOf(target) }, signal);
  }

  /**
   * SendStreamingMessage: the remote's events as they come (task, status and artifact updates, or
   * one message). An `event: error` in the stream, or a JSON-RPC error answered instead of one,
   * throws RemoteRpcError.
   *
   * A stream that ends while its task is still submitted or working — closed early by the remote
   * or something between, or a plain JSON answer of a task that has not ended — is not the task's
   * end: the task is then read with GetTask until it ends (as `send` does), and yielded once more,
   * whole, as a `task` event. So a transport's early close costs a wait, not a failed step.
   */
  async *stream(
    target: RemoteTarget,
    message: OutgoingMessage,
    signal: AbortSignal,
  ): AsyncGenerator<RemoteStreamEvent> {
    const id = randomUUID();
    const response = await this.#post(
      target,
      'SendStreamingMessage',
      this.#sendParams(target, message),
      id,
      signal,
      'text/event-stream',
    );
    /** The task as the events so far describe it: its id and last state. */
    let task: RemoteTask | undefined;
    const seen = (event: RemoteStreamEvent): RemoteStreamEvent => {
      if (event.kind === 'task') task = event.task;
      else if (event.kind === 'status' && task !== undefined)
        task = { ...task, status: event.status };
      return event;
    };
    try {
      if (!response.contentType.startsWith('text/event-stream')) {
        // An error before the stream began comes as a plain JSON-RPC answer.
        const result = answerOf(target.url, response, await textOf(response), id);
        yield seen(parseResult(target.url, streamResultSchema, result, 'SendStreamingMessage'));
      } else {
        // An event cut off by the stream's end is dropped (readSse): half an event is no event,
        // and the task it belonged to is then read whole with GetTask (below).
        for await (const event of readSse(response.body)) {
          if (typeof event.data === 'string')
            throw new RemoteProtocolError(
              `${target.url} streamed an event that is not JSON: ${event.data.slice(0, 200)}`,
            );
          const result = resultOf(target.url, event.data, id);
          const parsed = seen(
            parseResult(target.url, streamResultSchema, result, 'SendStreamingMessage'),
          );
          yield parsed;
          // A message is the whole answer: nothing after it is read.
          if (parsed.kind === 'message') return;
        }
      }
    } finally {
      response.close();
    }
    const last: RemoteTask | undefined = task;
    if (last !== undefined && isUnderway(last.status.state))
      yield { kind: 'task', task: await this.#untilEnded(target, last, signal) };
  }

  /**
   * The task, read with GetTask while the remote reports it submitted or working (waiting 25 ms,
   * then twice as long each time, 2 s at most), until it is not or `signal` ends the wait.
   */
  async #untilEnded(
    target: RemoteTarget,
    started: RemoteTask,
    signal: AbortSignal,
    observe?: (task: RemoteTask) => void,
  ): Promise<RemoteTask> {
    let task = started;
    observe?.(task);
    for (let wait = 25; isUnderway(task.status.state); wait = Math.min(wait * 2, 2000)) {
      await sleep(wait, signal);
      const result = await this.#call(
        target,
        'GetTask',
        { id: task.id, ...tenantOf(target) },
        signal,
      );
      task = parseResult(target.url, taskSchema, result, 'GetTask');
      observe?.(task);
    }
    return task;
  }

  #sendParams(target: RemoteTarget, message: OutgoingMessage): Record<string, unknown> {
    return {
      ...tenantOf(target),
      message: {
        messageId: randomUUID(),
        role: 'ROLE_USER',
        parts: message.parts,
        ...(message.contextId === undefined ? {} : { contextId: message.contextId }),
        ...(message.metadata === undefined ? {} : { metadata: message.metadata }),
      },
    };
  }

  async #call(
    target: RemoteTarget,
    method: string,
    params: unknown,
    signal: AbortSignal,
  ): Promise<unknown> {
    const id = randomUUID();
    const response = await this.#post(target, method, params, id, signal, 'application/json');
    return answerOf(target.url, response, await textOf(response), id);
  }

  #post(
    target: RemoteTarget,
    method: string,
    params: unknown,
    id: string,
    signal: AbortSignal,
    accept: string,
  ): Promise<RemoteResponse> {
    return remoteCall(
      {
        method: 'POST',
        url: target.url,
        headers: {
          'content-type': 'application/json',
          accept,
          [A2A_VERSION_HEADER]: A2A_PROTOCOL_VERSION,
        },
        body: JSON.stringify({ jsonrpc: '2.0', id, method, params }),
        signal,
        maxBytes: this.#maxBytes,
      },
      this.#policy,
    );
  }
}

/** States a task may still leave by itself: the remote is working on it. */
export function isUnderway(state: string): boolean {
  return state === 'TASK_STATE_SUBMITTED' || state === 'TASK_STATE_WORKING';
}

function tenantOf(target: RemoteTarget): { tenant?: string } {
  return target.tenant ? { tenant: target.tenant } : {};
}

/**
 * A status other than 2xx: busy or broken on its side (408, 429, 5xx) may pass; anything else is
 * an answer that trying again will not change.
 */
function assertOk(url: string, response: RemoteResponse): void {
  const { status } = response;
  if (status >= 200 && status < 300) return;
  const retryable = status === 408 || status === 429 || status >= 500;
  throw new RemoteCallError(`${url} answered HTTP ${status}`, { retryable, status });
}

/**
 * The result of a JSON-RPC answer, or its error as RemoteRpcError whatever the HTTP status: some
 * servers send their JSON-RPC errors with a 4xx or 5xx, and the error's code says more than the
 * status does (-32602 will not pass by trying again, whatever a 500 suggests). A body that is no
 * JSON-RPC error is judged by its status first (assertOk), then must be a JSON-RPC answer.
 */
function answerOf(url: string, response: RemoteResponse, text: string, id: string): unknown {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  const failed = rpcErrorSchema.safeParse(body);
  if (failed.success)
    throw new RemoteRpcError(url, failed.data.error.code, failed.data.error.message);
  assertOk(url, response);
  return resultOf(url, parseJson(url, text), id);
}

function parseJson(url: string, text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new RemoteProtocolError(
      `${url} answered something that is not JSON: ${text.slice(0, 200)}`,
    );
  }
}

/** The result of a JSON-RPC answer to request `id`; its error as RemoteRpcError. */
function resultOf(url: string, body: unknown, id: string): unknown {
  const failed = rpcErrorSchema.safeParse(body);
  if (failed.success)
    throw new RemoteRpcError(url, failed.data.error.code, failed.data.error.message);
  const parsed = rpcResultSchema.safeParse(body);
  if (!parsed.success || !('result' in parsed.data))
    throw new RemoteProtocolError(`${url} answered something that is not a JSON-RPC 2.0 response`);
  const response = parsed.data;
  if (response.id !== id)
    throw new RemoteProtocolError(
      `${url} answered request ${String(response.id)} instead of ${id}`,
    );
  return response.result;
}

function parseResult<S extends z.ZodType>(
  url: string,
  schema: S,
  result: unknown,
  method: string,
): z.output<S> {
  const parsed = schema.safeParse(result);
  if (parsed.success) return parsed.data;
  throw new RemoteProtocolError(
    `${url} answered ${method} with something that is not A2A ${A2A_PROTOCOL_VERSION}: ${describeIssues(toFieldIssues(parsed.error))}`,
  );
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
