/** The run's state-machine graph as SVG (laid out by graph.ts). */
import { type GraphNode, layoutGraph } from './graph.ts';
import type { RunTimeline } from './timeline.ts';

const clip = (text: string, max: number): string =>
  text.length > max ? `${text.slice(0, max - 1)}…` : text;

export function GraphView({ run }: { run: RunTimeline }) {
  const graph = layoutGraph(run);
  return (
    <svg
      class="graph"
      data-testid="run-graph"
      role="img"
      aria-label={`State machine of the ${run.pattern ?? ''} coordination`}
      viewBox={`0 0 ${graph.width} ${graph.height}`}
      width={graph.width}
      height={graph.height}
    >
      <defs>
        <marker
          id="arrow"
          viewBox="0 0 10 10"
          refX="9"
          refY="5"
          markerWidth="7"
          markerHeight="7"
          orient="auto"
        >
          <path d="M0,0 L10,5 L0,10 z" class="arrowhead" />
        </marker>
      </defs>
      {graph.edges.map((edge) => (
        <path key={`${edge.from}>${edge.to}`} d={edge.path} class="edge" marker-end="url(#arrow)" />
      ))}
      {graph.nodes.map((node) => (
        <Node key={node.key} node={node} />
      ))}
    </svg>
  );
}

function Node({ node }: { node: GraphNode }) {
  const cx = node.x + node.width / 2;
  const testid =
    node.kind === 'step' ? `graph-node-${node.key.slice('step:'.length)}` : `graph-${node.kind}`;
  return (
    <g
      class={`node node-${node.kind} state-${node.state}`}
      data-testid={testid}
      data-agent={node.kind === 'step' ? node.label : undefined}
      data-state={node.state}
    >
      <title>{node.detail === '' ? node.label : `${node.label}\n${node.detail}`}</title>
      <rect
        x={node.x}
        y={node.y}
        width={node.width}
        height={node.height}
        rx={node.kind === 'terminal' ? node.height / 2 : 8}
      />
      {node.kind === 'terminal' ? (
        <text x={cx} y={node.y + node.height / 2 + 4} class="label">
          {node.label}
        </text>
      ) : (
        <>
          <text x={cx} y={node.y + 19} class="label">
            {clip(node.label, 22)}
          </text>
          <text x={cx} y={node.y + 35} class="detail">
            {clip(node.detail, 30)}
          </text>
        </>
      )}
    </g>
  );
}
