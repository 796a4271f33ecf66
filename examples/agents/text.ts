/** Small, deterministic text utilities shared by the example agents. No network, no models. */

const STOPWORDS = new Set(
  'a an and are as at be because been but by can for from has have in into is it its lets more most must not of often on or over rather so such than that the their them then there these they this to up was were what when where which while who will with without you your about after all also any before between both during each every how if may than through under until'.split(
    ' ',
  ),
);

export function words(text: string): string[] {
  return text.toLowerCase().match(/[a-z0-9]+(?:[-'][a-z0-9]+)*/g) ?? [];
}

export function contentWords(text: string): string[] {
  return words(text).filter((w) => w.length > 2 && !STOPWORDS.has(w));
}

export function sentences(text: string): string[] {
  return text
    .split(/(?<=[.!?])\s+(?=[A-Z0-9])/)
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

/** Term frequencies, most frequent first; ties broken alphabetically for determinism. */
export function frequencies(tokens: readonly string[]): [string, number][] {
  const counts = new Map<string, number>();
  for (const token of tokens) counts.set(token, (counts.get(token) ?? 0) + 1);
  return [...counts.entries()].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
}

export function textOf(input: unknown): string {
  if (typeof input === 'string') return input;
  if (input !== null && typeof input === 'object') {
    const record = input as Record<string, unknown>;
    for (const key of ['text', 'question', 'query', 'content']) {
      if (typeof record[key] === 'string') return record[key] as string;
    }
    if (Array.isArray(record.passages))
      return (record.passages as { text?: string }[]).map((p) => p.text ?? '').join(' ');
  }
  return JSON.stringify(input ?? '');
}
