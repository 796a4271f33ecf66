import { type AgentDefinition, defineAgent } from '../../functions/core/sdk/define-agent.ts';
import { textOf, words } from './text.ts';

// A small valence lexicon (−3 … +3) in the spirit of AFINN; enough for the bundled corpus.
const LEXICON: Record<string, number> = {
  good: 2,
  great: 3,
  best: 3,
  help: 2,
  helps: 2,
  free: 1,
  protect: 2,
  protects: 2,
  consistent: 2,
  successfully: 2,
  visible: 1,
  safe: 2,
  fast: 2,
  efficient: 2,
  reliable: 2,
  explicit: 1,
  simple: 1,
  bad: -2,
  poor: -2,
  fail: -2,
  fails: -2,
  failing: -2,
  failure: -2,
  failures: -2,
  lag: -1,
  latency: -1,
  losing: -2,
  lost: -2,
  poison: -3,
  surprise: -1,
  expensive: -2,
  hard: -1,
  hides: -2,
  error: -2,
  errors: -2,
  slow: -2,
  broken: -3,
};

export function sentiment(text: string): {
  score: number;
  label: 'positive' | 'negative' | 'neutral';
  positive: string[];
  negative: string[];
} {
  const tokens = words(text);
  let score = 0;
  const positive = new Set<string>();
  const negative = new Set<string>();
  for (const token of tokens) {
    const value = LEXICON[token] ?? 0;
    score += value;
    if (value > 0) positive.add(token);
    if (value < 0) negative.add(token);
  }
  const normalised =
    tokens.length === 0 ? 0 : Math.round((score / Math.sqrt(tokens.length)) * 100) / 100;
  const label = normalised > 0.2 ? 'positive' : normalised < -0.2 ? 'negative' : 'neutral';
  return {
    score: normalised,
    label,
    positive: [...positive].sort(),
    negative: [...negative].sort(),
  };
}

export const sentimentAnalyzer: AgentDefinition = {
  agentId: 'sentiment-analyzer',
  agentType: 'nlp-worker',
  description: 'Scores the tone of a text with a valence lexicon',
  capabilities: [
    {
      name: 'sentiment-analysis',
      version: '1.0.0',
      priority: 5,
      metadata: { method: 'lexicon', range: [-3, 3] },
    },
  ],
  handler: (message) => sentiment(textOf(message.input)),
};

export const handler = defineAgent(sentimentAnalyzer);
