import { type AgentDefinition, defineAgent } from '../../functions/core/sdk/define-agent.ts';

interface StepRecord {
  outcome?: { ok: boolean; result?: { agentId: string; output: Record<string, unknown> } };
}

/**
 * Assembles a short report from what the earlier steps found: in a sequential coordination it
 * reads their records from the task context; otherwise it reports on its own input.
 */
export const reportWriter: AgentDefinition = {
  agentId: 'report-writer',
  agentType: 'writer',
  description: 'Writes a short report from the outputs of earlier steps',
  capabilities: [
    { name: 'report-aggregation', version: '1.0.0', priority: 5, metadata: { format: 'markdown' } },
  ],
  handler: (message) => {
    const records = (message.task?.context ?? {}) as Record<string, StepRecord>;
    const findings = Object.entries(records).flatMap(([stepId, record]) =>
      record.outcome?.ok && record.outcome.result
        ? [{ stepId, agentId: record.outcome.result.agentId, output: record.outcome.result.output }]
        : [],
    );
    const lines = findings.map(({ stepId, agentId, output }) => {
      if (Array.isArray(output.keywords))
        return `- **${stepId}** (${agentId}): keywords ${output.keywords.join(', ')}`;
      if (Array.isArray(output.passages))
        return `- **${stepId}** (${agentId}): ${(output.passages as { title: string }[]).map((p) => p.title).join('; ')}`;
      if (typeof output.summary === 'string')
        return `- **${stepId}** (${agentId}): ${output.summary}`;
      if (typeof output.label === 'string')
        return `- **${stepId}** (${agentId}): tone ${output.label}`;
      return `- **${stepId}** (${agentId}): ${JSON.stringify(output).slice(0, 120)}`;
    });
    return {
      report: [`# Findings`, ...(lines.length > 0 ? lines : ['- nothing to report'])].join('\n'),
      sources: findings.length,
    };
  },
};

export const handler = defineAgent(reportWriter);
