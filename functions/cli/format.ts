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

/**
 * Characters a terminal acts on rather than shows: C0 controls but tab (ESC starts the sequences
 * that move the cursor, erase lines, set the window title or write the clipboard; CR overwrites a
 * line), DEL, C1 controls (0x9B is a one-byte CSI), and the bidirectional overrides that reorder
 * what a line seems to say.
 */
const UNPRINTABLE =
  // biome-ignore lint/suspicious/noControlCharactersInRegex: these are what it finds
  /[\u0000-\u0008\u000a-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

/**
 * Text that came from elsewhere — an API's answer, a message whoever sent it wrote — as it may be
 * printed: each control character shown as its escape (`\x1b`, `\x0d`, `\u202e`) instead of
 * acting on the operator's terminal. Every command printing remote data for a person passes it
 * through here; JSON goes through jsonText, which escapes them the JSON way.
 */
export function printable(text: string): string {
  return text.replace(UNPRINTABLE, (c) => {
    const code = c.charCodeAt(0);
    return code <= 0xff
      ? `\\x${code.toString(16).padStart(2, '0')}`
      : `\\u${code.toString(16).padStart(4, '0')}`;
  });
}

/** Text of several lines from elsewhere, as it may be printed: each line's controls escaped. */
export function printableLines(text: string): string {
  return text.split('\n').map(printable).join('\n');
}

/**
 * JSON from elsewhere (written with JSON.stringify, which escapes C0 controls in strings but not
 * C1 controls or bidirectional overrides), as it may be printed: those escaped the JSON way
 * (`\u009b`), so the text still parses to the same value; the indentation's newlines kept.
 */
export function printableJson(json: string): string {
  return json.replace(UNPRINTABLE, (c) =>
    c === '\n' ? c : `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

/** `value` as the JSON a command prints (`--json`, outputs): printableJson of JSON.stringify. */
export function jsonText(value: unknown, indent?: number): string {
  return printableJson(JSON.stringify(value ?? null, null, indent));
}

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
        : result.status === 'cancelled'
          ? yellow('⊘ cancelled')
          : red('✘ failed');
  const { totalMs, agentMs, overheadMs } = result.timings;
  const lines = [
    `${bold(`${printable(result.pattern)} coordination`)} ${status}${result.degraded ? yellow(' (degraded)') : ''}  ${dim(printable(result.coordinationId))}`,
    `total ${ms(totalMs)} · in agents ${ms(agentMs)} · overhead ${ms(overheadMs)}`,
  ];
  const groups = new Map<string, Omit<StepResult, 'output'>[]>();
  for (const step of result.steps) {
    const key = step.round === undefined ? '' : `round ${step.round}`;
    groups.set(key, [...(groups.get(key) ?? []), step]);
  }
  const width = Math.max(8, ...result.steps.map((s) => printable(s.stepId).length));
  const agentWidth = Math.max(8, ...result.steps.map((s) => printable(s.agentId).length));
  const rows = [...groups.entries()];
  rows.forEach(([group, steps], g) => {
    const lastGroup = g === rows.length - 1;
    const indent = group === '' ? '' : lastGroup ? '   ' : '│  ';
    if (group !== '') lines.push(`${lastGroup ? '└─' : '├─'} ${printable(group)}`);
    steps.forEach((step, i) => {
      const branch = i === steps.length - 1 ? '└─' : '├─';
      const mark = step.status === 'succeeded' ? green('✔') : red('✘');
      const fallback = step.attempt > 0 ? yellow(` (fallback ${step.attempt})`) : '';
      lines.push(
        `${indent}${branch} ${mark} ${printable(step.stepId).padEnd(width)}  ${printable(step.agentId).padEnd(agentWidth)}  ${ms(step.durationMs).padStart(10)}${fallback}`,
      );
    });
  });
  for (const error of result.errors) {
    lines.push(
      red(
        printable(
          `  ✘ ${error.agentId ?? 'coordination'}${error.stepId ? ` at ${error.stepId}` : ''}: ${error.error}${error.cause ? ` — ${error.cause}` : ''}`,
        ),
      ),
    );
  }
  return lines.join('\n');
}

/**
 * How wide text shows in a terminal: its colour codes take no room. (Only paint()'s: text from
 * elsewhere has been through printable, which leaves no escape of its own.)
 */
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
  return issues
    .map((i) => `  • ${printable(i.path || '(request)')}: ${printable(i.message)}`)
    .join('\n');
}
