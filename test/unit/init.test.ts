import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { initCommand, scaffoldVersions } from '../../functions/cli/init.ts';
import { SCAFFOLD_FILES } from '../../functions/cli/scaffold.ts';
import { UsageError } from '../../functions/cli/usage-error.ts';

/** `mobius init` on disk; the scaffold is also installed and run for real in test/package. */
const quiet = { out: () => {}, err: () => {} };
const made: string[] = [];
const fresh = () => {
  const dir = mkdtempSync(join(tmpdir(), 'mobius-init-'));
  made.push(dir);
  return dir;
};
afterAll(() => {
  for (const dir of made) rmSync(dir, { recursive: true, force: true });
});
const manifest = (dir: string) =>
  JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as Record<string, unknown>;

describe('mobius init', () => {
  it('writes every scaffold file and a package.json on the versions Mobius is tested with', () => {
    const dir = fresh();
    expect(initCommand(dir, {}, quiet)).toBe(0);
    for (const [path, content] of Object.entries(SCAFFOLD_FILES))
      expect(readFileSync(join(dir, path), 'utf8')).toBe(content);
    const versions = scaffoldVersions();
    expect(manifest(dir)).toMatchObject({
      type: 'module',
      dependencies: { 'mobius-coordinator': versions.mobius },
      devDependencies: versions.devDependencies,
      scripts: { test: 'vitest run' },
    });
  });

  it('extends an existing package.json and keeps existing files unless --force', () => {
    const dir = fresh();
    writeFileSync(
      join(dir, 'package.json'),
      JSON.stringify({
        name: 'mine',
        scripts: { test: 'node --test' },
        dependencies: { 'mobius-coordinator': 'file:../mobius-coordinator-0.1.0.tgz' },
      }),
    );
    writeFileSync(join(dir, 'cdk.json'), '{"app":"mine"}');
    initCommand(dir, {}, quiet);
    expect(manifest(dir)).toMatchObject({
      name: 'mine',
      type: 'module',
      scripts: { test: 'node --test', start: expect.stringContaining('mobius run') },
      dependencies: { 'mobius-coordinator': 'file:../mobius-coordinator-0.1.0.tgz' },
    });
    expect(readFileSync(join(dir, 'cdk.json'), 'utf8')).toBe('{"app":"mine"}');
    initCommand(dir, { force: true }, quiet);
    expect(readFileSync(join(dir, 'cdk.json'), 'utf8')).toBe(SCAFFOLD_FILES['cdk.json']);
  });

  it('refuses a package.json it cannot extend, naming the field, and writes nothing', () => {
    const dir = fresh();
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'odd', scripts: 'x' }));
    expect(() => initCommand(dir, {}, quiet)).toThrow(/scripts: /);
    expect(manifest(dir)).toEqual({ name: 'odd', scripts: 'x' });
  });

  it('refuses a CommonJS package, naming the fix, and writes nothing', () => {
    const dir = fresh();
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'cjs', type: 'commonjs' }));
    expect(() => initCommand(dir, {}, quiet)).toThrow(UsageError);
    expect(() => initCommand(dir, {}, quiet)).toThrow(/Set "type": "module"/);
    expect(manifest(dir)).toEqual({ name: 'cjs', type: 'commonjs' });
  });
});
