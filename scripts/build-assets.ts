/**
 * Bundles Mobius's own Lambda functions (API, health monitor, registry janitor, outcome recorder,
 * card registration) into dist/assets for the published package, so a user's `cdk synth` deploys
 * them as they are instead of bundling Mobius's sources inside the user's project. The bundles are
 * the ones the stack itself produces: a MobiusCoordinator without agents is synthesised with
 * bundling on, and each function's asset is copied out of the cloud assembly. One set of bundling
 * options (lib/lambda-defaults.ts), nothing built twice.
 *
 * Then the web console (console/) into dist/console: its page, script and stylesheet and the
 * example requests, which `mobius dev` and `mobius console` serve from there in the package
 * (functions/embedded/console-assets.ts), with neither esbuild nor preact installed.
 *
 *   npx tsx scripts/build-assets.ts        (part of `npm run build`)
 */
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, type CfnResource, Stack } from 'aws-cdk-lib';
import type { Function as LambdaFunction } from 'aws-cdk-lib/aws-lambda';
import { writeConsole } from '../functions/embedded/console-assets.ts';
import { AgentRegistration } from '../lib/agent-registration.ts';
import { assetName, ownFunctionEntry } from '../lib/lambda-defaults.ts';
import { MobiusCoordinator } from '../lib/mobius-coordinator.ts';

/** Where the package's compiled lib/ (dist/lib) looks for them: lambda-defaults' ASSETS_DIR. */
const ASSETS_DIR = join(import.meta.dirname, '..', 'dist', 'assets');
const outdir = mkdtempSync(join(tmpdir(), 'mobius-assets-'));
try {
  // Asset metadata names each function's staged bundle in the assembly (the CLI turns it on too).
  const app = new App({ outdir, context: { 'aws:cdk:enable-asset-metadata': true } });
  const stack = new Stack(app, 'MobiusAssets', {
    env: { account: '000000000000', region: 'us-east-1' },
  });
  // With an allow-list, so that the A2A proxy's bundle is prebuilt too.
  const mobius = new MobiusCoordinator(stack, 'Mobius', {
    a2aAllowedHosts: ['agents.example.com'],
  });
  // The card-registration function comes with the first agent's card: one placeholder card.
  new AgentRegistration(stack, 'Registration', {
    tables: mobius.tables,
    card: {
      agentId: 'placeholder',
      agentType: 'placeholder',
      description: 'Brings the registration function into the assembly',
      capabilities: [{ name: 'placeholder', version: '1.0.0' }],
      endpoint: { lambdaArn: 'arn:aws:lambda:us-east-1:000000000000:function:placeholder' },
    },
  });
  app.synth();

  rmSync(ASSETS_DIR, { recursive: true, force: true });
  const built: string[] = [];
  for (const construct of stack.node.findAll()) {
    const entry = ownFunctionEntry(construct);
    if (entry === undefined) continue;
    const fn = construct as LambdaFunction;
    const resource = fn.node.defaultChild as CfnResource | undefined;
    const assetPath = resource?.getMetadata('aws:asset:path') as string | undefined;
    if (!assetPath) throw new Error(`${fn.node.path} has no bundled asset`);
    const target = join(ASSETS_DIR, assetName(entry));
    cpSync(join(outdir, assetPath), target, { recursive: true });
    built.push(`${assetName(entry)} ← ${entry}`);
  }
  console.log(`Bundled ${built.length} functions into ${ASSETS_DIR}:\n  ${built.join('\n  ')}`);
} finally {
  rmSync(outdir, { recursive: true, force: true });
}

/** Where dist/functions/embedded/console-assets.js looks for the console's files. */
const CONSOLE_DIR = join(import.meta.dirname, '..', 'dist', 'console');
const consoleFiles = await writeConsole(CONSOLE_DIR);
console.log(`Bundled the web console into ${CONSOLE_DIR}: ${consoleFiles.join(', ')}`);
