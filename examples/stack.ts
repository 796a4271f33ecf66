import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Aws } from 'aws-cdk-lib';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import type { Agent } from '../lib/agent.ts';
import type { MobiusStackProps, StackAgent } from '../lib/mobius-stack.ts';
import { acknowledgeWildcard } from '../lib/nag.ts';
import { bedrockWriter } from './agents/bedrock-writer.ts';
import { EXAMPLE_AGENTS } from './agents/index.ts';
import { narrator } from './agents/narrator.ts';

const ROOT = join(import.meta.dirname, '..');
const REQUESTS = join(import.meta.dirname, 'requests');
export const EXAMPLE_REQUESTS = [
  'hierarchical',
  'sequential',
  'pipeline',
  'parallel',
  'scatter-gather',
  'streaming',
] as const;

export function exampleRequest(name: (typeof EXAMPLE_REQUESTS)[number]): Record<string, unknown> {
  return JSON.parse(readFileSync(join(REQUESTS, `${name}.json`), 'utf8')) as Record<
    string,
    unknown
  >;
}

/**
 * Agents deployed with a response-streaming function beside their main one (AgentProps.streaming):
 * the ones whose handlers yield chunks, so that `POST /messages` with `"stream": true` gets their
 * chunks as they come.
 */
export const STREAMING_AGENTS: ReadonlySet<string> = new Set([narrator.agentId]);

/**
 * What the example app deploys: the research team (the narrator streaming), every example request
 * as a declared (Express) workflow, and the sequential one once more on the Standard path. The
 * Bedrock writer joins when a model id is given.
 */
export function exampleStackProps(
  options: { bedrockModelId?: string; corsOrigins?: readonly string[] } = {},
): Pick<MobiusStackProps, 'agents' | 'workflows' | 'corsOrigins'> {
  // Entries are relative to this repository, wherever `cdk synth` runs.
  const agents: StackAgent[] = EXAMPLE_AGENTS.map((agent) => ({
    ...agent,
    projectRoot: ROOT,
    ...(STREAMING_AGENTS.has(agent.definition.agentId) ? { streaming: true } : {}),
  }));
  if (options.bedrockModelId) {
    const modelId = options.bedrockModelId;
    agents.push({
      definition: bedrockWriter,
      entry: 'examples/agents/bedrock-writer.ts',
      projectRoot: ROOT,
      environment: { MOBIUS_BEDROCK_MODEL_ID: modelId },
      grant: (agent) => grantBedrockModel(agent, modelId),
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

/** Cross-region inference profile ids put the geography first: `us.`, `eu.`, `apac.`, `global.`… */
const GEO_PREFIX = /^(us|us-gov|eu|apac|jp|au|ca|global)\./;

/**
 * Lets the agent call one model with the Converse API, which authorises as bedrock:InvokeModel,
 * and ConverseStream, which authorises as bedrock:InvokeModelWithResponseStream: the model itself,
 * or a cross-region inference profile and the foundation model in the regions that profile routes
 * to.
 */
export function grantBedrockModel(agent: Agent, modelId: string): void {
  const partition = Aws.PARTITION;
  const foundationModels = `arn:${partition}:bedrock:*::foundation-model/${modelId.replace(GEO_PREFIX, '')}`;
  agent.function.addToRolePolicy(
    new PolicyStatement({
      actions: ['bedrock:InvokeModel', 'bedrock:InvokeModelWithResponseStream'],
      resources: [
        foundationModels,
        `arn:${partition}:bedrock:${Aws.REGION}:${Aws.ACCOUNT_ID}:inference-profile/${modelId}`,
      ],
    }),
  );
  acknowledgeWildcard(
    agent.function,
    foundationModels,
    'A cross-region inference profile routes to the same foundation model in several regions; the model is named exactly.',
  );
}
