/**
 * A Python virtualenv the project keeps for its own tools, rebuilt only when what it is built from
 * changes: a stamp in the venv holds the hash of those inputs. Used for the test tools (.venv,
 * scripts/python-tools.ts) and for LocalStack (.localstack/venv, localstack/host.ts).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface VirtualenvSpec {
  readonly venv: string;
  /** Hash of everything the venv is built from; a change rebuilds it. */
  readonly digest: string;
  /** The interpreter to create the venv with (asked only when it must be created). */
  readonly python: () => string;
  /** `pip install` argument lists, run in order with the venv's Python. */
  readonly installs: readonly (readonly string[])[];
  /** Where pip runs (relative paths in the installs resolve from here). */
  readonly cwd: string;
  /** Added to the error when a step fails: how to fix the machine. */
  readonly hint: string;
  readonly log?: (line: string) => void;
}

/** Makes sure `spec.venv` is built from `spec.digest`; returns whether it (re)installed. */
export function ensureVirtualenv(spec: VirtualenvSpec): boolean {
  const stamp = join(spec.venv, '.requirements.sha256');
  if (existsSync(stamp) && readFileSync(stamp, 'utf8') === spec.digest) return false;
  const run = (command: string, args: readonly string[]) => {
    (spec.log ?? console.log)(`$ ${command} ${args.join(' ')}`);
    const result = spawnSync(command, args, {
      cwd: spec.cwd,
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    if (result.error || result.status !== 0)
      throw new Error(
        `${command} ${args.join(' ')} failed (${result.error ?? `exit ${result.status}`}). ${spec.hint}`,
      );
  };
  const venvPython = join(spec.venv, 'bin', 'python');
  if (!existsSync(venvPython)) run(spec.python(), ['-m', 'venv', spec.venv]);
  for (const args of spec.installs)
    run(venvPython, ['-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', ...args]);
  writeFileSync(stamp, spec.digest);
  return true;
}
