import { EventTooLargeError, eventBytes, MAX_EVENT_BYTES } from './dynamo-event-log.ts';
import type { CoordinationEventLog, EventWriter } from './event-log.ts';
import type { CoordinationEventInput } from './events.ts';

export interface EventWriterOptions {
  /** Append once this many events are buffered; default 100. */
  readonly batchEvents?: number;
  /** Append once this many bytes of event JSON are buffered; default 64 KB. */
  readonly batchBytes?: number;
  /** The first batch is appended this long after its first event at the latest; default 20 ms. */
  readonly firstLingerMs?: number;
  /** Later batches: this long after their first event at the latest; default 100 ms. */
  readonly lingerMs?: number;
  /** push() waits while this many events are buffered; default 1 000. */
  readonly highWaterEvents?: number;
  /** push() waits while this many bytes are buffered; default 1 MB. */
  readonly highWaterBytes?: number;
  /** push() refuses an event of more JSON bytes than this; default MAX_EVENT_BYTES (one item). */
  readonly maxEventBytes?: number;
}

const DEFAULTS = {
  batchEvents: 100,
  batchBytes: 64 * 1024,
  firstLingerMs: 20,
  lingerMs: 100,
  highWaterEvents: 1_000,
  highWaterBytes: 1024 * 1024,
  maxEventBytes: MAX_EVENT_BYTES,
} as const;

/**
 * One writer's events for one coordination (an agent's step), appended in order and in batches:
 * when 100 events or 64 KB are buffered, on close, and otherwise after a linger — 20 ms for the
 * first batch (the first chunk reaches watchers quickly), 100 ms for later ones. One append is in
 * flight at a time, so batches land in the order they were pushed; what arrives meanwhile goes
 * out with the next one. With the DynamoEventLog a batch costs two writes: a fast stream of small
 * chunks costs about 2 writes per 100 events, and an LLM's tokens (one every 20–50 ms) go about
 * five to a batch instead of one — a fifth of the writes, for at most 100 ms more delay.
 *
 * An event too large for the log is refused at push, on its own (EventTooLargeError): the events
 * buffered with it are still appended and the writer goes on, whereas inside a batch it would fail
 * the whole append and, with it, the writer.
 */
export function createEventWriter(
  log: Pick<CoordinationEventLog, 'append'>,
  coordinationId: string,
  options: EventWriterOptions = {},
): EventWriter {
  return new BatchingEventWriter(log, coordinationId, { ...DEFAULTS, ...options });
}

class BatchingEventWriter implements EventWriter {
  readonly #log: Pick<CoordinationEventLog, 'append'>;
  readonly #coordinationId: string;
  readonly #options: Required<EventWriterOptions>;
  #buffer: CoordinationEventInput[] = [];
  #bytes = 0;
  #inFlight: Promise<void> | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;
  /** The linger time ran out while an append was in flight: the next batch goes at once. */
  #due = false;
  /** A batch has gone out: later ones linger longer (see createEventWriter). */
  #appended = false;
  #closing: Promise<void> | undefined;
  #failure: { readonly error: unknown } | undefined;

  constructor(
    log: Pick<CoordinationEventLog, 'append'>,
    coordinationId: string,
    options: Required<EventWriterOptions>,
  ) {
    this.#log = log;
    this.#coordinationId = coordinationId;
    this.#options = options;
  }

  async push(event: CoordinationEventInput): Promise<void> {
    this.#throwIfFailed();
    if (this.#closing !== undefined)
      throw new Error(`The event writer of coordination ${this.#coordinationId} is closed`);
    const bytes = eventBytes(event);
    if (bytes > this.#options.maxEventBytes) throw new EventTooLargeError(event.type, bytes);
    this.#buffer.push(event);
    this.#bytes += bytes;
    if (this.#full()) this.#flush();
    else this.#timer ??= setTimeout(() => this.#lingered(), this.#linger());
    // Back-pressure: a producer faster than the log waits here, so the buffer stays bounded.
    while (this.#overHighWater() && this.#failure === undefined) {
      this.#flush();
      await this.#inFlight;
    }
    this.#throwIfFailed();
  }

  close(): Promise<void> {
    this.#closing ??= this.#drain();
    return this.#closing;
  }

  async #drain(): Promise<void> {
    while (
      this.#failure === undefined &&
      (this.#inFlight !== undefined || this.#buffer.length > 0)
    ) {
      this.#flush();
      await this.#inFlight;
    }
    this.#clearTimer();
    this.#throwIfFailed();
  }

  #lingered(): void {
    this.#timer = undefined;
    this.#due = true;
    this.#flush();
  }

  /** Starts an append of everything buffered, unless one is in flight (it starts the next). */
  #flush(): void {
    if (this.#inFlight !== undefined || this.#buffer.length === 0 || this.#failure !== undefined)
      return;
    const batch = this.#buffer;
    this.#buffer = [];
    this.#bytes = 0;
    this.#due = false;
    this.#appended = true;
    this.#clearTimer();
    this.#inFlight = this.#log.append(this.#coordinationId, batch).then(
      () => {
        this.#inFlight = undefined;
        if (this.#buffer.length === 0) return;
        if (this.#due || this.#full() || this.#closing !== undefined) this.#flush();
        else this.#timer ??= setTimeout(() => this.#lingered(), this.#linger());
      },
      (error: unknown) => {
        this.#inFlight = undefined;
        this.#failure = { error };
        this.#clearTimer();
      },
    );
  }

  #linger(): number {
    return this.#appended ? this.#options.lingerMs : this.#options.firstLingerMs;
  }

  #full(): boolean {
    return (
      this.#buffer.length >= this.#options.batchEvents || this.#bytes >= this.#options.batchBytes
    );
  }

  #overHighWater(): boolean {
    return (
      this.#buffer.length >= this.#options.highWaterEvents ||
      this.#bytes >= this.#options.highWaterBytes
    );
  }

  #clearTimer(): void {
    if (this.#timer === undefined) return;
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #throwIfFailed(): void {
    if (this.#failure !== undefined) throw this.#failure.error;
  }
}
