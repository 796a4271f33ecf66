/** Failed PutEvents / SendMessageBatch entries are retried this often, with backoff. */
export const MAX_ENTRY_ATTEMPTS = 5;

/** The backoff before retry `attempt` of failed batch entries: 100 ms doubling, at most 1 s. */
export const pause = (attempt: number) =>
  new Promise((resolve) => setTimeout(resolve, Math.min(1_000, 50 * 2 ** attempt)));

/** Splits items into chunks of at most `entries` items and `bytes` bytes of JSON. */
export function chunkBySize<T>(items: readonly T[], entries: number, bytes: number): T[][] {
  const chunks: T[][] = [];
  let current: T[] = [];
  let size = 0;
  for (const item of items) {
    const itemSize = Buffer.byteLength(JSON.stringify(item), 'utf8');
    if (current.length > 0 && (current.length >= entries || size + itemSize > bytes)) {
      chunks.push(current);
      current = [];
      size = 0;
    }
    current.push(item);
    size += itemSize;
  }
  if (current.length > 0) chunks.push(current);
  return chunks;
}
