import { describe, expect, it } from 'vitest';
import {
  afterEventsAnswer,
  backoffMs,
  RETRY_MAX_MS,
  retryText,
  transient,
} from '../../console/src/follow.ts';

/**
 * How the run page decides, after an answer of GET /coordinations/{id}/events that is not an event
 * stream, whether to ask again (and when), to read the run's status instead, or to stop. The page
 * itself is driven through these answers in a browser by test/e2e/console-proxy.test.ts.
 */
describe('following a run’s events', () => {
  it('waits 1 s, 2 s, 4 s … after failures in a row, never more than 30 s', () => {
    expect([1, 2, 3, 4, 5, 6, 7].map(backoffMs)).toEqual([
      1000, 2000, 4000, 8000, 16_000, 30_000, 30_000,
    ]);
    expect(backoffMs(10_000)).toBe(RETRY_MAX_MS);
    expect(backoffMs(0)).toBe(1000);
  });

  it('asks again after no answer, a timeout, throttling and any server or gateway error', () => {
    for (const status of [0, 408, 429, 500, 502, 503, 504])
      expect(afterEventsAnswer(status, undefined, 2, true), String(status)).toEqual({
        kind: 'retry',
        delayMs: 2000,
      });
    expect([0, 408, 429, 500, 502, 503, 504].every(transient)).toBe(true);
    expect([400, 401, 403, 404, 409].some(transient)).toBe(false);
  });

  it('reads the run’s status where the API keeps no events', () => {
    expect(afterEventsAnswer(503, 'EVENTS_NOT_CONFIGURED', 1, false)).toEqual({ kind: 'poll' });
    // An answer that is no event stream (an API that ignores Accept) is read the same way.
    expect(afterEventsAnswer(200, undefined, 1, false)).toEqual({ kind: 'poll' });
  });

  it('keeps to the events once some came: a status read would draw less', () => {
    expect(afterEventsAnswer(503, 'EVENTS_NOT_CONFIGURED', 3, true)).toEqual({
      kind: 'retry',
      delayMs: 4000,
    });
  });

  it('stops on a refusal that will not change: an unknown run, no permission, a bad request', () => {
    for (const status of [400, 403, 404])
      expect(afterEventsAnswer(status, 'X', 1, false), String(status)).toEqual({ kind: 'stop' });
  });

  it('takes 204 for the end: nothing comes after the last event seen', () => {
    expect(afterEventsAnswer(204, undefined, 1, true)).toEqual({ kind: 'ended' });
  });

  it('says when it will try again', () => {
    expect(retryText('Internal server error', 4000)).toBe(
      'Internal server error (trying again in 4 s)',
    );
  });
});
