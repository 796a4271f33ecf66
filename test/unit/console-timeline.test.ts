import { describe, expect, it } from 'vitest';
import { layoutGraph, MAX_ROW } from '../../console/src/graph.ts';
import {
  applyEvents,
  barOf,
  EVENT_TYPES,
  emptyTimeline,
  type RunTimeline,
  timelineFromResult,
} from '../../console/src/timeline.ts';
import type { CoordinationEvent, CoordinationResult } from '../../console/src/types.ts';
import { COORDINATION_EVENT_TYPES } from '../../functions/core/streaming/events.ts';

/**
 * What the web console draws from a run's live events: the timeline tree (steps, their tries —
 * retries and fallbacks — outcomes and times) and the state-machine graph with agent names on the
 * nodes, for each pattern's shape. The page itself is driven in a real browser by test/e2e.
 */
const T0 = Date.parse('2026-11-30T12:00:00.000Z');
let nextId = 1;
const at = (ms: number) => new Date(T0 + ms).toISOString();
function event<E extends Omit<CoordinationEvent, 'id' | 'time' | 'coordinationId'>>(
  ms: number,
  fields: E,
): CoordinationEvent {
  return {
    ...fields,
    id: nextId++,
    time: at(ms),
    coordinationId: 'c-1',
  } as unknown as CoordinationEvent;
}

/** The scatter-gather example as the API streams it: a flaky summarizer falls back. */
function scatterGather(): CoordinationEvent[] {
  nextId = 1;
  return [
    event(0, {
      type: 'coordination.started',
      pattern: 'scatter_gather',
      mode: 'express',
      steps: [
        { stepId: 'summary', agentId: 'flaky-summarizer' },
        { stepId: 'keywords', agentId: 'keyword-extractor' },
        { stepId: 'tone', agentId: 'sentiment-analyzer' },
      ],
    }),
    event(10, {
      type: 'step.started',
      stepId: 'summary',
      agentId: 'flaky-summarizer',
      candidate: 0,
      attempt: 1,
    }),
    event(12, {
      type: 'step.failed',
      stepId: 'summary',
      agentId: 'flaky-summarizer',
      candidate: 0,
      attempt: 1,
      error: 'RetryableAgentError',
      cause: 'busy',
    }),
    event(10, {
      type: 'step.started',
      stepId: 'keywords',
      agentId: 'keyword-extractor',
      candidate: 0,
      attempt: 1,
    }),
    event(15, {
      type: 'step.succeeded',
      stepId: 'keywords',
      agentId: 'keyword-extractor',
      candidate: 0,
      attempt: 1,
      output: { keywords: ['a'] },
      durationMs: 4.6,
    }),
    event(20, {
      type: 'step.fallback',
      stepId: 'summary',
      agentId: 'summarizer',
      candidate: 1,
      attempt: 1,
    }),
    event(22, {
      type: 'step.chunk',
      stepId: 'summary',
      agentId: 'summarizer',
      candidate: 1,
      attempt: 1,
      chunk: { seq: 0, text: 'Event' },
    }),
    event(23, {
      type: 'step.chunk',
      stepId: 'summary',
      agentId: 'summarizer',
      candidate: 1,
      attempt: 1,
      chunk: { seq: 1, text: 'Bridge' },
    }),
    event(30, {
      type: 'step.succeeded',
      stepId: 'summary',
      agentId: 'summarizer',
      candidate: 1,
      attempt: 1,
      output: { summary: 'EventBridge' },
      durationMs: 8,
    }),
  ];
}

describe('the console timeline', () => {
  it('listens to every event type the API streams', () => {
    expect([...EVENT_TYPES].sort()).toEqual([...COORDINATION_EVENT_TYPES].sort());
  });

  it('shows the plan’s steps pending until their events come, then each try with its outcome', () => {
    const events = scatterGather();
    const planned = applyEvents(emptyTimeline(), events.slice(0, 1));
    expect(planned).toMatchObject({ state: 'running', pattern: 'scatter_gather', mode: 'express' });
    expect(planned.steps.map((s) => [s.stepId, s.agentId, s.state])).toEqual([
      ['summary', 'flaky-summarizer', 'pending'],
      ['keywords', 'keyword-extractor', 'pending'],
      ['tone', 'sentiment-analyzer', 'pending'],
    ]);

    const run = applyEvents(emptyTimeline(), events);
    const summary = run.steps.find((s) => s.stepId === 'summary');
    expect(summary).toMatchObject({
      agentId: 'summarizer',
      plannedAgentId: 'flaky-summarizer',
      state: 'succeeded',
      text: 'EventBridge',
    });
    expect(summary?.tries).toEqual([
      expect.objectContaining({
        kind: 'start',
        agentId: 'flaky-summarizer',
        state: 'failed',
        error: 'RetryableAgentError',
        cause: 'busy',
        startedMs: T0 + 10,
        endedMs: T0 + 12,
      }),
      expect.objectContaining({
        kind: 'fallback',
        agentId: 'summarizer',
        candidate: 1,
        state: 'succeeded',
        durationMs: 8,
        chunks: 2,
      }),
    ]);
    expect(run.steps.find((s) => s.stepId === 'tone')?.state).toBe('pending');
    expect(run.lastEventId).toBe(events.length);
  });

  it('applies each event once: a replay of events already seen changes nothing', () => {
    const events = scatterGather();
    const once = applyEvents(emptyTimeline(), events);
    expect(applyEvents(once, events)).toBe(once);
  });

  it('ends with the result; tries still going when a run is cancelled are abandoned', () => {
    nextId = 1;
    const run = applyEvents(emptyTimeline(), [
      event(0, {
        type: 'coordination.started',
        pattern: 'pipeline',
        mode: 'standard',
        steps: [{ stepId: 'step1', agentId: 'slow' }],
      }),
      event(5, {
        type: 'step.started',
        stepId: 'step1',
        agentId: 'slow',
        candidate: 0,
        attempt: 1,
      }),
      event(9000, {
        type: 'coordination.finished',
        status: 'cancelled' as 'failed',
        result: { coordinationId: 'c-1', status: 'cancelled' },
      }),
    ]);
    expect(run).toMatchObject({ state: 'cancelled', finishedMs: T0 + 9000 });
    expect(run.steps[0]).toMatchObject({
      state: 'abandoned',
      tries: [expect.objectContaining({ state: 'abandoned' })],
    });
  });

  it('counts Step Functions’ retries as tries of the same agent', () => {
    nextId = 1;
    const run = applyEvents(emptyTimeline(), [
      event(0, { type: 'step.started', stepId: 's', agentId: 'a', candidate: 0, attempt: 1 }),
      event(1, {
        type: 'step.failed',
        stepId: 's',
        agentId: 'a',
        candidate: 0,
        attempt: 1,
        error: 'E',
        cause: null,
      }),
      event(2, { type: 'step.retried', stepId: 's', agentId: 'a', candidate: 0, attempt: 2 }),
    ]);
    expect(run.steps[0]?.state).toBe('running');
    expect(run.steps[0]?.tries.map((t) => [t.kind, t.attempt, t.state])).toEqual([
      ['start', 1, 'failed'],
      ['retry', 2, 'running'],
    ]);
  });

  it('places each try’s bar on the run’s time axis', () => {
    const run = applyEvents(emptyTimeline(), scatterGather());
    const summary = run.steps.find((s) => s.stepId === 'summary');
    const fallback = summary?.tries[1];
    if (fallback === undefined) throw new Error('no fallback try');
    // The run is still going at T0 + 40: the axis runs to now.
    expect(barOf(run, fallback, T0 + 40)).toEqual({ left: 50, width: 25 });
    const instant = { ...fallback, startedMs: T0 + 40, endedMs: T0 + 40 };
    expect(barOf(run, instant, T0 + 40)?.width).toBe(0.5);
  });

  it('tells a finished run from its result when its events are gone', () => {
    const result = {
      coordinationId: 'c-2',
      pattern: 'sequential',
      mode: 'standard',
      status: 'succeeded',
      output: {},
      steps: [
        {
          stepId: 'lookup',
          agentId: 'fact-finder',
          status: 'succeeded',
          attempt: 0,
          durationMs: 12,
        },
        {
          stepId: 'report',
          agentId: 'report-writer',
          status: 'succeeded',
          attempt: 0,
          durationMs: 3,
        },
      ],
      errors: [],
      degraded: false,
      standIns: [],
      timings: { totalMs: 40, agentMs: 15, overheadMs: 25, steps: [] },
    } satisfies CoordinationResult;
    const run = timelineFromResult(result);
    expect(run).toMatchObject({ state: 'succeeded', pattern: 'sequential', mode: 'standard' });
    expect(run.steps.map((s) => [s.agentId, s.state, s.tries[0]?.durationMs])).toEqual([
      ['fact-finder', 'succeeded', 12],
      ['report-writer', 'succeeded', 3],
    ]);
  });
});

/** The graph's nodes row by row (by y), each row's labels left to right. */
function rows(run: RunTimeline): string[][] {
  const graph = layoutGraph(run);
  const byY = new Map<number, { x: number; label: string }[]>();
  for (const node of graph.nodes)
    byY.set(node.y + node.height / 2, [...(byY.get(node.y + node.height / 2) ?? []), node]);
  return [...byY.entries()]
    .sort(([a], [b]) => a - b)
    .map(([, nodes]) => nodes.sort((a, b) => a.x - b.x).map((n) => n.label));
}

describe('the console graph', () => {
  it('draws a scatter-gather as a fan-out and its gather, named by the agents that took the steps', () => {
    const run = applyEvents(emptyTimeline(), scatterGather());
    expect(rows(run)).toEqual([
      ['Start'],
      ['summarizer', 'keyword-extractor', 'sentiment-analyzer'],
      ['gather'],
      ['End'],
    ]);
    const graph = layoutGraph(run);
    const summary = graph.nodes.find((n) => n.key === 'step:summary');
    expect(summary).toMatchObject({
      state: 'succeeded',
      detail: 'summary · after flaky-summarizer',
    });
    // Start fans out to each step, each step joins the gather.
    expect(graph.edges.filter((e) => e.from === 'start').map((e) => e.to)).toHaveLength(3);
    expect(graph.edges.filter((e) => e.to === 'join')).toHaveLength(3);
    for (const node of graph.nodes) {
      expect(node.x).toBeGreaterThanOrEqual(0);
      expect(node.x + node.width).toBeLessThanOrEqual(graph.width);
      expect(node.y + node.height).toBeLessThanOrEqual(graph.height);
    }
  });

  it('draws sequential and pipeline runs as a chain', () => {
    nextId = 1;
    const run = applyEvents(emptyTimeline(), [
      event(0, {
        type: 'coordination.started',
        pattern: 'pipeline',
        mode: 'standard',
        steps: [
          { stepId: 'step1', agentId: 'fact-finder' },
          { stepId: 'step2', agentId: 'summarizer' },
        ],
      }),
    ]);
    expect(rows(run)).toEqual([['Start'], ['fact-finder'], ['summarizer'], ['End']]);
    expect(layoutGraph(run).edges.map((e) => `${e.from}>${e.to}`)).toEqual([
      'start>step:step1',
      'step:step1>step:step2',
      'step:step2>end',
    ]);
  });

  it('draws a hierarchical run round by round: the supervisor, then the workers it sent', () => {
    nextId = 1;
    const run = applyEvents(emptyTimeline(), [
      event(0, {
        type: 'coordination.started',
        pattern: 'hierarchical',
        mode: 'express',
        steps: [{ stepId: 'supervisor', agentId: 'planner' }],
      }),
      event(1, {
        type: 'step.started',
        stepId: 'supervisor',
        agentId: 'planner',
        candidate: 0,
        attempt: 1,
        round: 1,
      }),
      event(2, {
        type: 'step.succeeded',
        stepId: 'supervisor',
        agentId: 'planner',
        candidate: 0,
        attempt: 1,
        round: 1,
        output: {},
        durationMs: 1,
      }),
      event(3, {
        type: 'step.started',
        stepId: 'r1-t1',
        agentId: 'fact-finder',
        candidate: 0,
        attempt: 1,
      }),
      event(3, {
        type: 'step.started',
        stepId: 'r1-t2',
        agentId: 'keyword-extractor',
        candidate: 0,
        attempt: 1,
      }),
      event(5, {
        type: 'step.started',
        stepId: 'supervisor',
        agentId: 'planner',
        candidate: 0,
        attempt: 1,
        round: 2,
      }),
    ]);
    expect(run.steps.map((s) => s.key)).toEqual(['supervisor@1', 'r1-t1', 'r1-t2', 'supervisor@2']);
    expect(rows(run)).toEqual([
      ['Start'],
      ['planner'],
      ['fact-finder', 'keyword-extractor'],
      ['planner'],
      ['End'],
    ]);
  });

  it('keeps a wide fan-out readable: the first steps, and one node for the rest', () => {
    nextId = 1;
    const steps = Array.from({ length: 100 }, (_, i) => ({
      stepId: `item${i}`,
      agentId: `worker-${i}`,
    }));
    const run = applyEvents(emptyTimeline(), [
      event(0, { type: 'coordination.started', pattern: 'parallel', mode: 'express', steps }),
    ]);
    const fanOut = rows(run)[1] ?? [];
    expect(fanOut).toHaveLength(MAX_ROW);
    expect(fanOut[MAX_ROW - 1]).toBe(`+${100 - (MAX_ROW - 1)} more`);
    expect(layoutGraph(run).width).toBeLessThan(1600);
  });
});
