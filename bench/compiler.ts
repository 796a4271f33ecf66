/**
 * Compiler benchmark: compile time per pattern for 5, 50 and 500 agents, and the ASL
 * interpreter's (aws-local-stepfunctions) execution overhead per coordination with no-op agents.
 *
 *   npm run bench:compiler
 */
import { LocalStateMachines } from '../functions/embedded/local-executor.ts';
import { compile } from '../statemachines/compile.ts';
import { estimateCost } from '../statemachines/cost.ts';
import { executionInput } from '../statemachines/plan.ts';
import type { Pattern } from '../statemachines/request.ts';
import { planFor } from '../test/compiler/fixtures.ts';
import { mean, ms, percentile, printTable } from './support/stats.ts';

const PATTERNS: Pattern[] = [
  'sequential',
  'pipeline',
  'parallel',
  'scatter_gather',
  'hierarchical',
];
const SIZES = [5, 50, 500];

const planOf = (pattern: Pattern, agents: number) =>
  pattern === 'hierarchical'
    ? planFor(pattern, {
        workers: Array.from({ length: agents }, (_, i) => ({
          id: `w${i}`,
          capabilities: ['work'],
        })),
      })
    : planFor(pattern, { steps: Array.from({ length: agents }, (_, i) => [`a${i}`]) });

const compileRows: (string | number)[][] = [];
for (const pattern of PATTERNS) {
  for (const agents of SIZES) {
    const plan = planOf(pattern, agents);
    const iterations = agents >= 500 ? 200 : 2000;
    for (let i = 0; i < 50; i++) compile(plan); // warm-up
    const samples: number[] = [];
    for (let i = 0; i < iterations; i++) {
      const t0 = performance.now();
      compile(plan);
      samples.push((performance.now() - t0) * 1000);
    }
    const machine = compile(plan);
    compileRows.push([
      pattern,
      agents,
      Object.keys(machine.definition.States).length,
      mean(samples).toFixed(1),
      percentile(samples, 99).toFixed(1),
      machine.json.length,
    ]);
  }
}
console.log('\nCompile time (µs per compile, including the SHA-256 content hash):\n');
printTable(
  ['pattern', 'agents', 'top-level states', 'mean µs', 'p99 µs', 'ASL bytes'],
  compileRows,
);

// Interpreter overhead: no-op agents answer at once, so the whole run is coordination overhead.
const engine = new LocalStateMachines();
const noop = async (_target: string, task: Record<string, unknown>) => {
  if (task.stepId === 'supervisor') {
    const round = (task.context as { round: number }).round;
    return {
      agentId: String(task.agentId),
      durationMs: 0,
      output:
        round <= 2
          ? {
              done: false,
              subtasks: [0, 1, 2, 3, 4].map((w) => ({
                subtaskId: `r${round}-${w}`,
                worker: w,
                agentId: `w${w}`,
                input: {},
              })),
            }
          : { done: true, output: {} },
    };
  }
  return { agentId: String(task.agentId), output: {}, durationMs: 0 };
};
const runRows: (string | number)[][] = [];
for (const pattern of PATTERNS) {
  for (const agents of pattern === 'hierarchical' ? [5] : [5, 50]) {
    const plan = planOf(pattern, agents);
    const machine = compile(plan);
    const input = executionInput(plan, 'bench', { q: 1 });
    const iterations = agents >= 50 ? 200 : 500;
    for (let i = 0; i < 20; i++) await engine.run(machine, input, noop);
    const samples: number[] = [];
    for (let i = 0; i < iterations; i++) {
      const t0 = performance.now();
      const { outcome } = await engine.run(machine, input, noop);
      samples.push(performance.now() - t0);
      if (outcome.status !== 'SUCCEEDED')
        throw new Error(`${pattern} failed: ${JSON.stringify(outcome)}`);
    }
    const cost = estimateCost(pattern, pattern === 'hierarchical' ? 5 : agents, 2);
    runRows.push([
      pattern,
      pattern === 'hierarchical' ? `5 workers × 2 rounds` : agents,
      cost.transitions,
      ms(percentile(samples, 50)),
      ms(percentile(samples, 99)),
    ]);
  }
}
console.log(
  '\nInterpreter execution overhead per coordination (no-op agents, aws-local-stepfunctions):\n',
);
printTable(['pattern', 'agents', 'transitions', 'p50 ms', 'p99 ms'], runRows);
