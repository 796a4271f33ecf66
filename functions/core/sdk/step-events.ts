import type { Logger } from '@aws-lambda-powertools/logger';
import type { TaskRequest } from '../model/task.ts';
import type { StreamChunk } from '../streaming/chunks.ts';
import {
  DynamoEventLog,
  EventTooLargeError,
  eventBytes,
  MAX_EVENT_BYTES,
} from '../streaming/dynamo-event-log.ts';
import type { CoordinationEventLog, EventWriter } from '../streaming/event-log.ts';
import { createEventWriter } from '../streaming/event-writer.ts';
import type { CoordinationEvent, CoordinationEventInput } from '../streaming/events.ts';
import type { ChunkSink } from './chunk-pump.ts';
import { AGENT_ENVIRONMENT } from './environment.ts';
import type { JsonValue } from './json-output.ts';
import { isSupervisorTask, supervisorRound } from './supervisor-decision.ts';

/** The fields every event of one step attempt carries. */
interface StepFields {
  readonly stepId: string;
  readonly agentId: string;
  readonly candidate?: number;
  readonly attempt?: number;
  readonly round?: number;
}

/** The most characters of an error message a step.failed event carries when the whole would not fit. */
const MAX_LOGGED_CAUSE_CHARS = 32 * 1024;

/**
 * What one agent reports to the coordination event log while it works on one task: how the step
 * started (`step.started`, `step.fallback` for a fallback candidate's first try, `step.retried`
 * from the second try of a candidate on), each chunk (`step.chunk`), and how it ended
 * (`step.succeeded` or `step.failed`), through one batched, back-pressured EventWriter.
 *
 * The log is for watching a run; the task's result travels through Step Functions whatever happens
 * to it. So a failing log never fails the task, but it is never quiet either: once it fails, no
 * more is written for this step, and when the step ends a warning says how many events were lost.
 * A chunk too large for the log is refused on its own and the writer goes on: it counts as lost,
 * and the step's other events are still written.
 * How a step ends always fits the log (an output too large for it is left out, a long error
 * message cut), so watchers see every step end.
 */
class StepEvents implements TaskEvents {
  readonly #writer: EventWriter | undefined;
  readonly #fields: StepFields;
  readonly #logger: Logger;
  readonly #where: Readonly<Record<string, unknown>>;
  /** The first failure of the log; from then on events are counted, not written. */
  #failure: unknown;
  /** The first event the log refused as too large: lost on its own, the rest still written. */
  #refused: EventTooLargeError | undefined;
  /** Every event this step made, and those the log confirmed: the difference was lost. */
  #made = 0;
  #written = 0;

  private constructor(
    log: CoordinationEventLog | undefined,
    coordinationId: string,
    fields: StepFields,
    logger: Logger,
  ) {
    // The writer appends through this log, which counts what was written: with the events made,
    // that says exactly how many were lost, whatever batch failed.
    this.#writer =
      log === undefined
        ? undefined
        : createEventWriter(
            countingAppends(log, (written) => {
              this.#written += written;
            }),
            coordinationId,
          );
    this.#fields = fields;
    this.#logger = logger;
    this.#where = { coordinationId, stepId: fields.stepId };
  }

  /**
   * Counts this start of the step's candidate (in its round, for a hierarchical supervisor) and
   * reports it. Resolves once the start is buffered; never rejects.
   */
  static async begin(options: {
    readonly log: CoordinationEventLog;
    readonly task: TaskRequest;
    readonly agentId: string;
    /** A hierarchical supervisor's round: part of the key, since each round starts it anew. */
    readonly round?: number;
    readonly logger: Logger;
  }): Promise<StepEvents> {
    const { log, task, agentId, round, logger } = options;
    const candidate = task.candidate ?? 0;
    const key = `${task.stepId}#${candidate}${round === undefined ? '' : `#r${round}`}`;
    let attempt: number;
    try {
      // What the log costs every step, watched or not: this count (one UpdateItem) before the
      // handler runs, and the step's last batch (an UpdateItem and a PutItem, see DynamoEventLog)
      // awaited before its result returns — about three DynamoDB round trips on the step's own
      // time. The count is of starts, whatever made the step start again: a Step Functions retry,
      // but also an SQS redelivery of a standard task whose Lambda timed out or crashed before it
      // answered (its message became visible again), which watchers see as step.retried too.
      attempt = await log.countStart(task.coordinationId, key);
    } catch (error) {
      // Without the count a start cannot be told from a retry: nothing is written for this step.
      const events = new StepEvents(
        undefined,
        task.coordinationId,
        { stepId: task.stepId, agentId },
        logger,
      );
      events.#failed(error);
      events.#made++; // its start
      return events;
    }
    const fields: StepFields = {
      stepId: task.stepId,
      agentId,
      ...(task.candidate === undefined ? {} : { candidate: task.candidate }),
      attempt,
      ...(round === undefined ? {} : { round }),
    };
    const events = new StepEvents(log, task.coordinationId, fields, logger);
    const type = attempt > 1 ? 'step.retried' : candidate > 0 ? 'step.fallback' : 'step.started';
    await events.#push({ type, ...fields });
    return events;
  }

  /** The sink for the task's chunks. */
  readonly chunk = (chunk: StreamChunk): Promise<void> =>
    this.#push({ type: 'step.chunk', ...this.#fields, chunk });

  /**
   * Reports the output and ends the step's events: resolves once they are written (or lost). An
   * output too large for one log item is left out (`outputOmitted`) rather than the event refused
   * with the last chunks batched with it: watchers still see every chunk and the step's end. (Such
   * an output is larger than Step Functions takes, too: the run goes on to report that.)
   */
  async succeeded(output: JsonValue, durationMs: number): Promise<void> {
    const event: CoordinationEventInput = {
      type: 'step.succeeded',
      ...this.#fields,
      output,
      durationMs,
    };
    await this.#push(
      eventBytes(event) <= MAX_EVENT_BYTES
        ? event
        : { ...event, output: null, outputOmitted: true },
    );
    await this.#close();
  }

  /**
   * Reports the error the state machine sees (its name and message) and ends the step's events. A
   * message too long for one log item is cut to its first MAX_LOGGED_CAUSE_CHARS characters.
   */
  async failed(error: Error): Promise<void> {
    const event: CoordinationEventInput = {
      type: 'step.failed',
      ...this.#fields,
      error: error.name,
      cause: error.message,
    };
    await this.#push(
      eventBytes(event) <= MAX_EVENT_BYTES
        ? event
        : { ...event, cause: `${error.message.slice(0, MAX_LOGGED_CAUSE_CHARS)}… (cut)` },
    );
    await this.#close();
  }

  async #push(event: CoordinationEventInput): Promise<void> {
    this.#made++;
    if (this.#writer === undefined || this.#failure !== undefined) return;
    try {
      await this.#writer.push(event);
    } catch (error) {
      // The writer refuses such an event before buffering it and carries on (createEventWriter).
      if (error instanceof EventTooLargeError) this.#refused ??= error;
      else this.#failed(error);
    }
  }

  async #close(): Promise<void> {
    if (this.#writer !== undefined && this.#failure === undefined) {
      try {
        await this.#writer.close();
      } catch (error) {
        this.#failed(error);
      }
    }
    const lost = this.#made - this.#written;
    if (lost <= 0) return;
    this.#logger.warn(
      `the coordination event log lost ${lost} of this step's ${this.#made} events; the task's ` +
        'result is unaffected (it travels through Step Functions), but watchers of the run miss them',
      { ...this.#where, lostEvents: lost, error: this.#failure ?? this.#refused },
    );
  }

  #failed(error: unknown): void {
    this.#failure ??= error;
    this.#logger.warn(
      'the coordination event log failed; no more events of this step are written',
      {
        ...this.#where,
        error,
      },
    );
  }
}

/** `log`, telling `onWritten` how many events each append wrote. */
function countingAppends(
  log: CoordinationEventLog,
  onWritten: (count: number) => void,
): CoordinationEventLog {
  return {
    append: async (coordinationId, events): Promise<readonly CoordinationEvent[]> => {
      const written = await log.append(coordinationId, events);
      onWritten(events.length);
      return written;
    },
    countStart: (coordinationId, key) => log.countStart(coordinationId, key),
    finishedId: (coordinationId, options) => log.finishedId(coordinationId, options),
    read: (coordinationId, options) => log.read(coordinationId, options),
    follow: (coordinationId, options) => log.follow(coordinationId, options),
    list: (query) => log.list(query),
  };
}

/** What a task reports as it goes: its chunks, then how it ended. Never rejects. */
export interface TaskEvents {
  readonly chunk: ChunkSink;
  succeeded(output: JsonValue, durationMs: number): Promise<void>;
  failed(error: Error): Promise<void>;
}

/**
 * An agent's reporting of its coordination tasks. The log is the one given in the dependencies,
 * none when `false`, else a DynamoEventLog on MOBIUS_EVENTS_TABLE when the environment names one
 * (the CDK Agent construct and the embedded runtime do). Without a log a task's chunks only fold
 * into its final output, which a debug line says once per container.
 */
export class TaskEventReporter {
  readonly #log: CoordinationEventLog | undefined;
  readonly #agentId: string;
  readonly #logger: Logger;
  #saidNoLog = false;

  constructor(option: CoordinationEventLog | false | undefined, agentId: string, logger: Logger) {
    const tableName = process.env[AGENT_ENVIRONMENT.eventsTable];
    this.#log =
      option === false
        ? undefined
        : (option ?? (tableName ? new DynamoEventLog({ tableName }) : undefined));
    this.#agentId = agentId;
    this.#logger = logger;
  }

  /** Reports the start of `task` (counted: a start, a fallback's start or a retry). */
  begin(task: TaskRequest): Promise<TaskEvents> {
    if (this.#log === undefined) return Promise.resolve(this.#foldOnly);
    return StepEvents.begin({
      log: this.#log,
      task,
      agentId: this.#agentId,
      ...(isSupervisorTask(task) ? { round: supervisorRound(task) } : {}),
      logger: this.#logger,
    });
  }

  readonly #foldOnly: TaskEvents = {
    chunk: async () => {
      if (this.#saidNoLog) return;
      this.#saidNoLog = true;
      this.#logger.debug(
        `no coordination event log (${AGENT_ENVIRONMENT.eventsTable} is not set): a task's ` +
          'chunks only fold into its final output',
      );
    },
    succeeded: async () => undefined,
    failed: async () => undefined,
  };
}
