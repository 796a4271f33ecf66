import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import * as z from 'zod';
import { dim, green } from './format.ts';
import {
  SCAFFOLD_DEV_DEPENDENCIES,
  SCAFFOLD_FILES,
  SCAFFOLD_SCRIPTS,
  type ScaffoldVersions,
} from './scaffold.ts';
import { UsageError } from './usage-error.ts';

interface Io {
  out(text: string): void;
  err(text: string): void;
}

/** The fields of a package.json init reads and extends; everything else is kept as it is. */
const packageJsonSchema = z.looseObject({
  name: z.string().optional(),
  version: z.string().optional(),
  type: z.string().optional(),
  private: z.boolean().optional(),
  scripts: z.record(z.string(), z.string()).optional(),
  dependencies: z.record(z.string(), z.string()).optional(),
  devDependencies: z.record(z.string(), z.string()).optional(),
  peerDependencies: z.record(z.string(), z.string()).optional(),
});
type PackageJson = z.infer<typeof packageJsonSchema>;

function readPackageJson(path: string): PackageJson {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new UsageError(`${path} is not valid JSON (${(error as Error).message}); fix it first.`);
  }
  const parsed = packageJsonSchema.safeParse(json);
  if (!parsed.success)
    throw new UsageError(
      `${path} is not a package.json init can extend: ${parsed.error.issues
        .map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`)
        .join('; ')}.`,
    );
  return parsed.data;
}

/** Mobius's own package.json, found upwards from this module (in the repository or installed). */
function ownPackage(): PackageJson {
  let dir = import.meta.dirname;
  for (;;) {
    const candidate = join(dir, 'package.json');
    if (existsSync(candidate)) {
      const manifest = readPackageJson(candidate);
      if (manifest.name === 'mobius-coordinator') return manifest;
    }
    const parent = dirname(dir);
    if (parent === dir) throw new Error('mobius-coordinator/package.json not found');
    dir = parent;
  }
}

/** The versions this release is tested with: what the scaffold's dependencies get. */
export function scaffoldVersions(manifest: PackageJson = ownPackage()): ScaffoldVersions {
  const known = {
    ...manifest.devDependencies,
    ...manifest.peerDependencies,
    ...manifest.dependencies,
  };
  const devDependencies: Record<string, string> = {};
  for (const name of SCAFFOLD_DEV_DEPENDENCIES) {
    const version = known[name];
    if (version === undefined) throw new Error(`mobius-coordinator lists no version of ${name}`);
    devDependencies[name] = version;
  }
  return { mobius: `^${manifest.version ?? '0.0.0'}`, devDependencies };
}

/**
 * `mobius init [dir]`: scaffolds a project into `dir` (default: here). Existing files are kept
 * (listed as such) unless `force`; an existing package.json is extended, never replaced: scripts
 * and dependencies it lacks are added, what it has is left alone.
 */
export function initCommand(
  dir: string | undefined,
  options: { force?: boolean },
  io: Io,
  versions: ScaffoldVersions = scaffoldVersions(),
): number {
  const root = resolve(dir ?? '.');
  if (existsSync(root) && !statSync(root).isDirectory())
    throw new UsageError(`${root} is not a folder.`);
  mkdirSync(root, { recursive: true });

  const manifestPath = join(root, 'package.json');
  const manifest: PackageJson = existsSync(manifestPath)
    ? readPackageJson(manifestPath)
    : {
        name: basename(root)
          .toLowerCase()
          .replace(/[^a-z0-9-._~]/g, '-'),
        private: true,
      };
  if (manifest.type !== undefined && manifest.type !== 'module')
    throw new UsageError(
      `${manifestPath} says "type": "${manifest.type}"; the scaffold is ESM. Set "type": "module" or init into a new folder.`,
    );
  manifest.type = 'module';
  manifest.scripts = { ...SCAFFOLD_SCRIPTS, ...manifest.scripts };
  manifest.dependencies = { 'mobius-coordinator': versions.mobius, ...manifest.dependencies };
  manifest.devDependencies = { ...versions.devDependencies, ...manifest.devDependencies };
  writeFileSync(manifestPath, `${JSON.stringify(manifest, null, 2)}\n`);
  io.out(`${green('✔')} package.json`);

  for (const [path, content] of Object.entries(SCAFFOLD_FILES)) {
    const target = join(root, path);
    if (existsSync(target) && !options.force) {
      io.out(`${dim('·')} ${path} ${dim('(exists, kept; --force overwrites)')}`);
      continue;
    }
    mkdirSync(dirname(target), { recursive: true });
    writeFileSync(target, content);
    io.out(`${green('✔')} ${path}`);
  }
  const here = root === resolve('.') ? '' : `cd ${dir} && `;
  io.out(
    `\nNext:\n  ${here}npm install\n  npm test          run requests/hello.json on the embedded runtime\n  npm start         the same, from the CLI\n  npx cdk synth     your agents in a MobiusCoordinator`,
  );
  return 0;
}
