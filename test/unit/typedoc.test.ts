import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..', '..');
const run = promisify(execFile);

interface TypeDocConfig {
  entryPoints: string[];
  out: string;
  treatWarningsAsErrors?: boolean;
}

describe('API reference (TypeDoc)', () => {
  const config = JSON.parse(readFileSync(join(root, 'typedoc.json'), 'utf8')) as TypeDocConfig;

  it('documents the five entry points the package exports', () => {
    const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
      scripts: Record<string, string>;
    };
    expect(config.entryPoints).toEqual([
      'entry/agent.ts',
      'entry/cdk.ts',
      'entry/client.ts',
      'entry/embedded.ts',
      'entry/compiler.ts',
    ]);
    expect(config.out).toBe('docs/reference');
    expect(manifest.scripts.docs).toBe('typedoc');
  });

  it('builds without a warning (what `npm run docs` generates into docs/reference)', async () => {
    expect(config.treatWarningsAsErrors).toBe(true);
    // --emit none: convert and validate everything, write nothing. Warnings are errors (typedoc.json),
    // so a type an entry point exposes without exporting, or a broken link, fails here.
    const typedoc = join(root, 'node_modules', 'typedoc', 'bin', 'typedoc');
    const result = await run(process.execPath, [typedoc, '--emit', 'none'], {
      cwd: root,
      env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' },
    }).catch((error: { code?: number; stdout?: string; stderr?: string }) => error);
    const output = `${result.stdout ?? ''}${result.stderr ?? ''}`;
    expect('code' in result ? result.code : 0, output).toBe(0);
    expect(output).not.toMatch(/\[(warning|error)\]/);
  }, 120_000);
});
