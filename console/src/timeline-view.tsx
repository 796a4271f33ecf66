/** The run's timeline tree: each step, its tries (retries, fallbacks), outcome and time bars. */
import type { ComponentChildren } from 'preact';
import { durationText } from '../../functions/core/time-text.ts';
import { barOf, type RunTimeline, type StepTimeline, type Try } from './timeline.ts';

export function TimelineView({ run, now }: { run: RunTimeline; now: number }) {
  if (run.steps.length === 0) return <p class="quiet">No steps yet.</p>;
  return (
    <ol class="timeline" data-testid="timeline">
      {branches(run).map(({ step, children }) => (
        <StepItem key={step.key} run={run} step={step} now={now}>
          {children.length > 0 && (
            <ol class="children">
              {children.map((child) => (
                <StepItem key={child.key} run={run} step={child} now={now} />
              ))}
            </ol>
          )}
        </StepItem>
      ))}
    </ol>
  );
}

/**
 * The tree's top level: every step, except that in a hierarchical run the workers a supervisor
 * round sent hang under that round.
 */
function branches(run: RunTimeline): { step: StepTimeline; children: StepTimeline[] }[] {
  const top: { step: StepTimeline; children: StepTimeline[] }[] = [];
  for (const step of run.steps) {
    const parent = top[top.length - 1];
    if (
      run.pattern === 'hierarchical' &&
      step.round === undefined &&
      parent?.step.round !== undefined
    )
      parent.children.push(step);
    else top.push({ step, children: [] });
  }
  return top;
}

function StepItem({
  run,
  step,
  now,
  children,
}: {
  run: RunTimeline;
  step: StepTimeline;
  now: number;
  children?: ComponentChildren;
}) {
  const last = step.tries[step.tries.length - 1];
  const nested = step.tries.length > 1 || step.tries.some((t) => t.state === 'failed');
  return (
    <li
      data-testid={`timeline-step-${step.key}`}
      data-state={step.state}
      class={`state-${step.state}`}
    >
      <div class="line">
        <span class="what">
          <strong>{step.agentId}</strong>{' '}
          <span class="quiet">
            {step.stepId}
            {step.round === undefined ? '' : ` · round ${step.round}`}
          </span>
        </span>
        <span class={`badge state-${step.state}`}>{step.state}</span>
        <span class="took">{last === undefined ? '' : durationText(tookMs(last, now))}</span>
        <Bars run={run} tries={step.tries} now={now} />
      </div>
      {nested && (
        <ol class="tries">
          {step.tries.map((t, i) => (
            <li
              key={`${i}`}
              data-testid="timeline-try"
              data-state={t.state}
              class={`state-${t.state}`}
            >
              <div class="line">
                <span class="what">
                  {t.kind === 'fallback'
                    ? '↪ fallback '
                    : t.kind === 'retry'
                      ? `↻ retry #${t.attempt} `
                      : '▶ '}
                  {t.agentId}
                </span>
                <span class={`badge state-${t.state}`}>{t.state}</span>
                <span class="took">{durationText(tookMs(t, now))}</span>
                <Bars run={run} tries={[t]} now={now} />
              </div>
              {t.error !== undefined && (
                <div class="error small">
                  {t.error}
                  {t.cause ? `: ${t.cause}` : ''}
                </div>
              )}
            </li>
          ))}
        </ol>
      )}
      {step.tries.reduce((n, t) => n + t.chunks, 0) > 0 && (
        <details class="stream" open={step.state === 'running'}>
          <summary class="small">
            {step.tries.reduce((n, t) => n + t.chunks, 0)} chunks streamed
          </summary>
          {step.text !== '' && <pre>{step.text}</pre>}
        </details>
      )}
      {children}
    </li>
  );
}

/** The agent's own time when it reported one, else the time between the try's events. */
function tookMs(t: Try, now: number): number | undefined {
  if (t.durationMs !== undefined) return t.durationMs;
  if (t.startedMs === undefined) return undefined;
  return (t.endedMs ?? now) - t.startedMs;
}

function Bars({ run, tries, now }: { run: RunTimeline; tries: readonly Try[]; now: number }) {
  return (
    <span class="track" aria-hidden="true">
      {tries.map((t, i) => {
        const bar = barOf(run, t, now);
        return bar === undefined ? null : (
          <span
            key={`${i}`}
            class={`bar state-${t.state}`}
            style={{ left: `${bar.left}%`, width: `${bar.width}%` }}
          />
        );
      })}
    </span>
  );
}
