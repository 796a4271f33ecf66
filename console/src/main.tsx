/**
 * The Mobius web console: agents, coordinations, a run's graph and timeline, and starting a run.
 * One page, routed by the location hash, served by `mobius dev` (or `mobius console --api`) at `/`
 * and calling the API by relative path.
 */
import { render } from 'preact';
import { useCallback, useEffect, useState } from 'preact/hooks';
import { AgentsPage } from './agents.tsx';
import { call } from './api.ts';
import { CoordinationsPage } from './coordinations.tsx';
import { count, percent } from './format.ts';
import { useHash, usePoll } from './hooks.ts';
import type { Notify } from './notify.ts';
import { RunPage } from './run.tsx';
import { startSession } from './session.ts';
import { StartPage } from './start.tsx';
import type { FleetHealth } from './types.ts';

/** `problem`: what starting the page's session came to, shown until dismissed. */
function App({ problem }: { problem?: string | undefined }) {
  const hash = useHash();
  const [flash, setFlash] = useState<
    { kind: 'ok' | 'error'; text: string; at: number } | undefined
  >(problem === undefined ? undefined : { kind: 'error', text: problem, at: Date.now() });
  const notify: Notify = useCallback((kind, text) => setFlash({ kind, text, at: Date.now() }), []);
  // A success fades after a while; an error stays until the next message or a click.
  useEffect(() => {
    if (flash?.kind !== 'ok') return;
    const timer = setTimeout(() => setFlash(undefined), 8000);
    return () => clearTimeout(timer);
  }, [flash]);

  const run = /^\/coordinations\/(.+)$/.exec(hash);
  const section = run ? 'coordinations' : hash.replace(/^\//, '').split('/')[0] || 'agents';
  let page = <AgentsPage notify={notify} />;
  if (run?.[1] !== undefined) {
    const id = decodedId(run[1]);
    page = <RunPage key={id} id={id} notify={notify} />;
  } else if (section === 'coordinations') page = <CoordinationsPage />;
  else if (section === 'start') page = <StartPage />;

  return (
    <>
      <header>
        <h1>
          <a href="#/agents">Mobius</a>
        </h1>
        <nav>
          {(['agents', 'coordinations', 'start'] as const).map((name) => (
            <a
              key={name}
              href={`#/${name}`}
              data-testid={`nav-${name}`}
              class={section === name ? 'current' : ''}
            >
              {name === 'start' ? 'start' : name}
            </a>
          ))}
        </nav>
        <Fleet />
      </header>
      {flash && (
        <div
          class={`flash ${flash.kind}`}
          data-testid="flash"
          data-kind={flash.kind}
          role={flash.kind === 'error' ? 'alert' : 'status'}
        >
          <span>{flash.text}</span>
          <button
            type="button"
            class="link"
            aria-label="dismiss"
            onClick={() => setFlash(undefined)}
          >
            ×
          </button>
        </div>
      )}
      <main>{page}</main>
    </>
  );
}

/**
 * The id in a run's address, percent-decoded. An address that is not valid percent-encoding (a
 * link cut short, `%E0` typed by hand) keeps it as it is: the run page then says the API knows no
 * such run, instead of the whole page failing to render.
 */
function decodedId(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/** The fleet in one line (GET /health), polled. */
function Fleet() {
  const health = usePoll((signal) => call<FleetHealth>('GET', '/health', undefined, signal), 5000);
  if (health.error)
    return (
      <div class="fleet problem" data-testid="fleet-summary">
        {health.error.message}
      </div>
    );
  const h = health.data;
  if (h === undefined) return <div class="fleet quiet" data-testid="fleet-summary" />;
  const by = h.agents.byStatus as Record<string, number>;
  const notable = Object.entries(by).filter(([status, n]) => n > 0 && status !== 'healthy');
  return (
    <div class="fleet" data-testid="fleet-summary">
      <span data-testid="fleet-agents">
        <strong>{by.healthy ?? 0}</strong>/{h.agents.total} healthy
        {notable.map(([status, n]) => (
          <span key={status} class={`badge status-${status}`}>
            {n} {status}
          </span>
        ))}
      </span>
      <span data-testid="fleet-open-circuits" class={h.openCircuits.length > 0 ? 'warn' : ''}>
        {h.openCircuits.length} open {h.openCircuits.length === 1 ? 'circuit' : 'circuits'}
      </span>
      <span data-testid="fleet-coordinations">
        {h.coordinations.running
          ? `${h.coordinations.running.count}${h.coordinations.running.truncated ? '+' : ''} running`
          : `${h.coordinations.inFlight} running here`}
        {h.coordinations.queued > 0 ? `, ${h.coordinations.queued} queued` : ''}
      </span>
      <span
        data-testid="fleet-failure-rate"
        title={`${h.recent.errors} of ${h.recent.requests} recent requests failed`}
      >
        {percent(h.recent.failureRate)} failing
      </span>
      <span data-testid="fleet-queues" class={(h.queues.deadLetters ?? 0) > 0 ? 'warn' : ''}>
        queues {count(h.queues.depth)} · DLQ {count(h.queues.deadLetters)}
      </span>
    </div>
  );
}

// The link's token is spent before the first call, which carries the session it gives; the page
// renders whatever came of it.
const root = document.getElementById('app');
if (root !== null)
  void startSession()
    .catch((error: unknown) => `The console's session could not start: ${String(error)}`)
    .then((problem) => render(<App problem={problem} />, root));
