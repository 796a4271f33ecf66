import { UsageError } from './usage-error.ts';

/**
 * `--bedrock [model id]` of `mobius run` and `mobius dev`: the example narrator streams a Bedrock
 * model's tokens instead of its offline text. The region and credentials are resolved here, once,
 * before the embedded runtime starts: it points the process's AWS settings at its local endpoints
 * (and gives it local credentials), which would leave a client built later talking to nobody.
 * Credentials that expire (SSO, assumed roles) are not refreshed: start the command again.
 */
export async function useBedrock(modelId: string): Promise<{ region: string; modelId: string }> {
  const [{ BedrockRuntimeClient }, { fromNodeProviderChain }, { useBedrockClient }] =
    await Promise.all([
      import('@aws-sdk/client-bedrock-runtime'),
      import('@aws-sdk/credential-providers'),
      import('../../examples/agents/narrator.ts'),
    ]);
  let region: string;
  try {
    region = await new BedrockRuntimeClient({}).config.region();
  } catch (error) {
    throw new UsageError(
      `--bedrock needs an AWS region (${(error as Error).message}): set AWS_REGION, or a region in your AWS profile.`,
    );
  }
  const credentials = await fromNodeProviderChain()().catch((error: unknown) => {
    throw new UsageError(
      `--bedrock needs AWS credentials with access to ${modelId} (${(error as Error).message}). ` +
        'Configure them: AWS_PROFILE, `aws sso login`, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY.',
    );
  });
  useBedrockClient(new BedrockRuntimeClient({ region, credentials }));
  // What the narrator reads to choose Bedrock over its offline text (as on Lambda).
  process.env.MOBIUS_BEDROCK_MODEL_ID = modelId;
  return { region, modelId };
}
