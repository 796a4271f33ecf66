/**
 * A coordination's page: its state-machine graph and timeline tree, kept live from
 * GET /coordinations/{id}/events (a late page gets the replay from the start; a dropped or refused
 * connection is opened again after the last event seen, waiting longer after each failure in a
 * row, up to 30 s), its result once finished, and Cancel for a running standard run. Where the API
 * keeps no events the page reads GET /coordinations/{id} instead, and keeps reading it through
 * failures the same way. Only a refusal that will not change (an unknown run, no permission) stops
 * it.
 */
import { useEffect, useState } from 'preact/hooks';
import { readSse } from '../../functions/core/streaming/sse.ts';
import { durationText } from '../../functions/core/time-text.ts';
import { ApiFailure, call, chunksOf, failureOf, messageOf, openEvents, segment } from './api.ts';
import { afterEventsAnswer, backoffMs, type Next, retryText, transient } from './follow.ts';
import { json } from './format.ts';
import { GraphView } from './graph-view.tsx';
import { useNow } from './hooks.ts';
import type { Notify } from './notify.ts';
import {
  applyEvents,
  EVENT_TYPES,
  emptyTimeline,
  type RunTimeline,
  timelineFromResult,
} from './timeline.ts';
import { TimelineView } from './timeline-view.tsx';
import type { CoordinationCancelled, CoordinationEvent, CoordinationStatus } from './types.ts';

/**
 * live: following; ended: the run finished (its last event came); polling: no events here, its
 * status read instead; stopped: refused for good (the problem says why).
 */
type Feed = 'connecting' | 'live' | 'ended' | 'polling' | 'stopped';

const BATCH_MS = 50;
const POLL_MS = 2000;
const KNOWN_EVENTS: ReadonlySet<string> = new Set(EVENT_TYPES);

export function RunPage({ id, notify }: { id: string; notify: Notify }) {
  const [run, setRun] = useState<RunTimeline>(emptyTimeline);
  const [feed, setFeed] = useState<Feed>('connecting');
  const [problem, setProblem] = useState<string | undefined>(undefined);
  const [startedAt, setStartedAt] = useState<string | undefined>(undefined);
  const [cancelling, setCancelling] = useState(false);
  const path = `/coordinations/${segment(id)}`;

  // The events, applied in small batches: a fast run's replay renders once, not per event.
  useEffect(() => {
    setRun(emptyTimeline());
    setFeed('connecting');
    setProblem(undefined);
    const leaving = new AbortController();
    let pending: CoordinationEvent[] = [];
    let timer: ReturnType<typeof setTimeout> | undefined;
    const flush = () => {
      timer = undefined;
      const batch = pending;
      pending = [];
      setRun((current) => applyEvents(current, batch));
    };
    /** Waits `ms`, or less if the page leaves. */
    const pause = (ms: number) =>
      new Promise<void>((resolve) => {
        const wait = setTimeout(resolve, ms);
        leaving.signal.addEventListener(
          'abort',
          () => {
            clearTimeout(wait);
            resolve();
          },
          { once: true },
        );
      });

    /** The run's status, read every POLL_MS while it runs: for an API that keeps no events. */
    const poll = async () => {
      setFeed('polling');
      let failures = 0;
      while (!leaving.signal.aborted) {
        try {
          const status = await call<CoordinationStatus>('GET', path, undefined, leaving.signal);
          failures = 0;
          setProblem(undefined);
          if (status.status !== 'running') {
            setRun(timelineFromResult(status));
            return;
          }
          setStartedAt((status as { startedAt?: string }).startedAt);
          await pause(POLL_MS);
        } catch (error) {
          if (leaving.signal.aborted) return;
          const status = error instanceof ApiFailure ? error.status : 0;
          if (!transient(status)) {
            setProblem(messageOf(error));
            setFeed('stopped');
            return;
          }
          failures += 1;
          const delay = backoffMs(failures);
          setProblem(retryText(messageOf(error), delay));
          await pause(delay);
        }
      }
    };

    /** The events from the last one seen, read as they come; opened again until the run ends. */
    const follow = async () => {
      let last = 0;
      let seen = false;
      let failures = 0;
      while (!leaving.signal.aborted) {
        const attempt = new AbortController();
        const stop = () => attempt.abort();
        leaving.signal.addEventListener('abort', stop, { once: true });
        const opened = await openEvents(`${path}/events`, last, attempt.signal);
        let next: Next;
        let why: string;
        if ('stream' in opened) {
          setFeed('live');
          setProblem(undefined);
          failures = 0;
          try {
            for await (const message of readSse(chunksOf(opened.stream))) {
              if (message.event === 'error') {
                // The API's own error event; the stream ends after it, and is opened again.
                setProblem(failureOf('GET', `${path}/events`, 500, message.data).message);
                continue;
              }
              if (!KNOWN_EVENTS.has(message.event)) continue;
              const event = message.data as CoordinationEvent;
              seen = true;
              if (typeof event.id === 'number') last = event.id;
              pending.push(event);
              timer ??= setTimeout(flush, BATCH_MS);
              if (event.type === 'coordination.finished') {
                setFeed('ended');
                return;
              }
            }
            why = 'The event stream ended before the run did';
          } catch (error) {
            why = `The event stream broke (${messageOf(error)})`;
          } finally {
            attempt.abort();
            leaving.signal.removeEventListener('abort', stop);
          }
          if (leaving.signal.aborted) return;
          failures += 1;
          next = { kind: 'retry', delayMs: backoffMs(failures) };
        } else {
          leaving.signal.removeEventListener('abort', stop);
          if (leaving.signal.aborted) return;
          failures += 1;
          next = afterEventsAnswer(opened.status, opened.failure.code, failures, seen);
          why = opened.failure.message;
        }
        if (next.kind === 'ended') {
          setFeed('ended');
          return;
        }
        if (next.kind === 'poll') return poll();
        if (next.kind === 'stop') {
          setProblem(why);
          setFeed('stopped');
          return;
        }
        setFeed('connecting');
        // A stream that simply ended (the API's time is up) is reopened without a word.
        if (failures > 1 || !('stream' in opened)) setProblem(retryText(why, next.delayMs));
        await pause(next.delayMs);
      }
    };
    void follow();
    return () => {
      leaving.abort();
      clearTimeout(timer);
    };
  }, [path]);

  const running = run.state === 'running' || run.state === 'waiting';
  const now = useNow(250, running && feed !== 'polling');
  const cancel = async () => {
    setCancelling(true);
    try {
      const answer = await call<CoordinationCancelled>('DELETE', path);
      notify('ok', `${answer.coordinationId} ${answer.status}.`);
    } catch (error) {
      notify('error', messageOf(error));
    } finally {
      setCancelling(false);
    }
  };
  const result = run.result;
  const total = result?.timings.totalMs;
  return (
    <section data-testid="run-page">
      <p class="small">
        <a href="#/coordinations">← coordinations</a>
      </p>
      <h2 class="run-title">
        <span class="mono" data-testid="run-id">
          {id}
        </span>
      </h2>
      <div class="toolbar">
        <span class={`badge run-${run.state}`} data-testid="run-status" data-state={run.state}>
          {run.state === 'waiting' ? 'loading' : run.state}
        </span>
        {run.pattern && <span class="chip">{run.pattern}</span>}
        {run.mode && <span class="chip">{run.mode}</span>}
        <span class="quiet small" data-testid="run-feed" data-state={feed}>
          {feed === 'live'
            ? '● live'
            : feed === 'connecting'
              ? 'connecting…'
              : feed === 'polling'
                ? 'events unavailable: reading its status'
                : feed === 'stopped'
                  ? 'not following'
                  : 'finished'}
        </span>
        {total !== undefined && (
          <span class="quiet small">
            {durationText(total)} in all, {durationText(result?.timings.overheadMs)} of it
            coordination
          </span>
        )}
        {startedAt !== undefined && run.state === 'waiting' && (
          <span class="quiet small">started {startedAt}</span>
        )}
        {run.mode === 'standard' && running && (
          <button
            type="button"
            class="danger"
            data-testid="run-cancel"
            disabled={cancelling}
            onClick={cancel}
          >
            {cancelling ? 'Cancelling…' : 'Cancel'}
          </button>
        )}
      </div>
      {problem && (
        <p class="problem" data-testid="run-problem">
          {problem}
        </p>
      )}
      <div class="run-body">
        <div class="panel">
          <h3>Graph</h3>
          <GraphView run={run} />
        </div>
        <div class="panel grow">
          <h3>Timeline</h3>
          <TimelineView run={run} now={now} />
        </div>
      </div>
      {result && (
        <div class="panel" data-testid="run-result">
          <h3>Result</h3>
          {result.errors.length > 0 && (
            <ul class="errors">
              {result.errors.map((e, i) => (
                <li key={`${i}`}>
                  <strong>{e.agentId ?? 'coordination'}</strong>
                  {e.stepId ? ` (${e.stepId})` : ''}: {e.error}
                  {e.cause ? ` — ${e.cause}` : ''}
                </li>
              ))}
            </ul>
          )}
          {result.standIns.length > 0 && (
            <ul class="small">
              {result.standIns.map((s) => (
                <li key={s.stepId}>
                  {s.agentId} stood in for {s.requested} on {s.stepId} ({s.reason})
                </li>
              ))}
            </ul>
          )}
          <details open>
            <summary>output</summary>
            <pre>{json(result.output)}</pre>
          </details>
        </div>
      )}
    </section>
  );
}
