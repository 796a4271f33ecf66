import type { JsonValue } from '../core/sdk/json-output.ts';
import { EventTooLargeError } from '../core/streaming/dynamo-event-log.ts';
import type { CoordinationEventLog } from '../core/streaming/event-log.ts';
import type { CoordinationEvent, CoordinationEventInput } from '../core/streaming/events.ts';
import { TASK_STATES, type TaskStateName } from './protocol.ts';

/**
 * Where A2A tasks are kept so that GetTask and CancelTask work from any instance of the API (on
 * AWS each request may reach another Lambda environment): the coordination event log, which every
 * deployment has. A task is a small item collection of its own, keyed `a2a-task:<taskId>`, written
 * as the log's step events — a task is one step, taken by its agent, named by its contextId:
 *
 * - `step.started`: the task is working (a streamed task logs it as it starts; a task answered in
 *   one piece logs it with its end, as nobody can ask for it before its answer names it);
 * - with it, in the same append, a `step.chunk` of the step `a2a.sender` whose text is the
 *   principal that sent the message: the task is that caller's (and operators'), and GetTask and
 *   CancelTask by anyone else find no such task;
 * - `step.succeeded`: completed, with the agent's output (`outputOmitted` when it was too large
 *   for the log: the caller got it, GetTask cannot give it);
 * - `step.failed`: failed, `error` the Mobius error code and `cause` its message — or canceled,
 *   when `error` is CANCELED_ERROR (CancelTask, or a streaming client that went away).
 *
 * The first end logged (by id) is the task's end: a cancel logged while the agent was finishing
 * wins over the success logged after it, and the other way round — CancelTask decides once every
 * id below its cancel's is written (`settled`), and a stream reads its task back so (once, after
 * logging its own end) before it tells its client that end. Events expire with the log (7 days).
 * No `coordination.started` is written, so tasks never show in GET /coordinations.
 */
export const CANCELED_ERROR = 'A2A.TaskCanceled';

/** The tasks' item collections in the event log: apart from coordinations (UUIDs). */
const KEY_PREFIX = 'a2a-task:';

/**
 * Whether `id` names a task's collection in the event log rather than a coordination's: the
 * coordination routes, which read the same log by any id, answer 404 for it (a task is its
 * sender's, which those routes do not check).
 */
export function isTaskLogKey(id: string): boolean {
  return id.startsWith(KEY_PREFIX);
}

/** The step whose one chunk names the task's sender (see above). */
const SENDER_STEP = 'a2a.sender';

/** Every event a task can have, with room for cancels sent together: one small read. */
const READ_LIMIT = 16;

/**
 * How long `settled` waits for an event whose id was taken but whose item is not written yet, and
 * how often it reads again meanwhile. An append takes its ids first and writes them a moment
 * later, so such a gap closes within milliseconds — unless its writer died, which the wait bounds.
 */
const SETTLE_WAIT_MS = 2000;
const SETTLE_POLL_MS = 50;

export interface TaskIdentity {
  readonly taskId: string;
  readonly agentId: string;
  readonly contextId: string;
}

/** A task as it starts: whose it is too. */
export interface NewTask extends TaskIdentity {
  /** The authenticated caller that sent the message (the Mobius message's `sender`). */
  readonly sender: string;
}

/** How a task ended, as the A2A endpoint sees it. */
export type TaskOutcome =
  | { readonly state: 'completed'; readonly output: JsonValue; readonly durationMs: number }
  | { readonly state: 'failed'; readonly code: string; readonly message: string }
  | { readonly state: 'canceled'; readonly message: string };

/** A task as the log has it. */
export interface TaskRecord extends TaskIdentity {
  readonly state: TaskStateName;
  /** When its end (or, while it works, its start) was logged. */
  readonly updatedAt: string;
  /** Completed: the agent's output, unless `outputOmitted`. */
  readonly output?: JsonValue;
  readonly outputOmitted?: boolean;
  /** Failed or canceled: why, as its status message says it. */
  readonly reason?: { readonly code: string; readonly message: string };
  /** Who sent its message; undefined for a task logged without one (operators' only). */
  readonly sender?: string;
  /** The id of its last event read: where a watcher goes on from. */
  readonly lastEventId: number;
}

export class TaskLog {
  readonly #events: CoordinationEventLog | undefined;

  /** Without an event log (no MOBIUS_EVENTS_TABLE) nothing is kept and no task is found. */
  constructor(events: CoordinationEventLog | undefined) {
    this.#events = events;
  }

  /** Whether tasks are kept at all. */
  get keeps(): boolean {
    return this.#events !== undefined;
  }

  /** Logs a streamed task's start; returns the id of its last event (a watcher reads after it). */
  async begin(task: NewTask): Promise<number> {
    if (this.#events === undefined) return 0;
    const logged = await this.#events.append(keyOf(task.taskId), startEvents(task));
    return logged.at(-1)?.id ?? 0;
  }

  /**
   * Logs a task's end; a task answered in one piece (`start` given: the task with its sender) its
   * start too, in the same append. Returns the id of the end's event (undefined without a log).
   */
  async end(
    task: TaskIdentity,
    outcome: TaskOutcome,
    options: { start?: NewTask } = {},
  ): Promise<number | undefined> {
    const events = this.#events;
    if (events === undefined) return undefined;
    const { start } = options;
    const append = (end: CoordinationEventInput) =>
      events.append(keyOf(task.taskId), start ? [...startEvents(start), end] : [end]);
    try {
      return (await append(endEvent(task, outcome))).at(-1)?.id;
    } catch (error) {
      if (!(error instanceof EventTooLargeError) || outcome.state !== 'completed') throw error;
      const logged = await append({
        type: 'step.succeeded',
        stepId: task.contextId,
        agentId: task.agentId,
        output: null,
        durationMs: outcome.durationMs,
        outputOmitted: true,
      });
      return logged.at(-1)?.id;
    }
  }

  async get(taskId: string): Promise<TaskRecord | undefined> {
    if (this.#events === undefined) return undefined;
    return recordOf(taskId, await this.#events.read(keyOf(taskId), { limit: READ_LIMIT }));
  }

  /**
   * The task once every event up to id `through` can be read: which end came first is only known
   * when no end below `through` is still on its way. (An end whose id was taken before a cancel's,
   * written after it, would otherwise lose to the cancel on this read and win on every later one.)
   * Waits at most SETTLE_WAIT_MS for missing ids, then answers from what is there.
   */
  async settled(taskId: string, through: number): Promise<TaskRecord | undefined> {
    const events = this.#events;
    if (events === undefined) return undefined;
    const limit = Math.max(READ_LIMIT, through);
    const until = Date.now() + SETTLE_WAIT_MS;
    for (;;) {
      const read = await events.read(keyOf(taskId), { limit });
      const ids = new Set(read.map((event) => event.id));
      let complete = true;
      for (let id = 1; id <= through && complete; id++) complete = ids.has(id);
      if (complete || Date.now() >= until) return recordOf(taskId, read);
      await new Promise((resolve) => setTimeout(resolve, SETTLE_POLL_MS));
    }
  }

  /**
   * Resolves with the reason once a cancel of the task is logged after event `after` (by
   * CancelTask on this instance or another); with undefined when `signal` aborts first or the log
   * cannot be read (the task then runs to its end, as it would have).
   */
  async canceled(
    task: TaskIdentity,
    after: number,
    signal: AbortSignal,
  ): Promise<string | undefined> {
    if (this.#events === undefined) return undefined;
    try {
      for await (const event of this.#events.follow(keyOf(task.taskId), { after, signal }))
        if (event.type === 'step.failed' && event.error === CANCELED_ERROR)
          return event.cause ?? 'canceled';
    } catch {
      // A log that fails under a watcher cannot cancel anything; the stream goes on.
    }
    return undefined;
  }
}

function keyOf(taskId: string): string {
  return `${KEY_PREFIX}${taskId}`;
}

function startEvents(task: NewTask): CoordinationEventInput[] {
  return [
    { type: 'step.started', stepId: task.contextId, agentId: task.agentId },
    {
      type: 'step.chunk',
      stepId: SENDER_STEP,
      agentId: task.agentId,
      chunk: { seq: 0, text: task.sender },
    },
  ];
}

function endEvent(task: TaskIdentity, outcome: TaskOutcome): CoordinationEventInput {
  const step = { stepId: task.contextId, agentId: task.agentId };
  switch (outcome.state) {
    case 'completed':
      return {
        type: 'step.succeeded' as const,
        ...step,
        output: outcome.output,
        durationMs: outcome.durationMs,
      };
    case 'failed':
      return { type: 'step.failed' as const, ...step, error: outcome.code, cause: outcome.message };
    case 'canceled':
      return {
        type: 'step.failed' as const,
        ...step,
        error: CANCELED_ERROR,
        cause: outcome.message,
      };
  }
}

/** The task its events describe: working from its start, ended by its first end. */
function recordOf(taskId: string, events: readonly CoordinationEvent[]): TaskRecord | undefined {
  const started = events.find((event) => event.type === 'step.started');
  if (started === undefined || started.type !== 'step.started') return undefined;
  const owner = events.find((event) => event.type === 'step.chunk' && event.stepId === SENDER_STEP);
  const sender =
    owner?.type === 'step.chunk' && 'text' in owner.chunk ? { sender: owner.chunk.text } : {};
  const identity = { taskId, agentId: started.agentId, contextId: started.stepId, ...sender };
  const lastEventId = events.at(-1)?.id ?? started.id;
  for (const event of events) {
    if (event.type === 'step.succeeded')
      return {
        ...identity,
        state: TASK_STATES.completed,
        updatedAt: event.time,
        output: event.output,
        ...(event.outputOmitted ? { outputOmitted: true } : {}),
        lastEventId,
      };
    if (event.type === 'step.failed') {
      const canceled = event.error === CANCELED_ERROR;
      return {
        ...identity,
        state: canceled ? TASK_STATES.canceled : TASK_STATES.failed,
        updatedAt: event.time,
        reason: { code: canceled ? 'CANCELED' : event.error, message: event.cause ?? event.error },
        lastEventId,
      };
    }
  }
  return { ...identity, state: TASK_STATES.working, updatedAt: started.time, lastEventId };
}
