#!/usr/bin/env node
// Entry of the `mobius` command. It runs the compiled CLI (dist/) in the installed package, the
// TypeScript sources in this repository; tsx is registered either way, so the CLI can load users'
// TypeScript agent modules (--agents agents/index.ts). Node 22 is required: in the repository,
// an older `node` re-runs this on the Node 22 that `npm install` put in node_modules (the `node`
// dev dependency).
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { constants } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
// The repository has a tsconfig.json; the published package ships none (it runs dist/).
const inRepository = existsSync(join(root, 'tsconfig.json'));
const major = Number(process.versions.node.split('.')[0]);
if (major < 22) {
  const node22 = join(root, 'node_modules', 'node', 'bin', 'node');
  if (!existsSync(node22)) {
    console.error(
      inRepository
        ? `mobius needs Node.js 22 or newer (this is ${process.versions.node}); run \`npm install\` in ${root} first.`
        : `mobius needs Node.js 22 or newer (this is ${process.versions.node}): install Node.js 22 LTS.`,
    );
    process.exit(1);
  }
  const child = spawn(node22, [fileURLToPath(import.meta.url), ...process.argv.slice(2)], {
    stdio: 'inherit',
  });
  // Whoever stops this process (Ctrl-C, kill, a test harness) stops the CLI it runs; the parent
  // waits for the child to shut down and exits as it did.
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.on(signal, () => child.kill(signal));
  }
  const code = await new Promise((resolve) => {
    child.on('exit', (status, signal) =>
      resolve(status ?? (signal ? 128 + (constants.signals[signal] ?? 0) : 1)),
    );
    child.on('error', (error) => {
      console.error(`mobius: cannot start ${node22}: ${error.message}`);
      resolve(1);
    });
  });
  process.exit(code);
}
const { register } = await import('tsx/esm/api');
register();
await import(inRepository ? './mobius.ts' : '../dist/bin/mobius.js');
