/**
 * A coordination's timeline, folded from its live events (GET /coordinations/{id}/events): each
 * step with its tries — the first start, Step Functions' retries, fallback agents — their outcome,
 * times and streamed chunks. Pure: the run page feeds it events as they arrive, the graph is drawn
 * from it, and tests check it without a browser.
 */
import type { CoordinationEvent, CoordinationResult } from './types.ts';

export type TryKind = 'start' | 'retry' | 'fallback';
/** `abandoned`: the run ended (cancelled, timed out) while this try was still going. */
export type TryState = 'running' | 'succeeded' | 'failed' | 'abandoned';
export type StepState = 'pending' | TryState;
export type RunState = 'waiting' | 'running' | 'succeeded' | 'partial' | 'failed' | 'cancelled';

export interface Try {
  readonly kind: TryKind;
  readonly agentId: string;
  /** 0 the agent planned, 1… its fallbacks in order. */
  readonly candidate: number;
  /** 1 the first try of this candidate, 2… Step Functions' retries. */
  readonly attempt: number;
  readonly state: TryState;
  /** When the try started and ended (epoch ms, from the events' times); unknown without events. */
  readonly startedMs?: number;
  readonly endedMs?: number;
  /** The time the agent itself reported (step.succeeded). */
  readonly durationMs?: number;
  readonly error?: string;
  readonly cause?: string | null;
  readonly chunks: number;
}

export interface StepTimeline {
  /** stepId, with `@round` for a hierarchical supervisor's rounds. */
  readonly key: string;
  readonly stepId: string;
  readonly round?: number;
  /** The agent the plan chose (coordination.started); the tries say who actually took it. */
  readonly plannedAgentId?: string;
  /** The agent of the latest try, or the planned one before any. */
  readonly agentId: string;
  readonly state: StepState;
  readonly tries: readonly Try[];
  /** Text chunks streamed so far, joined (capped at TEXT_LIMIT characters). */
  readonly text: string;
}

export interface RunTimeline {
  readonly coordinationId?: string;
  readonly pattern?: string;
  readonly mode?: 'express' | 'standard';
  readonly state: RunState;
  readonly startedMs?: number;
  readonly finishedMs?: number;
  /** Steps in the plan's order, then in the order the run revealed them (hierarchical workers). */
  readonly steps: readonly StepTimeline[];
  /** The coordination result, from coordination.finished or GET /coordinations/{id}. */
  readonly result?: CoordinationResult;
  /** The id of the last event applied: later events only, once each. */
  readonly lastEventId: number;
}

/**
 * The SSE event names of a coordination's stream, each listened to by name. The API's list
 * (COORDINATION_EVENT_TYPES) lives beside zod schemas the page must not bundle; a test keeps the
 * two equal.
 */
export const EVENT_TYPES = [
  'coordination.started',
  'step.started',
  'step.chunk',
  'step.retried',
  'step.fallback',
  'step.succeeded',
  'step.failed',
  'coordination.finished',
] as const satisfies readonly CoordinationEvent['type'][];

/** How much streamed text a step keeps for display. */
export const TEXT_LIMIT = 4000;

export const emptyTimeline = (): RunTimeline => ({ state: 'waiting', steps: [], lastEventId: 0 });

export const stepKey = (stepId: string, round?: number): string =>
  round === undefined ? stepId : `${stepId}@${round}`;

const timeOf = (event: { time: string }): number | undefined => {
  const ms = Date.parse(event.time);
  return Number.isNaN(ms) ? undefined : ms;
};

/**
 * The timeline after one more event. Events already applied (an id at or below lastEventId, as a
 * reconnecting EventSource may not resend but a replay could) change nothing.
 */
export function applyEvent(timeline: RunTimeline, event: CoordinationEvent): RunTimeline {
  if (event.id !== undefined && event.id <= timeline.lastEventId) return timeline;
  const next = { ...timeline, lastEventId: event.id ?? timeline.lastEventId };
  const at = timeOf(event);
  switch (event.type) {
    case 'coordination.started':
      return {
        ...next,
        coordinationId: event.coordinationId,
        pattern: event.pattern,
        mode: event.mode,
        state: next.state === 'waiting' ? 'running' : next.state,
        ...(at === undefined ? {} : { startedMs: at }),
        steps: mergePlan(next.steps, event.steps),
      };
    case 'step.started':
    case 'step.retried':
    case 'step.fallback': {
      const kind: TryKind =
        event.type === 'step.started'
          ? 'start'
          : event.type === 'step.retried'
            ? 'retry'
            : 'fallback';
      return withStep(next, event.stepId, event.round, event.agentId, (step) => ({
        ...step,
        agentId: event.agentId,
        state: 'running',
        tries: [
          ...step.tries,
          {
            kind,
            agentId: event.agentId,
            candidate: event.candidate ?? 0,
            attempt: event.attempt ?? 1,
            state: 'running',
            ...(at === undefined ? {} : { startedMs: at }),
            chunks: 0,
          },
        ],
      }));
    }
    case 'step.chunk':
      return withStep(next, event.stepId, event.round, event.agentId, (step) => {
        const chunk = event.chunk;
        const text =
          'text' in chunk && step.text.length < TEXT_LIMIT
            ? (step.text + chunk.text).slice(0, TEXT_LIMIT)
            : step.text;
        return {
          ...step,
          text,
          tries: updateLast(step.tries, (t) => ({ ...t, chunks: t.chunks + 1 })),
        };
      });
    case 'step.succeeded':
    case 'step.failed':
      return withStep(next, event.stepId, event.round, event.agentId, (step) => {
        const state: TryState = event.type === 'step.succeeded' ? 'succeeded' : 'failed';
        const end = (t: Try): Try => ({
          ...t,
          state,
          ...(at === undefined ? {} : { endedMs: at }),
          ...(event.type === 'step.succeeded'
            ? { durationMs: event.durationMs }
            : { error: event.error, cause: event.cause }),
        });
        // An outcome without its start (an event lost to the log's size limit) still counts.
        const tries =
          step.tries.length > 0 && step.tries[step.tries.length - 1]?.state === 'running'
            ? updateLast(step.tries, end)
            : [
                ...step.tries,
                end({
                  kind: 'start',
                  agentId: event.agentId,
                  candidate: event.candidate ?? 0,
                  attempt: event.attempt ?? 1,
                  state: 'running',
                  chunks: 0,
                }),
              ];
        return { ...step, agentId: event.agentId, state, tries };
      });
    case 'coordination.finished': {
      const result = event.result as CoordinationResult | undefined;
      return finish(
        { ...next, ...(at === undefined ? {} : { finishedMs: at }) },
        event.status as RunState,
        result,
      );
    }
    default:
      return next;
  }
}

export const applyEvents = (
  timeline: RunTimeline,
  events: readonly CoordinationEvent[],
): RunTimeline => events.reduce(applyEvent, timeline);

/**
 * The timeline of a finished run told by its result alone (GET /coordinations/{id}), for runs
 * whose events are gone (kept 7 days) or an API without an event log: steps and durations, no
 * times.
 */
export function timelineFromResult(result: CoordinationResult): RunTimeline {
  const steps: StepTimeline[] = result.steps.map((step) => ({
    key: stepKey(step.stepId, step.round),
    stepId: step.stepId,
    ...(step.round === undefined ? {} : { round: step.round }),
    agentId: step.agentId,
    state: step.status,
    text: '',
    tries: [
      {
        kind: 'start',
        agentId: step.agentId,
        candidate: 0,
        attempt: Math.max(1, step.attempt),
        state: step.status,
        ...(step.durationMs === undefined ? {} : { durationMs: step.durationMs }),
        chunks: 0,
      },
    ],
  }));
  return finish(
    {
      coordinationId: result.coordinationId,
      pattern: result.pattern,
      mode: result.mode,
      state: 'running',
      steps,
      lastEventId: 0,
    },
    result.status as RunState,
    result,
  );
}

/** The run ended: tries still going were abandoned with it (a cancelled or timed-out run). */
function finish(
  timeline: RunTimeline,
  state: RunState,
  result: CoordinationResult | undefined,
): RunTimeline {
  const steps = timeline.steps.map((step) =>
    step.state !== 'running'
      ? step
      : {
          ...step,
          state: 'abandoned' as const,
          tries: step.tries.map((t) =>
            t.state === 'running' ? { ...t, state: 'abandoned' as const } : t,
          ),
        },
  );
  return {
    ...timeline,
    state,
    steps,
    ...(result === undefined || result === null ? {} : { result }),
  };
}

/** The plan's steps, pending, before any that events already revealed (a late started event). */
function mergePlan(
  known: readonly StepTimeline[],
  plan: readonly { stepId: string; agentId: string }[],
): StepTimeline[] {
  const planned: StepTimeline[] = plan
    .filter((p) => !known.some((s) => s.stepId === p.stepId))
    .map((p) => ({
      key: p.stepId,
      stepId: p.stepId,
      plannedAgentId: p.agentId,
      agentId: p.agentId,
      state: 'pending',
      tries: [],
      text: '',
    }));
  const withPlan = known.map((s) => {
    const p = plan.find((q) => q.stepId === s.stepId);
    return p === undefined ? s : { ...s, plannedAgentId: p.agentId };
  });
  return [...planned, ...withPlan];
}

/**
 * The timeline with one step changed, created when the event is its first. A hierarchical
 * supervisor is planned without a round and its events carry one: the first round takes the
 * planned step, later rounds are steps of their own.
 */
function withStep(
  timeline: RunTimeline,
  stepId: string,
  round: number | undefined,
  agentId: string,
  change: (step: StepTimeline) => StepTimeline,
): RunTimeline {
  const key = stepKey(stepId, round);
  const steps = [...timeline.steps];
  let index = steps.findIndex((s) => s.key === key);
  if (index < 0 && round !== undefined)
    index = steps.findIndex(
      (s) => s.stepId === stepId && s.round === undefined && s.tries.length === 0,
    );
  if (index < 0) {
    const planned = steps.find((s) => s.stepId === stepId)?.plannedAgentId;
    steps.push({
      key,
      stepId,
      ...(round === undefined ? {} : { round }),
      ...(planned === undefined ? {} : { plannedAgentId: planned }),
      agentId,
      state: 'pending',
      tries: [],
      text: '',
    });
    index = steps.length - 1;
  }
  const current = steps[index] as StepTimeline;
  const rounded = round === undefined ? current : { ...current, key, round };
  steps[index] = change(rounded);
  return { ...timeline, state: timeline.state === 'waiting' ? 'running' : timeline.state, steps };
}

function updateLast(tries: readonly Try[], change: (t: Try) => Try): Try[] {
  if (tries.length === 0) return [];
  return [...tries.slice(0, -1), change(tries[tries.length - 1] as Try)];
}

/**
 * Where a try's bar sits on the run's time axis, in percent of the run's span so far: from the
 * run's start to its end (or `now` while it runs). A bar is at least 0.5 % wide, so instant
 * steps still show.
 */
export function barOf(
  run: RunTimeline,
  t: Try,
  now: number,
): { left: number; width: number } | undefined {
  const start = run.startedMs;
  if (start === undefined || t.startedMs === undefined) return undefined;
  const end = run.finishedMs ?? Math.max(now, t.endedMs ?? now);
  const span = Math.max(1, end - start);
  const from = Math.min(Math.max(0, t.startedMs - start), span);
  const to = Math.min(Math.max(from, (t.endedMs ?? end) - start), span);
  const left = (from / span) * 100;
  return { left, width: Math.max(0.5, Math.min(100 - left, ((to - from) / span) * 100)) };
}
