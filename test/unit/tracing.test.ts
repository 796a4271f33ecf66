import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Tracer } from '@aws-lambda-powertools/tracer';
import xray from 'aws-xray-sdk-core';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

/**
 * The shared SDK clients are captured by the Powertools Tracer (X-Ray) when a Lambda entry
 * installs an enabled tracer, and left alone otherwise. Module state (the installed tracer, the
 * shared clients) is per import: every test imports fresh modules.
 */
const XRAY_MIDDLEWARE = 'XRaySDKInstrumentation';
type Stacked = { middlewareStack: { identify(): string[] } };
const isCaptured = (client: Stacked) =>
  client.middlewareStack.identify().some((name) => name.startsWith(XRAY_MIDDLEWARE));

async function fresh() {
  vi.resetModules();
  const [tracing, dynamodb, sqs, sfn, lambda, eventbridge] = await Promise.all([
    import('../../functions/core/aws/tracing.ts'),
    import('../../functions/core/aws/dynamodb.ts'),
    import('../../functions/core/aws/sqs.ts'),
    import('../../functions/core/aws/sfn.ts'),
    import('../../functions/core/aws/lambda.ts'),
    import('../../functions/core/aws/eventbridge.ts'),
  ]);
  const clients = () =>
    ({
      dynamodb: dynamodb.sharedDocumentClient(),
      sqs: sqs.sharedSqsClient(),
      sfn: sfn.sharedSfnClient(),
      lambda: lambda.sharedLambdaClient(),
      eventbridge: eventbridge.sharedEventBridgeClient(),
    }) as Record<string, Stacked>;
  return { tracing, clients };
}

/** What Lambda's environment says to Powertools: tracing on unless told otherwise. */
function inLambda(): void {
  vi.stubEnv('AWS_EXECUTION_ENV', 'AWS_Lambda_nodejs22.x');
  vi.stubEnv('AWS_LAMBDA_FUNCTION_NAME', 'mobius-api');
  vi.stubEnv('AWS_REGION', 'us-east-1');
  vi.stubEnv('POWERTOOLS_TRACE_ENABLED', '');
}

beforeEach(() => {
  vi.stubEnv('AWS_REGION', 'us-east-1');
});
afterEach(() => {
  vi.unstubAllEnvs();
});

describe('tracing of the shared SDK clients', () => {
  it('captures every shared client once an enabled tracer is installed', async () => {
    inLambda();
    const { tracing, clients } = await fresh();
    const tracer = new Tracer({ serviceName: 'mobius-api' });
    expect(tracer.isTracingEnabled()).toBe(true);
    tracing.installTracer(tracer);
    expect(tracing.activeTracer()).toBe(tracer);
    const made = clients();
    expect(Object.entries(made).map(([name, c]) => [name, isCaptured(c)])).toEqual(
      Object.keys(made).map((name) => [name, true]),
    );
  });

  it('an agent given a tracer (defineAgent { tracer }) traces its SDK calls; one without stays untraced', async () => {
    inLambda();
    const { tracing, clients } = await fresh();
    const { defineAgent } = await import('../../functions/core/sdk/define-agent.ts');
    const definition = {
      agentId: 'traced',
      agentType: 'worker',
      description: 'traced agent',
      capabilities: [{ name: 'echo', version: '1.0.0' }],
      handler: () => ({}),
    };
    defineAgent(definition, { idempotency: false });
    expect(tracing.activeTracer()).toBeUndefined();
    const tracer = new Tracer({ serviceName: 'traced' });
    defineAgent(definition, { idempotency: false, tracer });
    expect(tracing.activeTracer()).toBe(tracer);
    expect(isCaptured(clients().sqs as Stacked)).toBe(true);
  });

  it('captures clients created before the tracer was installed, once each', async () => {
    inLambda();
    const { tracing, clients } = await fresh();
    const before = clients();
    expect(Object.values(before).some(isCaptured)).toBe(false);
    tracing.installTracer(new Tracer());
    for (const client of Object.values(before)) {
      expect(
        client.middlewareStack.identify().filter((n) => n.startsWith(XRAY_MIDDLEWARE)),
      ).toHaveLength(1);
    }
  });

  it('leaves the clients alone when the tracer is disabled (POWERTOOLS_TRACE_ENABLED=false)', async () => {
    inLambda();
    vi.stubEnv('POWERTOOLS_TRACE_ENABLED', 'false');
    const { tracing, clients } = await fresh();
    tracing.installTracer(new Tracer());
    expect(tracing.activeTracer()).toBeUndefined();
    expect(Object.values(clients()).some(isCaptured)).toBe(false);
  });

  it('leaves the clients alone outside Lambda (embedded runtime, CLI, tests)', async () => {
    vi.stubEnv('AWS_EXECUTION_ENV', '');
    vi.stubEnv('AWS_LAMBDA_FUNCTION_NAME', '');
    const { tracing, clients } = await fresh();
    tracing.installTracer(new Tracer());
    expect(tracing.activeTracer()).toBeUndefined();
    expect(Object.values(clients()).some(isCaptured)).toBe(false);
  });

  it('leaves the clients alone when no tracer is installed, even in Lambda', async () => {
    inLambda();
    const { clients } = await fresh();
    expect(Object.values(clients()).some(isCaptured)).toBe(false);
  });
});

describe('annotate', () => {
  it('annotates the current subsegment with agentId and coordinationId', async () => {
    inLambda();
    const { tracing } = await fresh();
    const tracer = new Tracer();
    tracing.installTracer(tracer);
    const facade = new xray.Segment('mobius-api');
    const handler = facade.addNewSubsegment('## index.handler');
    vi.spyOn(tracer, 'getSegment').mockReturnValue(handler);
    tracing.annotate({ coordinationId: 'c-1', agentId: 'fact-finder' });
    expect((handler as unknown as { annotations: unknown }).annotations).toEqual({
      coordinationId: 'c-1',
      agentId: 'fact-finder',
    });
  });

  it("skips Lambda's facade segment, which X-Ray refuses to annotate, without a warning", async () => {
    inLambda();
    const { tracing } = await fresh();
    const tracer = new Tracer();
    tracing.installTracer(tracer);
    const facade = new xray.Segment('mobius-api');
    vi.spyOn(tracer, 'getSegment').mockReturnValue(facade);
    const warn = vi.spyOn(console, 'warn');
    tracing.annotate({ coordinationId: 'c-1' });
    expect((facade as unknown as { annotations?: unknown }).annotations).toBeUndefined();
    expect(warn).not.toHaveBeenCalled();
  });

  it('does nothing without an installed tracer', async () => {
    const { tracing } = await fresh();
    expect(() => tracing.annotate({ coordinationId: 'c-1' })).not.toThrow();
    expect(tracing.activeTracer()).toBeUndefined();
  });
});

describe('cost where nothing is traced', () => {
  it('the embedded runtime, the API and the coordination service never load the X-Ray SDK', async () => {
    const root = join(import.meta.dirname, '..', '..');
    // A fresh Node with the project's TypeScript loader, every module it resolves recorded; the
    // tracer imported last shows that the record would see the X-Ray SDK.
    const script = `
      const { registerHooks } = await import('node:module');
      const seen = new Set();
      registerHooks({ resolve(specifier, context, next) {
        const resolved = next(specifier, context);
        seen.add(resolved.url);
        return resolved;
      } });
      const xray = () => [...seen].filter((url) => url.includes('aws-xray-sdk-core')).length;
      await import('./functions/embedded/runtime.ts');
      await import('./functions/coordination/service.ts');
      await import('./functions/api/app.ts');
      const before = xray();
      await import('@aws-lambda-powertools/tracer');
      console.log(JSON.stringify({ before, after: xray() > 0 }));`;
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['--import', 'tsx', '--input-type=module', '-e', script],
      { cwd: root, env: { ...process.env, AWS_REGION: 'us-east-1' } },
    );
    expect(JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}')).toEqual({
      before: 0,
      after: true,
    });
  });
});
