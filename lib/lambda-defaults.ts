import { join } from 'node:path';
import { Duration, Stack } from 'aws-cdk-lib';
import { Architecture, LoggingFormat, Runtime, Tracing } from 'aws-cdk-lib/aws-lambda';
import {
  NodejsFunction,
  type NodejsFunctionProps,
  OutputFormat,
} from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import { acknowledge } from './nag.ts';

/** The repository root: entries are given relative to it. */
export const PROJECT_ROOT = join(import.meta.dirname, '..');

/**
 * Every function of the stack: Node.js 22 on Arm64, bundled by the local esbuild (never Docker),
 * as ESM with a `require` shim for the CommonJS dependencies, the AWS SDK bundled in so each
 * function runs the exact SDK it was tested with, JSON logs in a log group with a retention.
 */
export function mobiusFunction(
  scope: Construct,
  id: string,
  props: { readonly entry: string; readonly handler?: string } & Omit<
    NodejsFunctionProps,
    'entry' | 'handler'
  >,
): NodejsFunction {
  const { entry, handler, environment, ...rest } = props;
  const logGroup = new LogGroup(scope, `${id}Logs`, { retention: RetentionDays.ONE_MONTH });
  const fn = new NodejsFunction(scope, id, {
    entry: join(PROJECT_ROOT, entry),
    handler: handler ?? 'handler',
    runtime: Runtime.NODEJS_22_X,
    architecture: Architecture.ARM_64,
    memorySize: 512,
    timeout: Duration.seconds(30),
    tracing: Tracing.ACTIVE,
    loggingFormat: LoggingFormat.JSON,
    logGroup,
    projectRoot: PROJECT_ROOT,
    depsLockFilePath: join(PROJECT_ROOT, 'package-lock.json'),
    environment: {
      NODE_OPTIONS: '--enable-source-maps',
      POWERTOOLS_METRICS_NAMESPACE: metricsNamespaceOf(scope),
      ...environment,
    },
    bundling: {
      format: OutputFormat.ESM,
      target: 'node22',
      minify: true,
      sourceMap: true,
      externalModules: [],
      mainFields: ['module', 'main'],
      banner:
        "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);",
      forceDockerBundling: false,
    },
    ...rest,
  });
  acknowledge(
    fn,
    'AwsSolutions-L1',
    'Pinned to nodejs22.x, the Node.js LTS the project targets and tests on; runtimes are upgraded deliberately.',
  );
  acknowledge(
    fn,
    'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
    'The AWS managed basic execution role only lets the function write its own CloudWatch Logs.',
  );
  acknowledge(
    fn,
    'AwsSolutions-IAM5[Resource::*]',
    'X-Ray PutTraceSegments/PutTelemetryRecords (active tracing) take no resource-level permissions.',
  );
  return fn;
}

/** `arn:<partition>:states:<region>:<account>` of the stack, for names only known at run time. */
export function statesArnPrefix(scope: Construct): string {
  const stack = Stack.of(scope);
  return `arn:${stack.partition}:states:${stack.region}:${stack.account}`;
}

/**
 * The namespace the stack's functions publish EMF metrics to and its dashboard and alarms read:
 * `Mobius/<stack name>`, so two deployments in one account never mix their figures.
 */
export function metricsNamespaceOf(scope: Construct): string {
  return `Mobius/${Stack.of(scope).stackName}`;
}
