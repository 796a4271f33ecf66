import { join } from 'node:path';
import { Duration, Stack } from 'aws-cdk-lib';
import { Architecture, LoggingFormat, Runtime, Tracing } from 'aws-cdk-lib/aws-lambda';
import {
  type BundlingOptions,
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
 * Context key that turns source maps on for every function: `cdk synth -c mobius:sourceMaps=true`,
 * or `"mobius:sourceMaps": true` in cdk.json. Off by default: a map is five to six times the size
 * of its bundle (1.4 MB for an agent's), and with `--enable-source-maps` every read of an error's
 * `stack` is mapped through it, which Node's documentation warns costs latency. (Importing the
 * handler measured no slower with it: `npm run bench:bundles -- --source-maps`.)
 */
export const SOURCE_MAPS_CONTEXT = 'mobius:sourceMaps';

/**
 * Packages every bundle leaves to the Lambda runtime: the AWS SDK for JavaScript v3, which the
 * nodejs22.x runtime ships (and resolves for ES modules too). Bundled, it made up 386 KiB of each
 * agent's bundle, more than the 250 KB an agent may weigh in all. The price: functions run the
 * runtime's SDK, whose version AWS chooses and updates region by region, not the one the tests ran
 * with (README, "Lambda bundles").
 */
const RUNTIME_PROVIDED_MODULES = ['@aws-sdk/*', '@smithy/*'];

/**
 * How every function is bundled: by the local esbuild (never Docker), minified, as ESM with a
 * `require` shim for the CommonJS dependencies, the AWS SDK left to the runtime. The one place
 * these options live: `npm run bench:bundles` measures them by synthesising the stack.
 */
function mobiusBundling(options: { readonly sourceMaps: boolean }): BundlingOptions {
  return {
    format: OutputFormat.ESM,
    target: 'node22',
    minify: true,
    sourceMap: options.sourceMaps,
    externalModules: RUNTIME_PROVIDED_MODULES,
    mainFields: ['module', 'main'],
    banner:
      "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);",
    forceDockerBundling: false,
  };
}

/** Whether `scope`'s app asks for source maps (SOURCE_MAPS_CONTEXT: `true` or the string "true"). */
function sourceMapsWanted(scope: Construct): boolean {
  const value: unknown = scope.node.tryGetContext(SOURCE_MAPS_CONTEXT);
  return value === true || value === 'true';
}

/**
 * Every function of the stack: Node.js 22 on Arm64, bundled as mobiusBundling says, JSON logs in a
 * log group with a retention; source maps (and Node's use of them) only when SOURCE_MAPS_CONTEXT
 * asks for them.
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
  const sourceMaps = sourceMapsWanted(scope);
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
      ...(sourceMaps ? { NODE_OPTIONS: '--enable-source-maps' } : {}),
      POWERTOOLS_METRICS_NAMESPACE: metricsNamespaceOf(scope),
      ...environment,
    },
    bundling: mobiusBundling({ sourceMaps }),
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
