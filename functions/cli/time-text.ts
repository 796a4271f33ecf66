import { UsageError } from './usage-error.ts';

/**
 * Times as the operator commands read them: `--since` given as a date or as a span back from now.
 * (They print them with functions/core/time-text.ts, in the web console's words.)
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
