/**
 * What the run page does after each answer while it follows a coordination's events, as pure
 * functions (unit-tested). The page reads the events with fetch rather than EventSource: an
 * EventSource that gets any answer but a 200 event stream when it reconnects — a proxy's 502 in a
 * network blip, API Gateway's 429 or 504 — closes for good without saying which, so a run of hours
 * would stop updating after one blip. With fetch the page sees each status, and only a refusal
 * that will not change stops it.
 */

/** The first wait before asking again, doubled at each failure in a row up to RETRY_MAX_MS. */
export const RETRY_FIRST_MS = 1000;
export const RETRY_MAX_MS = 30_000;

/** The wait before the retry after `failures` failures in a row (1 first): 1 s, 2 s, 4 s, … 30 s. */
export function backoffMs(failures: number): number {
  return Math.min(RETRY_MAX_MS, RETRY_FIRST_MS * 2 ** Math.max(0, Math.min(failures - 1, 15)));
}

/**
 * Answers worth asking again after: none at all (0: the network, or `mobius console` restarting),
 * a timeout, throttling, and any server or gateway error.
 */
export function transient(status: number): boolean {
  return status === 0 || status === 408 || status === 429 || status >= 500;
}

/** After an answer of the events route that is not an event stream: */
export type Next =
  /** ask again after `delayMs` */
  | { readonly kind: 'retry'; readonly delayMs: number }
  /** this API keeps no events: read the run's status instead */
  | { readonly kind: 'poll' }
  /** nothing more will come (204: the run ended at or before the last event seen) */
  | { readonly kind: 'ended' }
  /** refused for good (an unknown run, no permission): say why and ask no more */
  | { readonly kind: 'stop' };

/**
 * What to do when GET /coordinations/{id}/events answered `status` (0: no answer) with the error
 * `code`, not an event stream, after `failures` failures in a row (this one included).
 * `eventsSeen`: events came before, so the API does keep them (a status read would only draw less).
 */
export function afterEventsAnswer(
  status: number,
  code: string | undefined,
  failures: number,
  eventsSeen: boolean,
): Next {
  if (status === 204) return { kind: 'ended' };
  const noEvents =
    (status === 503 && code === 'EVENTS_NOT_CONFIGURED') || (status >= 200 && status < 300);
  if (noEvents && !eventsSeen) return { kind: 'poll' };
  if (noEvents || transient(status)) return { kind: 'retry', delayMs: backoffMs(failures) };
  return { kind: 'stop' };
}

/** "… (trying again in 4 s)": a transient problem as the page shows it while it waits. */
export function retryText(message: string, delayMs: number): string {
  return `${message} (trying again in ${Math.round(delayMs / 1000)} s)`;
}
