import type { CoordinationResult, StepResult } from '../coordination/result.ts';
import type { FieldIssue } from '../core/errors.ts';

const ms = (value: number | undefined) => (value === undefined ? '—' : `${value.toFixed(1)} ms`);
const colour = process.stdout.isTTY && process.env.NO_COLOR === undefined;
const paint = (code: number, text: string) => (colour ? `\u001b[${code}m${text}\u001b[0m` : text);
export const green = (text: string) => paint(32, text);
export const red = (text: string) => paint(31, text);
export const yellow = (text: string) => paint(33, text);
export const dim = (text: string) => paint(2, text);
export const bold = (text: string) => paint(1, text);

/** What the timing tree shows of a result: all but the outputs (an event log's slim result has it). */
export type TimedResult = Pick<
  CoordinationResult,
  'coordinationId' | 'pattern' | 'status' | 'degraded' | 'timings' | 'errors'
> & { readonly steps: readonly Omit<StepResult, 'output'>[] };

/**
 * The result as a timing tree: total, overhead and agent time, then each step (grouped by round
 * for hierarchical runs) with its agent, status and time, then errors.
 */
export function timingTree(result: TimedResult): string {
  const status =
    result.status === 'succeeded'
      ? green('✔ succeeded')
      : result.status === 'partial'
        ? yellow('◐ partial')
        : red('✘ failed');
  const { totalMs, agentMs, overheadMs } = result.timings;
  const lines = [
    `${bold(`${result.pattern} coordination`)} ${status}${result.degraded ? yellow(' (degraded)') : ''}  ${dim(result.coordinationId)}`,
    `total ${ms(totalMs)} · in agents ${ms(agentMs)} · overhead ${ms(overheadMs)}`,
  ];
  const groups = new Map<string, Omit<StepResult, 'output'>[]>();
  for (const step of result.steps) {
    const key = step.round === undefined ? '' : `round ${step.round}`;
    groups.set(key, [...(groups.get(key) ?? []), step]);
  }
  const width = Math.max(8, ...result.steps.map((s) => s.stepId.length));
  const agentWidth = Math.max(8, ...result.steps.map((s) => s.agentId.length));
  const rows = [...groups.entries()];
  rows.forEach(([group, steps], g) => {
    const lastGroup = g === rows.length - 1;
    const indent = group === '' ? '' : lastGroup ? '   ' : '│  ';
    if (group !== '') lines.push(`${lastGroup ? '└─' : '├─'} ${group}`);
    steps.forEach((step, i) => {
      const branch = i === steps.length - 1 ? '└─' : '├─';
      const mark = step.status === 'succeeded' ? green('✔') : red('✘');
      const fallback = step.attempt > 0 ? yellow(` (fallback ${step.attempt})`) : '';
      lines.push(
        `${indent}${branch} ${mark} ${step.stepId.padEnd(width)}  ${step.agentId.padEnd(agentWidth)}  ${ms(step.durationMs).padStart(10)}${fallback}`,
      );
    });
  });
  for (const error of result.errors) {
    lines.push(
      red(
        `  ✘ ${error.agentId ?? 'coordination'}${error.stepId ? ` at ${error.stepId}` : ''}: ${error.error}${error.cause ? ` — ${error.cause}` : ''}`,
      ),
    );
  }
  return lines.join('\n');
}

/** How wide text shows in a terminal: its colour codes take no room. */
export function visibleLength(text: string): number {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: the colour codes paint() writes
  return text.replace(/\u001b\[[0-9;]*m/g, '').length;
}

/** Rows as aligned columns; cells may be coloured (with green, red, …) without losing alignment. */
export function table(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = headers.map((h, i) =>
    Math.max(h.length, ...rows.map((r) => visibleLength(r[i] ?? ''))),
  );
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => c + ' '.repeat(Math.max(0, (widths[i] ?? 0) - visibleLength(c))))
      .join('  ')
      .trimEnd();
  return [bold(line(headers)), ...rows.map(line)].join('\n');
}

/** Field issues as a bulleted list, one `  • path: message` line each. */
export function issueList(issues: readonly FieldIssue[]): string {
  return issues.map((i) => `  • ${i.path || '(request)'}: ${i.message}`).join('\n');
}
