/**
 * The coordinations page: recent runs, newest first, polled (GET /coordinations), with a status
 * filter and "more" to page back. An API without the list still lets the operator open a run by
 * its id.
 */
import { useState } from 'preact/hooks';
import { agoText, durationText } from '../../functions/core/time-text.ts';
import { call } from './api.ts';
import { shortId } from './format.ts';
import { usePoll } from './hooks.ts';
import type { CoordinationList, CoordinationSummary } from './types.ts';

const POLL_MS = 3000;
const STATUSES = ['running', 'succeeded', 'partial', 'failed', 'cancelled'] as const;

export const runHref = (coordinationId: string): string =>
  `#/coordinations/${encodeURIComponent(coordinationId)}`;

export function CoordinationsPage() {
  const [status, setStatus] = useState('');
  const [older, setOlder] = useState<CoordinationSummary[]>([]);
  const [nextToken, setNextToken] = useState<string | undefined>(undefined);
  const [moreError, setMoreError] = useState<string | undefined>(undefined);
  const filter = status === '' ? '' : `&status=${status}`;
  // The first page is polled; older pages, once asked for, stay as they were read.
  const first = usePoll(
    (signal) =>
      call<CoordinationList>('GET', `/coordinations?limit=25${filter}`, undefined, signal),
    POLL_MS,
    status,
  );
  const token = older.length === 0 ? first.data?.nextToken : nextToken;
  const loadMore = async () => {
    if (token === undefined) return;
    try {
      const page = await call<CoordinationList>(
        'GET',
        `/coordinations?limit=25${filter}&nextToken=${encodeURIComponent(token)}`,
      );
      setOlder((rows) => [...rows, ...page.coordinations]);
      setNextToken(page.nextToken);
      setMoreError(undefined);
    } catch (error) {
      setMoreError((error as Error).message);
    }
  };
  const seen = new Set((first.data?.coordinations ?? []).map((c) => c.coordinationId));
  const rows = [
    ...(first.data?.coordinations ?? []),
    ...older.filter((c) => !seen.has(c.coordinationId)),
  ];
  const now = Date.now();
  return (
    <section>
      <h2>Coordinations</h2>
      <div class="toolbar">
        <label>
          status{' '}
          <select
            data-testid="coordinations-status-filter"
            value={status}
            onChange={(e) => {
              setStatus((e.target as HTMLSelectElement).value);
              setOlder([]);
              setNextToken(undefined);
            }}
          >
            <option value="">all</option>
            {STATUSES.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </label>
        <OpenById />
        <a class="button primary" href="#/start" data-testid="coordinations-start">
          Start a coordination
        </a>
      </div>
      {first.error && (
        <p
          class="problem"
          data-testid={first.error.routeMissing ? 'route-missing' : 'coordinations-error'}
        >
          {first.error.message}
          {first.error.routeMissing && ' Open a run by its id instead.'}
        </p>
      )}
      {first.data !== undefined && rows.length === 0 && (
        <p class="quiet">No coordinations {status === '' ? 'yet' : `with status ${status}`}.</p>
      )}
      {rows.length > 0 && (
        <table class="grid" data-testid="coordinations-table">
          <thead>
            <tr>
              <th>coordination</th>
              <th>pattern</th>
              <th>mode</th>
              <th>status</th>
              <th>started</th>
              <th>duration</th>
              <th>steps</th>
              <th>agents</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((c) => (
              <tr
                key={c.coordinationId}
                data-testid={`coordination-row-${c.coordinationId}`}
                data-status={c.status}
              >
                <td>
                  <a
                    href={runHref(c.coordinationId)}
                    title={c.coordinationId}
                    data-testid="coordination-link"
                  >
                    {shortId(c.coordinationId)}
                  </a>
                </td>
                <td>{c.pattern}</td>
                <td>{c.mode}</td>
                <td>
                  <span class={`badge run-${c.status}`} data-testid="coordination-status">
                    {c.status}
                  </span>
                </td>
                <td title={c.startedAt}>{agoText(c.startedAt, now)}</td>
                <td>
                  {c.totalMs === null
                    ? c.status === 'running'
                      ? '…'
                      : '—'
                    : durationText(c.totalMs)}
                </td>
                <td>{c.steps}</td>
                <td class="small">{c.agents.join(', ')}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {token !== undefined && (
        <button type="button" data-testid="coordinations-more" onClick={loadMore}>
          More
        </button>
      )}
      {moreError && <p class="problem">{moreError}</p>}
    </section>
  );
}

function OpenById() {
  const [id, setId] = useState('');
  return (
    <form
      class="inline"
      onSubmit={(e) => {
        e.preventDefault();
        if (id.trim() !== '') window.location.hash = runHref(id.trim());
      }}
    >
      <input
        data-testid="open-run-id"
        placeholder="coordination id"
        value={id}
        onInput={(e) => setId((e.target as HTMLInputElement).value)}
      />
      <button type="submit">Open</button>
    </form>
  );
}
