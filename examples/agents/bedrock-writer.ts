import { BedrockRuntimeClient, ConverseCommand } from '@aws-sdk/client-bedrock-runtime';
import { FatalAgentError } from '../../functions/core/messaging/agent-errors.ts';
import { type AgentDefinition, defineAgent } from '../../functions/core/sdk/define-agent.ts';
import { bedrockFailure } from './bedrock-errors.ts';
import { textOf } from './text.ts';

/**
 * Optional agent that writes prose with Amazon Bedrock (Converse API). Off by default: the example
 * CDK app deploys it only with `-c mobius:bedrockModelId=<model id>`, and it is not part of the
 * embedded team (it needs AWS credentials and model access). Failures are classified as
 * bedrock-errors.ts says: transient faults retryable, refused requests fatal.
 */
let client: BedrockRuntimeClient | undefined;

export const bedrockWriter: AgentDefinition = {
  agentId: 'bedrock-writer',
  agentType: 'writer',
  description: 'Writes a readable answer from findings with an Amazon Bedrock model',
  capabilities: [
    {
      name: 'report-aggregation',
      version: '2.0.0',
      priority: 1,
      metadata: { provider: 'bedrock', api: 'converse' },
    },
  ],
  handler: async (message) => {
    const modelId = process.env.MOBIUS_BEDROCK_MODEL_ID;
    if (!modelId)
      throw new FatalAgentError(
        'MOBIUS_BEDROCK_MODEL_ID is not set; deploy with -c mobius:bedrockModelId=<model id>',
      );
    client ??= new BedrockRuntimeClient({});
    try {
      const response = await client.send(
        new ConverseCommand({
          modelId,
          system: [
            {
              text: 'You write concise, factual answers from the findings you are given. Cite sources by title.',
            },
          ],
          messages: [{ role: 'user', content: [{ text: textOf(message.input).slice(0, 20_000) }] }],
          inferenceConfig: { maxTokens: 512, temperature: 0.2 },
        }),
      );
      const text = response.output?.message?.content?.map((part) => part.text ?? '').join('') ?? '';
      return { report: text, model: modelId, usage: response.usage };
    } catch (error) {
      throw bedrockFailure(error);
    }
  },
};

export const handler = defineAgent(bedrockWriter);
