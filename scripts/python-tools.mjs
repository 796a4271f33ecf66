// Makes sure .venv holds the Python tools pinned in requirements-dev.txt (moto server, cfn-lint).
// Runs before the tests; a no-op when the environment already matches the requirements file.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const venv = join(root, '.venv');
const requirements = join(root, 'requirements-dev.txt');
const stamp = join(venv, '.requirements.sha256');
const digest = createHash('sha256').update(readFileSync(requirements)).digest('hex');

if (existsSync(stamp) && readFileSync(stamp, 'utf8') === digest) process.exit(0);

function run(command, args) {
  console.log(`$ ${command} ${args.join(' ')}`);
  const result = spawnSync(command, args, { stdio: 'inherit' });
  if (result.error || result.status !== 0) {
    console.error(
      `\nCould not prepare the Python test tools (${command} failed). Install Python 3.9+ with venv ` +
        'support (e.g. apt-get install python3-venv), then run `npm test` again.',
    );
    process.exit(1);
  }
}

const python = process.env.PYTHON ?? 'python3';
if (!existsSync(join(venv, 'bin', 'python'))) run(python, ['-m', 'venv', venv]);
run(join(venv, 'bin', 'python'), [
  '-m',
  'pip',
  'install',
  '--quiet',
  '--disable-pip-version-check',
  '-r',
  requirements,
]);
writeFileSync(stamp, digest);
console.log('Python test tools ready in .venv');
