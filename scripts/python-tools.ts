// Makes sure .venv holds the Python tools pinned in requirements-dev.txt (moto server, cfn-lint,
// schemathesis).
// Runs before the tests (`node scripts/python-tools.ts`, Node 22 strips the types); a no-op when
// the environment already matches the requirements file.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ensureVirtualenv } from './python-venv.ts';

const root = join(import.meta.dirname, '..');
const requirements = join(root, 'requirements-dev.txt');

try {
  const installed = ensureVirtualenv({
    venv: join(root, '.venv'),
    digest: createHash('sha256').update(readFileSync(requirements)).digest('hex'),
    python: () => process.env.PYTHON ?? 'python3',
    installs: [['-r', requirements]],
    cwd: root,
    hint: 'Install Python 3.9+ with venv support (e.g. apt-get install python3-venv), then run `npm test` again.',
  });
  if (installed) console.log('Python test tools ready in .venv');
} catch (error) {
  console.error(`\nCould not prepare the Python test tools: ${(error as Error).message}`);
  process.exit(1);
}
