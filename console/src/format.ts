/** Small formatting helpers for the page. */

/** "12 s ago", "3 min ago", "2 h ago", or the date for older times. */
export function ago(iso: string | null | undefined, now: number = Date.now()): string {
  if (iso === null || iso === undefined) return '—';
  const at = Date.parse(iso);
  if (Number.isNaN(at)) return iso;
  const seconds = Math.max(0, Math.round((now - at) / 1000));
  if (seconds < 60) return `${seconds} s ago`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ago`;
  if (seconds < 86_400) return `${Math.floor(seconds / 3600)} h ago`;
  return new Date(at).toLocaleString();
}

/** A rate 0…1 as a percentage. */
export const percent = (rate: number | null | undefined): string =>
  rate === null || rate === undefined
    ? '—'
    : `${(rate * 100).toFixed(rate > 0 && rate < 0.1 ? 1 : 0)} %`;

/** A count that may be unknown (null: not reported). */
export const count = (n: number | null | undefined): string =>
  n === null || n === undefined ? '—' : String(n);

/** Pretty JSON for <pre>, cut at `limit` characters. */
export function json(value: unknown, limit = 20_000): string {
  const text = JSON.stringify(value, null, 2) ?? String(value);
  return text.length > limit
    ? `${text.slice(0, limit)}\n… (${text.length - limit} more characters)`
    : text;
}

/** A long id shortened for tables (the full one is the link and the tooltip). */
export const shortId = (id: string): string =>
  id.length > 24 ? `${id.slice(0, 10)}…${id.slice(-10)}` : id;
