import type { AgentDefinition } from '../../functions/core/sdk/define-agent.ts';
import { factFinder } from './fact-finder.ts';
import { flakySummarizer } from './flaky-summarizer.ts';
import { keywordExtractor } from './keyword-extractor.ts';
import { narrator } from './narrator.ts';
import { planner } from './planner.ts';
import { reportWriter } from './report-writer.ts';
import { sentimentAnalyzer } from './sentiment-analyzer.ts';
import { summarizer } from './summarizer.ts';

export interface ExampleAgent {
  readonly definition: AgentDefinition;
  /** Module whose `handler` export is the agent's Lambda entry, relative to the repository root (examples/stack.ts gives it as projectRoot). */
  readonly entry: string;
}

/**
 * The document-research team: what `mobius dev` / `npm start` run embedded and what the example
 * CDK app deploys. Real, deterministic, offline work — no model calls (the narrator streams its
 * prose; with `--bedrock` it asks a Bedrock model instead).
 */
export const EXAMPLE_AGENTS: readonly ExampleAgent[] = [
  { definition: planner, entry: 'examples/agents/planner.ts' },
  { definition: factFinder, entry: 'examples/agents/fact-finder.ts' },
  { definition: keywordExtractor, entry: 'examples/agents/keyword-extractor.ts' },
  { definition: summarizer, entry: 'examples/agents/summarizer.ts' },
  { definition: flakySummarizer, entry: 'examples/agents/flaky-summarizer.ts' },
  { definition: sentimentAnalyzer, entry: 'examples/agents/sentiment-analyzer.ts' },
  { definition: reportWriter, entry: 'examples/agents/report-writer.ts' },
  { definition: narrator, entry: 'examples/agents/narrator.ts' },
];
