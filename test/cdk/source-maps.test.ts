import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { summarizer } from '../../examples/agents/summarizer.ts';
import { SOURCE_MAPS_CONTEXT } from '../../lib/lambda-defaults.ts';
import { MobiusCoordinator } from '../../lib/mobius-coordinator.ts';

/**
 * Source maps are opt-in, and Node is told to use them only when they ship: `--enable-source-maps`
 * makes it parse each map when the module loads. (The bundles themselves: synth.test.ts.)
 */
function nodeOptionsOfOurFunctions(context: Record<string, unknown>): unknown[] {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [], ...context } });
  const stack = new Stack(app, 'UserApp', {
    env: { account: '123456789012', region: 'eu-west-1' },
  });
  new MobiusCoordinator(stack, 'Mobius', {
    agents: [{ definition: summarizer, entry: 'examples/agents/summarizer.ts' }],
  });
  type LambdaResource = { Properties: { Environment?: { Variables?: Record<string, unknown> } } };
  return (
    (
      Object.values(
        Template.fromStack(stack).findResources('AWS::Lambda::Function'),
      ) as LambdaResource[]
    )
      .map((fn) => fn.Properties.Environment?.Variables ?? {})
      // mobiusFunction sets the metrics namespace on every function; the CDK's own do not have it.
      .filter((variables) => 'POWERTOOLS_METRICS_NAMESPACE' in variables)
      .map((variables) => variables.NODE_OPTIONS)
  );
}

describe('source maps', () => {
  it('are off by default: no function is told to use them', () => {
    const options = nodeOptionsOfOurFunctions({});
    expect(options.length).toBeGreaterThanOrEqual(5);
    expect(options.every((value) => value === undefined)).toBe(true);
  });

  it.each([true, 'true'])('with %j in the context, every function uses them', (value) => {
    const options = nodeOptionsOfOurFunctions({ [SOURCE_MAPS_CONTEXT]: value });
    expect(options.length).toBeGreaterThanOrEqual(5);
    expect(options.every((option) => option === '--enable-source-maps')).toBe(true);
  });

  it('stay off for any other value', () => {
    expect(nodeOptionsOfOurFunctions({ [SOURCE_MAPS_CONTEXT]: 'false' })).not.toContain(
      '--enable-source-maps',
    );
  });
});
