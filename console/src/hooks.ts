import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { ApiFailure } from './api.ts';

export interface Polled<T> {
  readonly data: T | undefined;
  readonly error: ApiFailure | undefined;
  /** Asks again now (after an action), without waiting for the next tick. */
  readonly refresh: () => void;
}

/**
 * What `load` answers, asked again every `everyMs` while the page is visible (a hidden tab asks
 * nothing). The last good answer stays on screen while a later one fails; `key` restarts it.
 */
export function usePoll<T>(
  load: (signal: AbortSignal) => Promise<T>,
  everyMs: number,
  key: string = '',
): Polled<T> {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<ApiFailure | undefined>(undefined);
  const [tick, setTick] = useState(0);
  const loadRef = useRef(load);
  loadRef.current = load;
  const refresh = useCallback(() => setTick((t) => t + 1), []);

  useEffect(() => {
    const controller = new AbortController();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const run = async () => {
      if (document.visibilityState !== 'hidden') {
        try {
          const answer = await loadRef.current(controller.signal);
          if (controller.signal.aborted) return;
          setData(answer);
          setError(undefined);
        } catch (failure) {
          if (controller.signal.aborted) return;
          setError(
            failure instanceof ApiFailure
              ? failure
              : new ApiFailure((failure as Error).message, 0, 'ERROR', false),
          );
        }
      }
      timer = setTimeout(run, everyMs);
    };
    void run();
    return () => {
      controller.abort();
      clearTimeout(timer);
    };
  }, [tick, key, everyMs]);

  return { data, error, refresh };
}

/** The location hash without its `#`, kept current. */
export function useHash(): string {
  const read = () => window.location.hash.replace(/^#/, '') || '/agents';
  const [hash, setHash] = useState(read);
  useEffect(() => {
    const changed = () => setHash(read());
    window.addEventListener('hashchange', changed);
    // A change between the first render and now (effects run after paint) fired no listener.
    changed();
    return () => window.removeEventListener('hashchange', changed);
  }, []);
  return hash;
}

/** The time now, ticking every `everyMs` while `active` (bars of a running step grow). */
export function useNow(everyMs: number, active: boolean): number {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    if (!active) return;
    const timer = setInterval(() => setNow(Date.now()), everyMs);
    return () => clearInterval(timer);
  }, [everyMs, active]);
  return now;
}
