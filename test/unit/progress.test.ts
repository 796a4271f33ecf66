import { describe, expect, it } from 'vitest';
import type { Io } from '../../functions/cli/io.ts';
import {
  exitCodeOf,
  type LiveEvent,
  LiveProgress,
  printResult,
} from '../../functions/cli/progress.ts';

/**
 * How `mobius run` and `mobius watch` lay live events out on stderr: a line per step event, text
 * chunks inline after their step's margin, and the same text whether the terminal takes pieces of
 * a line (a real stderr) or whole lines only (an Io without `errPart`).
 */
function captured(withParts: boolean): { io: Io; stderr: () => string; lines: string[] } {
  const lines: string[] = [];
  let text = '';
  const io: Io = {
    out: () => {},
    err: (line) => {
      lines.push(line);
      text += `${line}\n`;
    },
    ...(withParts
      ? {
          errPart: (piece: string) => {
            text += piece;
          },
        }
      : {}),
  };
  return { io, stderr: () => text, lines };
}

const chunk = (stepId: string, text: string): LiveEvent => ({
  type: 'step.chunk',
  stepId,
  chunk: { text },
});

const EVENTS: LiveEvent[] = [
  {
    type: 'coordination.started',
    coordinationId: 'c-1',
    pattern: 'parallel',
    mode: 'express',
    steps: [
      { stepId: 'a', agentId: 'narrator' },
      { stepId: 'b', agentId: 'writer' },
    ],
  },
  { type: 'step.started', stepId: 'a', agentId: 'narrator', candidate: 0, attempt: 1 },
  { type: 'step.fallback', stepId: 'b', agentId: 'writer', candidate: 1, attempt: 1 },
  chunk('a', 'Once '),
  chunk('a', 'upon'),
  chunk('b', 'Far '),
  chunk('a', ' a time,\nthe end.'),
  { type: 'step.chunk', stepId: 'b', chunk: { data: { progress: 0.5 } } },
  { type: 'step.retried', stepId: 'b', agentId: 'writer', candidate: 1, attempt: 2 },
  { type: 'step.succeeded', stepId: 'a', agentId: 'narrator', durationMs: 12.25 },
  { type: 'step.failed', stepId: 'b', agentId: 'writer', error: 'FatalAgentError', cause: 'no' },
  { type: 'coordination.finished', status: 'partial', result: {} },
];

const EXPECTED = [
  'parallel coordination c-1 (express): a narrator, b writer',
  '  → narrator a',
  '  ↪ writer b (fallback 1)',
  '    a │ Once upon',
  '    b │ Far ',
  '    a │  a time,',
  '    a │ the end.',
  '    b │ {"progress":0.5}',
  '  ↻ writer b (attempt 2)',
  '  ✔ narrator a 12.3 ms',
  '  ✘ writer b FatalAgentError: no',
  '',
].join('\n');

describe('live progress', () => {
  it.each([
    ['pieces of lines', true],
    ['whole lines only', false],
  ])('prints steps as lines and each step’s text inline after its margin (%s)', (_, parts) => {
    const { io, stderr } = captured(parts);
    const progress = new LiveProgress(io);
    for (const event of EVENTS) progress.print(event);
    expect(stderr()).toBe(EXPECTED);
  });

  it('says a cancelled run was cancelled, by whom and where, not that it failed', () => {
    const { io, stderr } = captured(true);
    const progress = new LiveProgress(io);
    progress.print(chunk('a', 'Once upon'));
    progress.print({
      type: 'coordination.finished',
      status: 'cancelled',
      result: {
        status: 'cancelled',
        errors: [
          {
            agentId: 'narrator',
            stepId: 'a',
            error: 'Mobius.CoordinationCancelled',
            cause:
              'the coordination was cancelled by ops\u001b[2J while narrator was still working on step a; its answer is dropped',
          },
        ],
      },
    });
    expect(stderr()).toBe(
      '    a │ Once upon\n⊘ cancelled — the coordination was cancelled by ops\\x1b[2J while narrator was still working on step a; its answer is dropped\n',
    );
    expect(stderr()).not.toContain('✘');
  });

  it('exits 0 for a run that succeeded, wholly or partly, and 1 for one failed or cancelled', () => {
    expect(['succeeded', 'partial', 'failed', 'cancelled'].map(exitCodeOf)).toEqual([0, 0, 1, 1]);
  });

  it('completes a line left open by a stream that stopped mid-line', () => {
    const { io, stderr, lines } = captured(false);
    const progress = new LiveProgress(io);
    progress.print(chunk('a', 'half a sen'));
    expect(lines).toEqual([]);
    progress.end();
    expect(stderr()).toBe('    a │ half a sen\n');
  });

  it("shows an agent's control characters instead of letting them drive the terminal", () => {
    const { io, stderr } = captured(true);
    const progress = new LiveProgress(io);
    progress.print(chunk('a', 'x\x1b]0;owned\x07y\nz\u202e'));
    progress.print({
      type: 'step.failed',
      stepId: 'b',
      agentId: 'remote',
      error: 'Error',
      cause: 'bad\x1b[2J',
    } as LiveEvent);
    progress.end();
    const text = stderr();
    for (const raw of ['\x1b]', '\x07', '\x1b[2J', '\u202e']) expect(text).not.toContain(raw);
    expect(text).toContain('x\\x1b]0;owned\\x07y');
    expect(text).toContain('z\\u202e');
    expect(text).toContain('bad\\x1b[2J');
  });
});

describe('printResult', () => {
  const timings = { totalMs: 10, agentMs: 8, overheadMs: 2, steps: [] };
  const base = {
    coordinationId: 'c-1',
    pattern: 'sequential',
    status: 'succeeded',
    degraded: false,
    steps: [{ stepId: 'a', agentId: 'narrator', status: 'succeeded', attempt: 0, durationMs: 8 }],
    errors: [],
    timings,
  };

  it('prints the timing tree, then the output', () => {
    const out: string[] = [];
    printResult(
      { ...base, output: { narration: 'Once' } },
      { out: (t) => out.push(t), err: () => {} },
      false,
    );
    expect(out[0]).toMatch(/^sequential coordination ✔ succeeded {2}c-1/);
    expect(out[0]).toMatch(/└─ ✔ a +narrator/);
    expect(out[1]).toBe('\noutput\n{\n  "narration": "Once"\n}');
  });

  it('says where the whole result is when the event log carried a slim one', () => {
    const out: string[] = [];
    const omitted =
      'The full result did not fit the event log: GET /coordinations/{id} answers it.';
    printResult(
      { ...base, outputOmitted: omitted },
      { out: (t) => out.push(t), err: () => {} },
      false,
    );
    expect(out).toHaveLength(2);
    expect(out[1]).toBe(`\n${omitted}`);
  });

  it('heads a cancelled run as cancelled, not failed', () => {
    const out: string[] = [];
    printResult(
      { ...base, status: 'cancelled', output: null },
      { out: (t) => out.push(t), err: () => {} },
      false,
    );
    expect(out[0]).toMatch(/^sequential coordination ⊘ cancelled {2}c-1/);
  });

  it('prints the result alone as JSON with --json', () => {
    const out: string[] = [];
    printResult(base, { out: (t) => out.push(t), err: () => {} }, true);
    expect(JSON.parse(out.join(''))).toEqual(base);
  });
});
