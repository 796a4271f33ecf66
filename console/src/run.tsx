/**
 * A coordination's page: its state-machine graph and timeline tree, kept live from
 * GET /coordinations/{id}/events (EventSource: a late page gets the replay from the start, a
 * dropped connection resumes with Last-Event-ID), its result once finished, and Cancel for a
 * running standard run. Without its events (expired, or an API without an event log) the page
 * falls back to GET /coordinations/{id}.
 */
import { useEffect, useState } from 'preact/hooks';
import { call, failureOf, messageOf, segment } from './api.ts';
import { json } from './format.ts';
import { GraphView } from './graph-view.tsx';
import { useNow } from './hooks.ts';
import type { Notify } from './notify.ts';
import {
  applyEvents,
  EVENT_TYPES,
  emptyTimeline,
  formatMs,
  type RunTimeline,
  timelineFromResult,
} from './timeline.ts';
import { TimelineView } from './timeline-view.tsx';
import type { CoordinationCancelled, CoordinationEvent, CoordinationStatus } from './types.ts';

/** live: following; ended: the stream closed after coordination.finished; polling: no events. */
type Feed = 'connecting' | 'live' | 'ended' | 'polling';

const BATCH_MS = 50;
const POLL_MS = 2000;

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
    const source = new EventSource(`${path}/events`);
    let pending: CoordinationEvent[] = [];
    let timer: ReturnType<typeof setTimeout> | undefined;
    let poll: ReturnType<typeof setTimeout> | undefined;
    const flush = () => {
      timer = undefined;
      const batch = pending;
      pending = [];
      setRun((current) => applyEvents(current, batch));
    };
    const onEvent = (message: MessageEvent<string>) => {
      const event = JSON.parse(message.data) as CoordinationEvent;
      pending.push(event);
      timer ??= setTimeout(flush, BATCH_MS);
      if (event.type === 'coordination.finished') {
        source.close();
        setFeed('ended');
      }
    };
    for (const type of EVENT_TYPES)
      source.addEventListener(type, onEvent as (event: Event) => void);
    source.addEventListener('open', () => setFeed('live'));
    source.addEventListener('error', (event) => {
      if (event instanceof MessageEvent && typeof event.data === 'string') {
        // The API's own error event: its message; EventSource reconnects where it left off.
        let body: unknown = event.data;
        try {
          body = JSON.parse(event.data);
        } catch {
          // keep the text
        }
        setProblem(failureOf('GET', `${path}/events`, 500, body).message);
        return;
      }
      if (source.readyState !== EventSource.CLOSED) {
        setFeed('connecting');
        return;
      }
      // Refused for good (404, 503 without an event log, 204): read the run's status instead.
      setFeed('polling');
      const read = async () => {
        try {
          const status = await call<CoordinationStatus>('GET', path);
          if (status.status === 'running') {
            setStartedAt((status as { startedAt?: string }).startedAt);
            poll = setTimeout(read, POLL_MS);
          } else setRun(timelineFromResult(status));
        } catch (error) {
          setProblem(messageOf(error));
        }
      };
      void read();
    });
    return () => {
      source.close();
      clearTimeout(timer);
      clearTimeout(poll);
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
                : 'finished'}
        </span>
        {total !== undefined && (
          <span class="quiet small">
            {formatMs(total)} in all, {formatMs(result?.timings.overheadMs)} of it coordination
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
