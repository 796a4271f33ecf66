import { type AgentDefinition, defineAgent } from '../../functions/core/sdk/define-agent.ts';
import { supervisorContext, type WorkerResult } from '../../functions/core/sdk/supervisor.ts';
import { textOf } from './text.ts';

type Output = Record<string, unknown>;
const outputsFrom = (
  results: readonly WorkerResult[],
  capabilityOwner: (agentId: string) => boolean,
): Output[] =>
  results.filter((r) => r.ok && capabilityOwner(r.agentId)).map((r) => r.output as Output);

/**
 * The research team's supervisor. Round 1 looks the question up in the corpus and extracts its
 * keywords; round 2 summarises what was found and reads its tone; then it writes the answer from
 * both rounds. It delegates by capability, so whichever registered agent has the skill does it.
 */
export const planner: AgentDefinition = {
  agentId: 'planner',
  agentType: 'supervisor',
  description:
    'Plans research: splits a question into lookups and analyses, then writes the answer',
  capabilities: [
    { name: 'research-planning', version: '1.0.0', priority: 10, metadata: { rounds: 2 } },
  ],
  handler: (message) => {
    const { round, final, results, rounds, workers } = supervisorContext(message);
    const question = textOf(message.input);
    const holders = (capability: string) => {
      const ids = new Set(
        workers.filter((w) => w.capabilities.includes(capability)).map((w) => w.agentId),
      );
      return (agentId: string) => ids.has(agentId);
    };
    const firstRound = rounds[0] ?? [];
    const passages = outputsFrom(firstRound, holders('fact-lookup')).flatMap(
      (o) => (o.passages as { title: string; text: string }[]) ?? [],
    );

    if (round === 1 && !final) {
      return {
        subtasks: [
          { capability: 'fact-lookup', input: { query: question, limit: 2 } },
          { capability: 'keyword-extraction', input: { text: question } },
        ],
      };
    }
    if (round === 2 && !final) {
      const text = passages.map((p) => p.text).join(' ') || question;
      return {
        subtasks: [
          { capability: 'extractive-summarization', input: { text, sentences: 2 } },
          { capability: 'sentiment-analysis', input: { text } },
        ],
      };
    }
    const summary = outputsFrom(results, holders('extractive-summarization'))[0];
    const tone = outputsFrom(results, holders('sentiment-analysis'))[0];
    const keywords = outputsFrom(firstRound, holders('keyword-extraction'))[0];
    return {
      done: true,
      output: {
        question,
        answer: summary?.summary ?? 'No answer could be assembled from the corpus.',
        keywords: keywords?.keywords ?? [],
        sources: passages.map((p) => p.title),
        tone: tone?.label ?? 'unknown',
      },
    };
  },
};

export const handler = defineAgent(planner);
