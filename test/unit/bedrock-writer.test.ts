import { Logger } from '@aws-lambda-powertools/logger';
import {
  AccessDeniedException,
  BedrockRuntimeClient,
  ConverseCommand,
  InternalServerException,
  ThrottlingException,
  ValidationException,
} from '@aws-sdk/client-bedrock-runtime';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { bedrockWriter } from '../../examples/agents/bedrock-writer.ts';
import { AGENT_ERROR_NAMES } from '../../functions/core/messaging/agent-errors.ts';
import type { AgentContext } from '../../functions/core/sdk/define-agent.ts';

/**
 * The optional Bedrock agent's own logic, with the Converse API mocked: what it asks the model,
 * and which failures a coordination retries (transient) or gives up on (a refused request).
 */
const bedrock = mockClient(BedrockRuntimeClient);
const context: AgentContext = {
  agentId: 'bedrock-writer',
  logger: new Logger({ logLevel: 'SILENT' }),
  remainingTimeMs: () => 30_000,
  stream: async () => undefined,
};
const write = () =>
  Promise.resolve(
    bedrockWriter.handler({ kind: 'task', input: { findings: 'SQS keeps dead letters' } }, context),
  );

beforeEach(() => {
  bedrock.reset();
  vi.stubEnv('AWS_REGION', 'eu-west-1');
  vi.stubEnv('MOBIUS_BEDROCK_MODEL_ID', 'eu.anthropic.claude-3-haiku-20240307-v1:0');
});
afterEach(() => vi.unstubAllEnvs());

describe('Bedrock writer', () => {
  it('asks the configured model through Converse and returns its text', async () => {
    bedrock.on(ConverseCommand).resolves({
      output: { message: { role: 'assistant', content: [{ text: 'Dead letters are kept.' }] } },
      usage: { inputTokens: 10, outputTokens: 5, totalTokens: 15 },
      stopReason: 'end_turn',
      metrics: { latencyMs: 100 },
    });
    await expect(write()).resolves.toMatchObject({
      report: 'Dead letters are kept.',
      model: 'eu.anthropic.claude-3-haiku-20240307-v1:0',
    });
    const input = bedrock.commandCalls(ConverseCommand)[0]?.args[0].input;
    expect(input?.modelId).toBe('eu.anthropic.claude-3-haiku-20240307-v1:0');
    expect(JSON.stringify(input?.messages)).toContain('SQS keeps dead letters');
  });

  it.each([
    ['throttling', new ThrottlingException({ message: 'slow down', $metadata: {} })],
    ['a service fault', new InternalServerException({ message: 'oops', $metadata: {} })],
  ])('makes %s retryable', async (_, error) => {
    bedrock.on(ConverseCommand).rejects(error);
    await expect(write()).rejects.toMatchObject({ name: AGENT_ERROR_NAMES.retryable });
  });

  it.each([
    ['a bad request', new ValidationException({ message: 'bad input', $metadata: {} })],
    ['no model access', new AccessDeniedException({ message: 'denied', $metadata: {} })],
  ])('makes %s fatal', async (_, error) => {
    bedrock.on(ConverseCommand).rejects(error);
    await expect(write()).rejects.toMatchObject({ name: AGENT_ERROR_NAMES.fatal });
  });

  it('fails fatally, naming the setting, when no model is configured', async () => {
    vi.stubEnv('MOBIUS_BEDROCK_MODEL_ID', '');
    await expect(write()).rejects.toMatchObject({
      name: AGENT_ERROR_NAMES.fatal,
      message: expect.stringContaining('mobius:bedrockModelId'),
    });
    expect(bedrock.commandCalls(ConverseCommand)).toHaveLength(0);
  });
});
