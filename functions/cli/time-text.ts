import { UsageError } from './usage-error.ts';

/**
 * Times as the operator commands read and print them: `--since` given as a date or as a span back
 * from now, spans of time as a person says them ("3 min 4 s"), instants as how long ago.
 */

const UNIT_MS = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
const SPAN = /^(\d+)\s*([smhd])$/;

/**
 * The instant `--since` names, as the ISO date-time the API takes: an ISO 8601 date-time
 * (`2026-05-01T12:00:00Z`), a date (`2026-05-01`, midnight UTC), or a span back from `now`:
 * `45s`, `30m`, `2h`, `1d`.
 */
export function parseSince(text: string, now: Date = new Date()): string {
  const value = text.trim();
  const span = SPAN.exec(value);
  if (span !== null) {
    const [, amount, unit] = span as unknown as [string, string, keyof typeof UNIT_MS];
    return new Date(now.getTime() - Number(amount) * UNIT_MS[unit]).toISOString();
  }
  // Only text shaped like a date: Date.parse also takes "1", "May" and other loose forms.
  if (/^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$/.test(value)) {
    const at = Date.parse(value);
    if (!Number.isNaN(at)) return new Date(at).toISOString();
  }
  throw new UsageError(
    `--since takes an ISO date-time (2026-05-01T12:00:00Z), a date (2026-05-01) or a time back from now (45s, 30m, 2h, 1d); got ${JSON.stringify(text)}.`,
  );
}

/** A span of time, to a precision a person reads at a glance: 850 ms, 4.2 s, 3 min 4 s, 2 h 5 min, 3 d 4 h. */
export function durationText(ms: number): string {
  if (ms < 1000) return `${Math.max(0, Math.round(ms))} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const pair = (big: number, bigUnit: string, small: number, smallUnit: string) =>
    small === 0 ? `${big} ${bigUnit}` : `${big} ${bigUnit} ${small} ${smallUnit}`;
  const seconds = Math.floor(ms / 1000);
  if (seconds < 3600) return pair(Math.floor(seconds / 60), 'min', seconds % 60, 's');
  const minutes = Math.floor(seconds / 60);
  if (minutes < 1440) return pair(Math.floor(minutes / 60), 'h', minutes % 60, 'min');
  const hours = Math.floor(minutes / 60);
  return pair(Math.floor(hours / 24), 'd', hours % 24, 'h');
}

/** How long before `now` an ISO instant was: "12 s ago", "3 min ago", "just now"; the text itself if it is no date. */
export function agoText(iso: string, now: Date = new Date()): string {
  const at = Date.parse(iso);
  if (Number.isNaN(at)) return iso;
  const ms = now.getTime() - at;
  // Clocks of the API and this machine differ a little: a moment ahead is still "just now".
  if (ms < 1000) return 'just now';
  const seconds = Math.floor(ms / 1000);
  if (seconds < 60) return `${seconds} s ago`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ago`;
  if (seconds < 86_400) return `${Math.floor(seconds / 3600)} h ago`;
  return `${Math.floor(seconds / 86_400)} d ago`;
}
