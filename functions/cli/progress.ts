import {
  bold,
  dim,
  green,
  jsonText,
  printable,
  red,
  type TimedResult,
  timingTree,
  yellow,
} from './format.ts';
import { type Io, PartWriter } from './io.ts';

/**
 * A coordination's live events as `mobius run` and `mobius watch` print them on stderr, as they
 * happen: one line per step event, and each step's text chunks inline as they arrive, after a
 * `stepId │` margin (a step whose chunks interleave with another's starts a new line). Data chunks
 * are one JSON line each.
 */

/** What the printer needs of an event: the CLI reads them from the event log and from the API. */
export type LiveEvent =
  | {
      readonly type: 'coordination.started';
      readonly coordinationId: string;
      readonly pattern: string;
      readonly mode: string;
      readonly steps: readonly { readonly stepId: string; readonly agentId: string }[];
    }
  | {
      readonly type: 'step.started' | 'step.retried' | 'step.fallback';
      readonly stepId: string;
      readonly agentId: string;
      readonly candidate?: number;
      readonly attempt?: number;
    }
  | {
      readonly type: 'step.chunk';
      readonly stepId: string;
      readonly chunk: { readonly text: string } | { readonly data: unknown };
    }
  | {
      readonly type: 'step.succeeded';
      readonly stepId: string;
      readonly agentId: string;
      readonly durationMs: number;
    }
  | {
      readonly type: 'step.failed';
      readonly stepId: string;
      readonly agentId: string;
      readonly error: string;
      readonly cause: string | null;
    }
  | { readonly type: 'coordination.finished'; readonly status: string; readonly result: unknown };

export class LiveProgress {
  readonly #io: Io;
  readonly #text: PartWriter;
  /** The step whose text line is open. */
  #step: string | undefined;

  constructor(io: Io) {
    this.#io = io;
    this.#text = new PartWriter(io, 'err');
  }

  print(event: LiveEvent): void {
    if (event.type === 'step.chunk') {
      if ('text' in event.chunk) this.#chunkText(event.stepId, event.chunk.text);
      else this.#line(`${margin(event.stepId)}${jsonText(event.chunk.data)}`);
      return;
    }
    switch (event.type) {
      case 'coordination.started':
        this.#line(
          dim(
            `${event.pattern} coordination ${event.coordinationId} (${event.mode}): ${event.steps.map((s) => `${s.stepId} ${s.agentId}`).join(', ')}`,
          ),
        );
        return;
      case 'step.started':
        this.#line(dim(`  → ${event.agentId} ${event.stepId}`));
        return;
      case 'step.fallback':
        this.#line(
          yellow(`  ↪ ${event.agentId} ${event.stepId} (fallback ${event.candidate ?? '?'})`),
        );
        return;
      case 'step.retried':
        this.#line(
          yellow(`  ↻ ${event.agentId} ${event.stepId} (attempt ${event.attempt ?? '?'})`),
        );
        return;
      case 'step.succeeded':
        this.#line(
          `  ${green('✔')} ${event.agentId} ${event.stepId} ${dim(`${event.durationMs.toFixed(1)} ms`)}`,
        );
        return;
      case 'step.failed':
        this.#line(
          // Error and cause are the agent's words (a remote A2A agent's too): shown, not obeyed.
          `  ${red('✘')} ${event.agentId} ${event.stepId} ${dim(printable(`${event.error}${event.cause ? `: ${event.cause}` : ''}`))}`,
        );
        return;
      case 'coordination.finished':
        // Not a failure, and the timing tree that follows leads with how the run ended: said
        // here too, with who stopped it, where the live lines end.
        if (event.status === 'cancelled')
          this.#line(`${yellow('⊘ cancelled')}${dim(cancelledBy(event.result))}`);
        else this.end();
        return;
    }
  }

  /** Ends a text line left open (a stream that stopped mid-line). */
  end(): void {
    this.#text.end();
    this.#step = undefined;
  }

  #line(text: string): void {
    this.end();
    this.#io.err(text);
  }

  #chunkText(stepId: string, text: string): void {
    if (this.#step !== stepId || !this.#text.open) {
      this.end();
      this.#text.write(margin(stepId));
      this.#step = stepId;
    }
    const lines = text.split('\n');
    lines.forEach((piece, i) => {
      if (i > 0) this.#text.write(`\n${margin(stepId)}`);
      this.#text.write(printable(piece));
    });
  }
}

const margin = (stepId: string) => dim(`    ${stepId} │ `);

/**
 * ` — <cause>` of a cancelled run's result: who cancelled it, and the step that was running
 * (`the coordination was cancelled by … while … was still working on step …`); or nothing.
 */
function cancelledBy(result: unknown): string {
  const errors = (result as { errors?: unknown } | null)?.errors;
  const first: unknown = Array.isArray(errors) ? errors[0] : undefined;
  const cause = (first as { cause?: unknown } | null | undefined)?.cause;
  return typeof cause === 'string' ? ` — ${printable(cause)}` : '';
}

/**
 * The exit code of `mobius run` and `mobius watch` for a run that ended so: 0 when it succeeded,
 * partly or wholly (best effort), 1 otherwise — failed, or cancelled: not a failure, but the work
 * was not done.
 */
export function exitCodeOf(status: string): 0 | 1 {
  return status === 'succeeded' || status === 'partial' ? 0 : 1;
}

/**
 * The end of a run, on stdout: the timing tree and the output (`--json`: the result alone). A
 * result the event log carried slim (no outputs: it was too large for one event) says where the
 * whole one is.
 */
export function printResult(result: unknown, io: Io, json: boolean | undefined): void {
  if (json) {
    io.out(jsonText(result, 2));
    return;
  }
  // Agents' outputs, shown to a person: their C1 controls and bidi overrides escaped too.
  if (!isResult(result)) {
    io.out(jsonText(result, 2));
    return;
  }
  io.out(timingTree(result));
  if ('output' in result)
    io.out(`\n${bold('output')}\n${jsonText((result as { output: unknown }).output, 2)}`);
  const omitted = (result as { outputOmitted?: unknown }).outputOmitted;
  if (typeof omitted === 'string') io.out(`\n${dim(omitted)}`);
}

/** Has what the timing tree shows (a full result, or the slim one). */
function isResult(value: unknown): value is TimedResult {
  const result = value as Partial<Record<keyof TimedResult, unknown>> | null;
  return (
    typeof result === 'object' &&
    result !== null &&
    typeof result.coordinationId === 'string' &&
    typeof result.status === 'string' &&
    Array.isArray(result.steps) &&
    Array.isArray(result.errors) &&
    typeof result.timings === 'object' &&
    result.timings !== null
  );
}
