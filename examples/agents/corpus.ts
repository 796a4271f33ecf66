import documents from '../corpus/documents.json' with { type: 'json' };
import { contentWords } from './text.ts';

export interface Passage {
  readonly documentId: string;
  readonly title: string;
  readonly text: string;
  readonly score: number;
}

interface Indexed {
  readonly id: string;
  readonly title: string;
  readonly text: string;
  readonly terms: Map<string, number>;
  readonly length: number;
}

const indexed: Indexed[] = documents.map((doc) => {
  const tokens = contentWords(`${doc.title} ${doc.text}`);
  const terms = new Map<string, number>();
  for (const token of tokens) terms.set(token, (terms.get(token) ?? 0) + 1);
  return { id: doc.id, title: doc.title, text: doc.text, terms, length: tokens.length };
});
const averageLength = indexed.reduce((sum, d) => sum + d.length, 0) / indexed.length;

function documentFrequency(term: string): number {
  return indexed.filter((d) => d.terms.has(term)).length;
}

/**
 * BM25 (k1 = 1.2, b = 0.75) over the bundled corpus: the documents that best answer `query`,
 * best first. Deterministic: ties are broken by document id.
 */
export function search(query: string, limit = 3): Passage[] {
  const terms = [...new Set(contentWords(query))];
  const k1 = 1.2;
  const b = 0.75;
  return indexed
    .map((doc) => {
      let score = 0;
      for (const term of terms) {
        const tf = doc.terms.get(term) ?? 0;
        if (tf === 0) continue;
        const df = documentFrequency(term);
        const idf = Math.log(1 + (indexed.length - df + 0.5) / (df + 0.5));
        score += (idf * tf * (k1 + 1)) / (tf + k1 * (1 - b + (b * doc.length) / averageLength));
      }
      return {
        documentId: doc.id,
        title: doc.title,
        text: doc.text,
        score: Math.round(score * 1000) / 1000,
      };
    })
    .filter((p) => p.score > 0)
    .sort((x, y) => y.score - x.score || x.documentId.localeCompare(y.documentId))
    .slice(0, limit);
}

export const corpusSize = indexed.length;
