/**
 * Times as people read them, the same in the CLI and the web console: spans of time ("850 ms",
 * "3 min 4 s") and instants as how long ago ("12 s ago"). Pure and dependency-free, so the
 * console's browser bundle takes it as it is.
 */

/**
 * A span of time, to a precision a person reads at a glance: 0.42 ms, 850 ms, 4.2 s, 3 min 4 s,
 * 2 h 5 min, 3 d 4 h; `—` when there is none (null, undefined, not a number).
 */
export function durationText(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '—';
  // Under a millisecond (a coordination's own overhead, an agent's latency): two decimals.
  if (ms > 0 && ms < 1) return `${ms.toFixed(2)} ms`;
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

/**
 * How long before `now` an ISO instant was: "just now", "12 s ago", "3 min ago", "2 h ago",
 * "3 d ago"; the text itself if it is no date, `—` when there is none.
 */
export function agoText(iso: string | null | undefined, now: Date | number = Date.now()): string {
  if (iso === null || iso === undefined) return '—';
  const at = Date.parse(iso);
  if (Number.isNaN(at)) return iso;
  const ms = (typeof now === 'number' ? now : now.getTime()) - at;
  // Clocks of the API and this machine differ a little: a moment ahead is still "just now".
  if (ms < 1000) return 'just now';
  const seconds = Math.floor(ms / 1000);
  if (seconds < 60) return `${seconds} s ago`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ago`;
  if (seconds < 86_400) return `${Math.floor(seconds / 3600)} h ago`;
  return `${Math.floor(seconds / 86_400)} d ago`;
}
