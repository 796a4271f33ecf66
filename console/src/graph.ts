/**
 * The state-machine graph of a coordination, laid out for SVG: the shape its pattern compiles to
 * (a chain for sequential and pipeline, a fan-out and its join for parallel and scatter-gather,
 * supervisor rounds and their workers for hierarchical), each step named by the agent that took
 * it. Laid out top to bottom in rows; pure, so tests check it without a browser.
 */
import type { RunTimeline, StepState, StepTimeline } from './timeline.ts';

export type NodeKind = 'terminal' | 'step' | 'join' | 'more';

export interface GraphNode {
  readonly key: string;
  readonly kind: NodeKind;
  /** The agent's name for a step; Start, End, gather… for the others. */
  readonly label: string;
  /** The step id (and round), and which agents it fell back from. */
  readonly detail: string;
  readonly state: StepState;
  readonly x: number;
  readonly y: number;
  readonly width: number;
  readonly height: number;
}

export interface GraphEdge {
  readonly from: string;
  readonly to: string;
  /** An SVG path from the bottom of `from` to the top of `to`. */
  readonly path: string;
}

export interface Graph {
  readonly nodes: readonly GraphNode[];
  readonly edges: readonly GraphEdge[];
  readonly width: number;
  readonly height: number;
}

export const NODE_WIDTH = 168;
export const NODE_HEIGHT = 46;
const TERMINAL_WIDTH = 88;
const TERMINAL_HEIGHT = 30;
const H_GAP = 20;
const V_GAP = 40;
const MARGIN = 16;
/** Wider rows (a 100-agent fan-out) show this many steps and one node standing for the rest. */
export const MAX_ROW = 8;

type Spec = Omit<GraphNode, 'x' | 'y' | 'width' | 'height'>;

/** The graph of a run as far as its events (or result) have told it. */
export function layoutGraph(run: RunTimeline): Graph {
  const rows = rowsOf(run).map(capRow);
  const sized = rows.map((row) =>
    row.map((spec) => ({
      spec,
      width: spec.kind === 'terminal' ? TERMINAL_WIDTH : NODE_WIDTH,
      height: spec.kind === 'terminal' ? TERMINAL_HEIGHT : NODE_HEIGHT,
    })),
  );
  const rowWidth = (row: (typeof sized)[number]) =>
    row.reduce((sum, n) => sum + n.width, 0) + H_GAP * Math.max(0, row.length - 1);
  const width = Math.max(...sized.map(rowWidth), TERMINAL_WIDTH) + 2 * MARGIN;
  const nodes: GraphNode[] = [];
  const byRow: GraphNode[][] = [];
  let y = MARGIN;
  for (const row of sized) {
    let x = (width - rowWidth(row)) / 2;
    const height = Math.max(...row.map((n) => n.height));
    const placed = row.map((n) => {
      const node: GraphNode = {
        ...n.spec,
        x,
        y: y + (height - n.height) / 2,
        width: n.width,
        height: n.height,
      };
      x += n.width + H_GAP;
      return node;
    });
    nodes.push(...placed);
    byRow.push(placed);
    y += height + V_GAP;
  }
  const edges: GraphEdge[] = [];
  for (let i = 0; i + 1 < byRow.length; i++) {
    const upper = byRow[i] ?? [];
    const lower = byRow[i + 1] ?? [];
    for (const from of upper)
      for (const to of lower) edges.push({ from: from.key, to: to.key, path: curve(from, to) });
  }
  return { nodes, edges, width, height: y - V_GAP + MARGIN };
}

/** The rows of the pattern's shape, between Start and End. */
function rowsOf(run: RunTimeline): Spec[][] {
  const start: Spec = {
    key: 'start',
    kind: 'terminal',
    label: 'Start',
    detail: '',
    state: startState(run),
  };
  const end: Spec = {
    key: 'end',
    kind: 'terminal',
    label: 'End',
    detail: '',
    state: endState(run),
  };
  const steps = run.steps.map(stepSpec);
  switch (run.pattern) {
    case 'parallel':
    case 'scatter_gather': {
      if (steps.length === 0) return [[start], [end]];
      const join: Spec = {
        key: 'join',
        kind: 'join',
        label: run.pattern === 'parallel' ? 'join' : 'gather',
        detail: `${steps.length} branches`,
        state: joinState(run.steps),
      };
      return [[start], steps, [join], [end]];
    }
    case 'hierarchical': {
      // A supervisor round, then the workers it sent, in the order the run revealed them.
      const rows: { supervisor: boolean; specs: Spec[] }[] = [];
      for (const [i, step] of run.steps.entries()) {
        const spec = steps[i] as Spec;
        const last = rows[rows.length - 1];
        if (isSupervisor(step)) rows.push({ supervisor: true, specs: [spec] });
        else if (last === undefined || last.supervisor)
          rows.push({ supervisor: false, specs: [spec] });
        else last.specs.push(spec);
      }
      return [[start], ...rows.map((row) => row.specs), [end]];
    }
    default:
      return [[start], ...steps.map((s) => [s]), [end]];
  }
}

function isSupervisor(step: StepTimeline): boolean {
  return step.round !== undefined || step.stepId === 'supervisor';
}

function stepSpec(step: StepTimeline): Spec {
  const failedOver = [
    ...new Set(step.tries.filter((t) => t.agentId !== step.agentId).map((t) => t.agentId)),
  ];
  const retries = step.tries.filter((t) => t.kind === 'retry').length;
  const detail = [
    step.round === undefined ? step.stepId : `${step.stepId} · round ${step.round}`,
    failedOver.length > 0 ? `after ${failedOver.join(', ')}` : '',
    retries > 0 ? `${retries} ${retries === 1 ? 'retry' : 'retries'}` : '',
  ]
    .filter((part) => part !== '')
    .join(' · ');
  return { key: `step:${step.key}`, kind: 'step', label: step.agentId, detail, state: step.state };
}

/** A row of at most MAX_ROW nodes: the first ones, then one standing for the rest. */
function capRow(row: Spec[]): Spec[] {
  if (row.length <= MAX_ROW) return row;
  const shown = row.slice(0, MAX_ROW - 1);
  const rest = row.slice(MAX_ROW - 1);
  const state: StepState = rest.some((s) => s.state === 'running')
    ? 'running'
    : rest.some((s) => s.state === 'failed')
      ? 'failed'
      : rest.every((s) => s.state === 'succeeded')
        ? 'succeeded'
        : 'pending';
  return [
    ...shown,
    {
      key: `more:${rest[0]?.key ?? ''}`,
      kind: 'more',
      label: `+${rest.length} more`,
      detail: `${rest.filter((s) => s.state === 'succeeded').length} of ${rest.length} succeeded`,
      state,
    },
  ];
}

function startState(run: RunTimeline): StepState {
  return run.state === 'waiting' ? 'pending' : 'succeeded';
}

function endState(run: RunTimeline): StepState {
  switch (run.state) {
    case 'succeeded':
    case 'partial':
      return 'succeeded';
    case 'failed':
      return 'failed';
    case 'cancelled':
      return 'abandoned';
    default:
      return 'pending';
  }
}

function joinState(steps: readonly StepTimeline[]): StepState {
  if (steps.some((s) => s.state === 'running' || s.state === 'pending')) return 'pending';
  if (steps.every((s) => s.state === 'failed')) return 'failed';
  return 'succeeded';
}

function curve(from: GraphNode, to: GraphNode): string {
  const x1 = from.x + from.width / 2;
  const y1 = from.y + from.height;
  const x2 = to.x + to.width / 2;
  const y2 = to.y;
  const mid = (y1 + y2) / 2;
  return `M${x1},${y1} C${x1},${mid} ${x2},${mid} ${x2},${y2}`;
}
