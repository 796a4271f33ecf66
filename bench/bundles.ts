/**
 * Lambda bundle benchmark. Synthesises the example app with `cdk synth`, so every function is
 * bundled exactly as a deployment bundles it (mobiusFunction in lib/lambda-defaults.ts: the local
 * esbuild, the same options), the optional Bedrock writer included. Then, for each function, it
 * prints the minified size of its bundle and the time to import its handler module in a fresh
 * Node process (median of the runs), and flags what misses the targets: an agent's bundle over
 * 250 KB, or a handler that takes over 150 ms to import.
 *
 * Each import runs in a new `node` (the one running this script: Node 22 under npm) with the
 * function's own environment from the template, the unresolved references replaced by
 * placeholders. Packages the bundles leave to the Lambda runtime (the AWS SDK) resolve from this
 * repository's node_modules, as they resolve from the runtime's own on Lambda, so their load time
 * is part of the figure. Imports alternate between functions, run after run, so that a busy moment
 * of the machine does not land on one function only.
 *
 *   npm run bench:bundles                      (5 imports per function)
 *   npm run bench:bundles -- --runs 9
 *   npm run bench:bundles -- --source-maps     (bundled as with `-c mobius:sourceMaps=true`)
 *   npm run bench:bundles -- --keep            (keep the cloud assembly and print where)
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { AGENT_ENVIRONMENT } from '../functions/core/sdk/environment.ts';
import { SOURCE_MAPS_CONTEXT } from '../lib/lambda-defaults.ts';
import { percentile, printTable } from './support/stats.ts';

/** Targets of issue 14: an agent's bundle, minified, and the import of any handler module. */
const AGENT_BUNDLE_BYTES = 250_000;
const IMPORT_MS = 150;
/** Any model id: it only makes the example app include the Bedrock writer. */
const BEDROCK_MODEL_ID = 'amazon.nova-micro-v1:0';

const ROOT = join(import.meta.dirname, '..');
const { values: args } = parseArgs({
  options: {
    runs: { type: 'string', default: '5' },
    'source-maps': { type: 'boolean', default: false },
    keep: { type: 'boolean', default: false },
  },
});
const runs = Number(args.runs);
if (!Number.isInteger(runs) || runs < 1) throw new Error(`--runs must be a positive integer`);
const sourceMaps = args['source-maps'];
if (!process.version.startsWith('v22.')) {
  console.error(`Warning: imports run on ${process.version}; Lambda runs Node 22 (use npm run).`);
}

interface Bundled {
  /** Construct path under the stack, e.g. `Mobius/Agent-fact-finder/Function`. */
  readonly name: string;
  readonly agent: boolean;
  readonly file: string;
  readonly bytes: number;
  readonly mapBytes: number | undefined;
  readonly exportName: string;
  readonly env: Record<string, string>;
  readonly importMs: number[];
  failure?: string;
}

const out = mkdtempSync(join(tmpdir(), 'mobius-bundles-'));
try {
  synthesise(out);
  const functions = bundledFunctions(out);
  console.error(
    `Importing ${functions.length} handlers ${runs}× each with ${process.execPath} (${process.version})…`,
  );
  for (let run = 0; run < runs; run++) {
    for (const fn of functions) if (fn.failure === undefined) timeImport(fn);
  }
  report(functions);
} finally {
  if (args.keep) console.error(`Cloud assembly kept in ${out}`);
  else rmSync(out, { recursive: true, force: true });
}

function synthesise(outdir: string): void {
  console.error(
    `Synthesising the example app into ${outdir} (source maps ${sourceMaps ? 'on' : 'off'})…`,
  );
  const started = performance.now();
  const result = spawnSync(
    join(ROOT, 'node_modules', '.bin', 'cdk'),
    [
      'synth',
      '--quiet',
      '--no-notices',
      '-o',
      outdir,
      '-c',
      `${SOURCE_MAPS_CONTEXT}=${sourceMaps}`,
      '-c',
      `mobius:bedrockModelId=${BEDROCK_MODEL_ID}`,
      // cdk-nag reads the template only; bundles are the same without it.
      '-c',
      'mobius:nag=false',
    ],
    {
      cwd: ROOT,
      encoding: 'utf8',
      env: { ...process.env, CDK_DISABLE_CLI_TELEMETRY: 'true' },
    },
  );
  if (result.status !== 0) {
    throw new Error(`cdk synth failed (${result.status}):\n${result.stdout}\n${result.stderr}`);
  }
  console.error(`…in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  // The runtime's own SDK lives beside the function's code on Lambda (its node_modules are on the
  // module path, for ES modules too); here the repository's stands in for it.
  symlinkSync(join(ROOT, 'node_modules'), join(outdir, 'node_modules'), 'dir');
}

type Template = {
  Resources: Record<
    string,
    {
      Type: string;
      Metadata?: Record<string, unknown>;
      Properties: {
        Handler?: string;
        MemorySize?: number;
        Environment?: { Variables?: Record<string, unknown> };
      };
    }
  >;
};

/** The functions of every stack in the assembly whose code is a bundle (`index.mjs`). */
function bundledFunctions(outdir: string): Bundled[] {
  const manifest = JSON.parse(readFileSync(join(outdir, 'manifest.json'), 'utf8')) as {
    artifacts: Record<string, { type: string; properties?: { templateFile?: string } }>;
  };
  const functions: Bundled[] = [];
  for (const [stackName, artifact] of Object.entries(manifest.artifacts)) {
    const templateFile = artifact.properties?.templateFile;
    if (artifact.type !== 'aws:cloudformation:stack' || templateFile === undefined) continue;
    const template = JSON.parse(readFileSync(join(outdir, templateFile), 'utf8')) as Template;
    for (const resource of Object.values(template.Resources)) {
      const assetPath = resource.Metadata?.['aws:asset:path'];
      if (resource.Type !== 'AWS::Lambda::Function' || typeof assetPath !== 'string') continue;
      const file = join(outdir, assetPath, 'index.mjs');
      // The CDK's own framework functions (custom resource providers) ship as CommonJS: not ours.
      if (!existsSync(file)) continue;
      const variables = resource.Properties.Environment?.Variables ?? {};
      const cdkPath = String(resource.Metadata?.['aws:cdk:path'] ?? assetPath);
      const name = cdkPath.replace(`${stackName}/`, '').replace(/\/Resource$/, '');
      const [, exportName = 'handler'] = (resource.Properties.Handler ?? 'index.handler').split(
        '.',
      );
      functions.push({
        name,
        agent: AGENT_ENVIRONMENT.queueUrl in variables,
        file,
        bytes: statSync(file).size,
        mapBytes: existsSync(`${file}.map`) ? statSync(`${file}.map`).size : undefined,
        exportName,
        env: lambdaEnvironment(name, join(outdir, assetPath), resource.Properties, variables),
        importMs: [],
      });
    }
  }
  return functions.sort(
    (a, b) => Number(b.agent) - Number(a.agent) || a.name.localeCompare(b.name),
  );
}

/**
 * What Lambda's nodejs22.x runtime puts in the environment, and the function's own variables;
 * values CloudFormation would resolve at deploy time (ARNs, URLs, names) become placeholders.
 * Nothing from this shell leaks in (no credentials, no AWS_ENDPOINT_URL).
 */
function lambdaEnvironment(
  name: string,
  taskRoot: string,
  properties: Template['Resources'][string]['Properties'],
  variables: Record<string, unknown>,
): Record<string, string> {
  const own = Object.fromEntries(
    Object.entries(variables).map(([key, value]) => [
      key,
      typeof value === 'string' ? value : `bench-placeholder-${key.toLowerCase()}`,
    ]),
  );
  return {
    PATH: process.env.PATH ?? '',
    TZ: ':UTC',
    AWS_REGION: 'us-east-1',
    AWS_DEFAULT_REGION: 'us-east-1',
    AWS_EXECUTION_ENV: 'AWS_Lambda_nodejs22.x',
    AWS_LAMBDA_FUNCTION_NAME: name.replaceAll('/', '-'),
    AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(properties.MemorySize ?? 128),
    LAMBDA_TASK_ROOT: taskRoot,
    _HANDLER: properties.Handler ?? 'index.handler',
    ...own,
  };
}

/**
 * One import of the handler module in a fresh process; NODE_OPTIONS comes from the function's
 * environment, so with source maps on the import pays for `--enable-source-maps` as on Lambda.
 */
function timeImport(fn: Bundled): void {
  const script = [
    'const started = performance.now();',
    `const module = await import(${JSON.stringify(pathToFileURL(fn.file).href)});`,
    'const elapsed = performance.now() - started;',
    `if (typeof module[${JSON.stringify(fn.exportName)}] !== 'function')`,
    `  throw new Error('no ${fn.exportName} function exported');`,
    'process.stdout.write(String(elapsed));',
  ].join('\n');
  const result = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
    env: fn.env,
    encoding: 'utf8',
    timeout: 60_000,
  });
  const elapsed = Number(result.stdout);
  if (result.status === 0 && Number.isFinite(elapsed)) {
    fn.importMs.push(elapsed);
    return;
  }
  const lines = `${result.stderr}`.trim().split('\n');
  fn.failure = lines.findLast((line) => /^\w*Error\b/.test(line)) ?? lines.at(-1) ?? 'failed';
}

function report(functions: readonly Bundled[]): void {
  const kb = (bytes: number) => (bytes / 1000).toFixed(1);
  const rows = functions.map((fn) => {
    const p50 = percentile(fn.importMs, 50);
    const misses = [
      fn.agent && fn.bytes > AGENT_BUNDLE_BYTES ? `bundle > ${AGENT_BUNDLE_BYTES / 1000} KB` : '',
      p50 > IMPORT_MS ? `import > ${IMPORT_MS} ms` : '',
      fn.failure === undefined ? '' : `import failed: ${fn.failure}`,
    ].filter((miss) => miss !== '');
    return [
      fn.name,
      fn.agent ? 'agent' : '',
      kb(fn.bytes),
      ...(sourceMaps ? [fn.mapBytes === undefined ? '—' : kb(fn.mapBytes)] : []),
      fn.importMs.length > 0 ? p50.toFixed(0) : '—',
      fn.importMs.length > 0 ? Math.min(...fn.importMs).toFixed(0) : '—',
      misses.length > 0 ? `⚠ ${misses.join(', ')}` : 'ok',
    ];
  });
  console.log(
    `\nLambda bundles (minified, KB = 1 000 bytes; import = median of ${runs} fresh ${process.version} processes)\n`,
  );
  printTable(
    [
      'function',
      '',
      'bundle KB',
      ...(sourceMaps ? ['map KB'] : []),
      'import p50 ms',
      'import min ms',
      `targets (agent ≤ ${AGENT_BUNDLE_BYTES / 1000} KB, import ≤ ${IMPORT_MS} ms)`,
    ],
    rows,
  );
  const missed = rows.filter((row) => row.at(-1) !== 'ok').length;
  console.log(
    missed === 0 ? '\nAll within the targets.' : `\n${missed} of ${rows.length} miss a target.`,
  );
}
