/** Small formatting helpers for the page. */

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
