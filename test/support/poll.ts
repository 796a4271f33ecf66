/** Reads until `ok` holds: `reads` reads (100 by default), 100 ms apart, at most. */
export async function eventually<T>(
  read: () => Promise<T>,
  ok: (value: T) => boolean,
  reads = 100,
): Promise<T> {
  let last: T | undefined;
  for (let i = 0; i < reads; i++) {
    last = await read();
    if (ok(last)) return last;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`condition not met; last value: ${JSON.stringify(last)}`);
}
