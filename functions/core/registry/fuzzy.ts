/**
 * Fuzzy capability matching, used when a discovery selector says `match: "fuzzy"`.
 *
 * 1. Both names are split into lower-case tokens at case changes and separators, so
 *    `textSummarize`, `text_summarize` and `Text-Summarize` all become [text, summarize].
 * 2. Equal token lists score 1.0 — case- and separator-insensitive equality.
 * 3. Otherwise two scores are computed and the higher is kept, scaled by 0.95 so that a near match
 *    never outranks an equal one:
 *    - token score: each query token is paired with its most similar candidate token. Two tokens
 *      are as similar as the best of: edit distance (1 − distance / longer length); a shared
 *      prefix of 4+ characters (0.9 × prefix / shorter length); the same stem after dropping one
 *      common English suffix (0.9: `summarise` ~ `summarization` ~ `summarizer`). Numeric tokens
 *      only match themselves (`shard-7` is not `shard-17`).
 *      The result weighs how well the query is covered (80 %) and how much of the candidate is
 *      explained (20 %).
 *    - string score: edit-distance similarity of the joined token strings (catches typos that
 *      straddle a separator, such as `sumarise` vs `summarize`).
 * Candidates scoring below `minScore` (default 0.7) are not matches.
 */
export const DEFAULT_MIN_FUZZY_SCORE = 0.7;

export function tokenize(name: string): string[] {
  return name
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .replace(/([A-Z]+)([A-Z][a-z])/g, '$1 $2')
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter((token) => token.length > 0);
}

export function levenshtein(a: string, b: string): number {
  if (a === b) return 0;
  if (a.length === 0) return b.length;
  if (b.length === 0) return a.length;
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = (previous[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1);
      current.push(Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, substitution));
    }
    previous = current;
  }
  return previous[b.length] ?? 0;
}

function editSimilarity(a: string, b: string): number {
  const longest = Math.max(a.length, b.length);
  return longest === 0 ? 1 : 1 - levenshtein(a, b) / longest;
}

function commonPrefix(a: string, b: string): number {
  let n = 0;
  while (n < a.length && n < b.length && a[n] === b[n]) n++;
  return n;
}

const SUFFIXES = [
  'isation',
  'ization',
  'ation',
  'ising',
  'izing',
  'ions',
  'ise',
  'ize',
  'ing',
  'ion',
  'ers',
  'er',
  'es',
  'ed',
  's',
  'e',
];

/** Drops one common English suffix, keeping at least four characters of stem. */
export function stem(token: string): string {
  for (const suffix of SUFFIXES) {
    if (token.endsWith(suffix) && token.length - suffix.length >= 4)
      return token.slice(0, -suffix.length);
  }
  return token;
}

export function tokenSimilarity(a: string, b: string): number {
  if (a === b) return 1;
  // Numbers are identifiers (v2, 2024, shard-7): close is not similar.
  if (/^\d+$/.test(a) || /^\d+$/.test(b)) return 0;
  const prefix = commonPrefix(a, b);
  const prefixScore = prefix >= 4 ? (0.9 * prefix) / Math.min(a.length, b.length) : 0;
  const stemScore = stem(a) === stem(b) ? 0.9 : 0;
  return Math.max(editSimilarity(a, b), prefixScore, stemScore);
}

function coverage(from: readonly string[], to: readonly string[]): number {
  if (from.length === 0) return 0;
  let total = 0;
  for (const token of from) {
    let best = 0;
    for (const other of to) best = Math.max(best, tokenSimilarity(token, other));
    total += best;
  }
  return total / from.length;
}

/** Similarity of a requested capability name to a registered one, in [0, 1]. */
export function fuzzyScore(query: string, candidate: string): number {
  const q = tokenize(query);
  const c = tokenize(candidate);
  if (q.length === 0 || c.length === 0) return 0;
  const qKey = q.join(' ');
  const cKey = c.join(' ');
  if (qKey === cKey) return 1;
  const tokenScore = 0.8 * coverage(q, c) + 0.2 * coverage(c, q);
  // The whole-string comparison catches typos across separators, but must not make `shard-7`
  // look like `shard-17`: it only counts when both names carry the same numbers.
  const numbers = (tokens: string[]) => tokens.filter((t) => /^\d+$/.test(t)).join(' ');
  const stringScore = numbers(q) === numbers(c) ? editSimilarity(q.join(''), c.join('')) : 0;
  return Math.round(0.95 * Math.max(tokenScore, stringScore) * 1000) / 1000;
}
