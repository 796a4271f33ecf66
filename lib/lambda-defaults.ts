import { existsSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { CfnResource, Duration, type IAspect, Stack } from 'aws-cdk-lib';
import {
  Architecture,
  CfnFunction,
  Code,
  type FunctionProps,
  Function as LambdaFunction,
  LoggingFormat,
  Runtime,
  Tracing,
} from 'aws-cdk-lib/aws-lambda';
import {
  type BundlingOptions,
  NodejsFunction,
  type NodejsFunctionProps,
  OutputFormat,
} from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct, type IConstruct } from 'constructs';
import { acknowledge } from './nag.ts';

/** Where Mobius's own function sources are: this repository (or the package's dist/). */
export const PROJECT_ROOT = join(import.meta.dirname, '..');

/**
 * Mobius's own functions, prebuilt for the published package (scripts/build-assets.ts writes
 * dist/assets; from dist/lib this resolves there). In the repository there are none: the
 * functions are bundled from source, as any agent is.
 */
export const ASSETS_DIR = join(import.meta.dirname, '..', 'assets');

/** The folder name of an own function's prebuilt asset: its entry, path separators as dashes. */
export const assetName = (entry: string): string => entry.replace(/\.ts$/, '').replaceAll('/', '-');

const ownFunctionEntries = new WeakMap<IConstruct, string>();

/** The source entry of one of Mobius's own functions (what scripts/build-assets.ts prebuilds). */
export const ownFunctionEntry = (construct: IConstruct): string | undefined =>
  ownFunctionEntries.get(construct);

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

type FunctionSettings = Omit<FunctionProps, 'code' | 'handler' | 'runtime'>;

/**
 * What every function of the stack shares: Node.js 22 on Arm64, 512 MB, 30 s, X-Ray, JSON logs
 * in a log group with a retention, the stack's metrics namespace, and the cdk-nag reasons.
 */
function functionSettings(
  scope: Construct,
  id: string,
  props: FunctionSettings,
  sourceMaps: boolean,
): FunctionSettings {
  const { environment, ...rest } = props;
  return {
    architecture: Architecture.ARM_64,
    memorySize: 512,
    timeout: Duration.seconds(30),
    tracing: Tracing.ACTIVE,
    loggingFormat: LoggingFormat.JSON,
    logGroup: new LogGroup(scope, `${id}Logs`, { retention: RetentionDays.ONE_MONTH }),
    environment: {
      ...(sourceMaps ? { NODE_OPTIONS: '--enable-source-maps' } : {}),
      POWERTOOLS_METRICS_NAMESPACE: metricsNamespaceOf(scope),
      ...environment,
    },
    ...rest,
  };
}

function acknowledgeDefaults(fn: LambdaFunction): void {
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
}

/**
 * A function bundled from TypeScript source by the local esbuild, as mobiusBundling says:
 * an agent of the user's project (entry relative to `projectRoot`, by default the directory
 * `cdk synth` runs in; the lock file found from there upwards unless given), or, in this
 * repository, one of Mobius's own functions.
 */
export function mobiusFunction(
  scope: Construct,
  id: string,
  props: { readonly entry: string; readonly handler?: string } & Omit<
    NodejsFunctionProps,
    'entry' | 'handler'
  >,
): LambdaFunction {
  const { entry, handler, projectRoot, depsLockFilePath: lockFile, ...settings } = props;
  const depsLockFilePath = lockFile ?? lockFileIn(projectRoot);
  const sourceMaps = sourceMapsWanted(scope);
  const root = projectRoot ?? process.cwd();
  const fn = new NodejsFunction(scope, id, {
    ...functionSettings(scope, id, settings, sourceMaps),
    entry: isAbsolute(entry) ? entry : join(root, entry),
    handler: handler ?? 'handler',
    runtime: Runtime.NODEJS_22_X,
    ...(projectRoot ? { projectRoot } : {}),
    ...(depsLockFilePath ? { depsLockFilePath } : {}),
    bundling: mobiusBundling({ sourceMaps }),
  });
  acknowledgeDefaults(fn);
  return fn;
}

const LOCK_FILES = ['package-lock.json', 'pnpm-lock.yaml', 'yarn.lock', 'bun.lockb'];

/**
 * The lock file of a project root given explicitly (NodejsFunction would otherwise look upwards
 * from the directory `cdk synth` runs in, and find another project's).
 */
function lockFileIn(projectRoot: string | undefined): string | undefined {
  if (projectRoot === undefined) return undefined;
  return LOCK_FILES.map((name) => join(projectRoot, name)).find((path) => existsSync(path));
}

/**
 * One of Mobius's own functions (API, monitors, registration), `entry` relative to the package:
 * its prebuilt bundle when the package ships one (installed from npm: the user's synth bundles
 * nothing of Mobius's), else bundled from source here.
 */
export function mobiusOwnFunction(
  scope: Construct,
  id: string,
  props: { readonly entry: string } & FunctionSettings,
): LambdaFunction {
  const { entry, ...settings } = props;
  const prebuilt = join(ASSETS_DIR, assetName(entry));
  let fn: LambdaFunction;
  if (existsSync(join(prebuilt, 'index.mjs'))) {
    fn = new LambdaFunction(scope, id, {
      ...functionSettings(scope, id, settings, false),
      code: Code.fromAsset(prebuilt),
      handler: 'index.handler',
      runtime: Runtime.NODEJS_22_X,
    });
    acknowledgeDefaults(fn);
  } else {
    fn = mobiusFunction(scope, id, {
      ...settings,
      entry: join(PROJECT_ROOT, entry),
      projectRoot: PROJECT_ROOT,
      depsLockFilePath: join(PROJECT_ROOT, 'package-lock.json'),
    });
  }
  ownFunctionEntries.set(fn, entry);
  return fn;
}

/**
 * Gives every Lambda function in its scope that has no log group of its own one with a retention
 * (a month, as Mobius's functions have): left alone, Lambda creates `/aws/lambda/<name>` on first
 * use and keeps its logs forever, outside the stack. Mobius's own functions and agents already have
 * theirs (functionSettings); this catches the singleton helpers CDK adds to a stack (custom
 * resource providers, AwsCustomResource, bucket auto-delete and the like), whose props cannot say.
 * MobiusStack applies it to itself; apply it to a stack of your own with
 * `Aspects.of(stack).add(new LogGroupsWithRetention())`.
 */
export class LogGroupsWithRetention implements IAspect {
  visit(node: IConstruct): void {
    if (node instanceof CfnFunction) {
      const config = Stack.of(node).resolve(node.loggingConfig) as
        | { logGroup?: unknown }
        | undefined;
      if (config?.logGroup !== undefined) return;
      const logGroup = this.#logGroupBeside(node);
      if (logGroup !== undefined)
        node.loggingConfig = { ...(config ?? {}), logGroup: logGroup.logGroupName };
      return;
    }
    // CDK's core custom-resource providers (bucket auto-delete and the like) write their function
    // as a plain CfnResource, not a CfnFunction, and never configure its logging: its properties
    // are reached by override.
    if (node instanceof CfnResource && node.cfnResourceType === 'AWS::Lambda::Function') {
      const logGroup = this.#logGroupBeside(node);
      if (logGroup !== undefined)
        node.addPropertyOverride('LoggingConfig.LogGroup', logGroup.logGroupName);
    }
  }

  #logGroupBeside(node: IConstruct): LogGroup | undefined {
    const scope = node.node.scope;
    if (!(scope instanceof Construct)) return undefined;
    return new LogGroup(scope, `${node.node.id}LogGroup`, { retention: RetentionDays.ONE_MONTH });
  }
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
