import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { MobiusStackProps, StackAgent } from '../lib/mobius-stack.ts';
import { bedrockWriter } from './agents/bedrock-writer.ts';
import { EXAMPLE_AGENTS } from './agents/index.ts';

const REQUESTS = join(import.meta.dirname, 'requests');
export const EXAMPLE_REQUESTS = [
  'hierarchical',
  'sequential',
  'pipeline',
  'parallel',
  'scatter-gather',
] as const;

export function exampleRequest(name: (typeof EXAMPLE_REQUESTS)[number]): Record<string, unknown> {
  return JSON.parse(readFileSync(join(REQUESTS, `${name}.json`), 'utf8')) as Record<
    string,
    unknown
  >;
}

/**
 * What the example app deploys: the research team, every example request as a declared (Express)
 * workflow, and the sequential one once more on the Standard path. The Bedrock writer joins when a
 * model id is given.
 */
export function exampleStackProps(
  options: { bedrockModelId?: string; corsOrigins?: readonly string[] } = {},
): Pick<MobiusStackProps, 'agents' | 'workflows' | 'corsOrigins'> {
  const agents: StackAgent[] = [...EXAMPLE_AGENTS];
  if (options.bedrockModelId) {
    agents.push({
      definition: bedrockWriter,
      entry: 'examples/agents/bedrock-writer.ts',
      environment: { MOBIUS_BEDROCK_MODEL_ID: options.bedrockModelId },
    });
  }
  const workflows: { id: string; request: never }[] = EXAMPLE_REQUESTS.map((id) => ({
    id,
    request: exampleRequest(id) as never,
  }));
  workflows.push({
    id: 'sequential-standard',
    request: { ...exampleRequest('sequential'), mode: 'standard' } as never,
  });
  return { agents, workflows, corsOrigins: options.corsOrigins ?? [] };
}
