/**
 * Settles with `work`, or rejects with `timeout()` after `ms` — whichever comes first — and
 * aborts `controller` on timeout so the underlying request stops too. Relying on the abort alone is
 * not enough: not every transport rejects promptly when aborted.
 */
export async function withDeadline<T>(
  work: (signal: AbortSignal) => Promise<T>,
  ms: number,
  timeout: () => Error,
): Promise<T> {
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      controller.abort();
      reject(timeout());
    }, ms);
  });
  try {
    return await Promise.race([work(controller.signal), expired]);
  } finally {
    clearTimeout(timer);
  }
}
