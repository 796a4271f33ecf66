import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * Mobius as a user gets it: the package is packed, installed from the tarball into an empty folder
 * outside the repository (offline, from the npm cache), and used there as the README says — every
 * entry point imported by plain Node, `mobius init`, then the scaffold's own `npm test`,
 * `mobius run` and `cdk synth`. Nothing here reads the repository's sources.
 */
const ROOT = join(import.meta.dirname, '..', '..');
// The project's Node 22 first: the scaffold's tools (vitest 5, the CLI) need Node ≥ 22.
const PATH = `${join(ROOT, 'node_modules', '.bin')}${delimiter}${process.env.PATH ?? ''}`;
const ENTRY_POINTS = ['agent', 'cdk', 'client', 'embedded', 'compiler'] as const;

let project: string;
let tarballPath: string;
/** Everything made here, removed at the end (a project with node_modules is ~360 MB). */
const made: string[] = [];
const scratch = (prefix: string) => {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  made.push(dir);
  return dir;
};

function run(command: string, args: string[], cwd: string, timeoutMs = 300_000) {
  const result = spawnSync(command, args, {
    cwd,
    env: { ...process.env, PATH, npm_config_fund: 'false', npm_config_audit: 'false' },
    encoding: 'utf8',
    timeout: timeoutMs,
  });
  if (result.status !== 0)
    throw new Error(
      `${command} ${args.join(' ')} exited ${result.status}:\n${`${result.stdout}\n${result.stderr}`.slice(-4000)}`,
    );
  return { stdout: result.stdout, all: `${result.stdout}\n${result.stderr}` };
}

/** As the README says: install the package, scaffold, install what the scaffold needs (CDK: a peer). */
function install(dir: string, mode: '--offline' | '--prefer-offline'): void {
  writeFileSync(join(dir, 'package.json'), '{ "name": "my-agents", "private": true }\n');
  run('npm', ['install', mode, tarballPath], dir);
  run('npx', ['mobius', 'init'], dir);
  run('npm', ['install', mode], dir);
}

beforeAll(() => {
  const packDir = scratch('mobius-pack-');
  run('npm', ['pack', '--pack-destination', packDir], ROOT, 600_000);
  const tarball = readdirSync(packDir).find((f) => f.endsWith('.tgz'));
  if (!tarball) throw new Error('npm pack made no tarball');
  tarballPath = join(packDir, tarball);
  // npm resolves a project without a lock file from registry metadata, which `npm ci` does not
  // cache (only tarballs): a first install may fetch that metadata. The user's install then runs
  // with --offline: everything from the npm cache, no network.
  install(scratch('mobius-warm-'), '--prefer-offline');
  project = scratch('mobius-user-');
  install(project, '--offline');
}, 900_000);

afterAll(() => {
  for (const dir of made) rmSync(dir, { recursive: true, force: true });
});

describe('the installed package', () => {
  it('serves every entry point to plain Node (compiled ESM, no tsx), with its types', () => {
    const script = ENTRY_POINTS.map(
      (entry) =>
        `const m_${entry} = await import('mobius-coordinator/${entry}'); if (Object.keys(m_${entry}).length === 0) throw new Error('${entry} exports nothing');`,
    ).join('\n');
    run('node', ['--input-type=module', '-e', script], project);
    const manifest = JSON.parse(
      readFileSync(join(project, 'node_modules', 'mobius-coordinator', 'package.json'), 'utf8'),
    ) as { exports: Record<string, { types: string }> };
    for (const entry of ENTRY_POINTS) {
      const types = manifest.exports[`./${entry}`]?.types ?? '';
      expect(
        readFileSync(join(project, 'node_modules', 'mobius-coordinator', types), 'utf8'),
      ).toMatch(/export/);
    }
  });

  it('/agent loads neither CDK nor the emulators', () => {
    // Node's module hooks see every module the import resolves.
    const script = `
      import { registerHooks } from 'node:module';
      const seen = [];
      registerHooks({ resolve(specifier, context, next) { const r = next(specifier, context); seen.push(r.url); return r; } });
      await import('mobius-coordinator/agent');
      const heavy = seen.filter((url) => /aws-cdk-lib|constructs|dynalite|local-aws-sqs|aws-local-stepfunctions|asl-validator/.test(url));
      if (heavy.length > 0) throw new Error('agent loads ' + heavy.join(', '));
      console.log(seen.length + ' modules');`;
    expect(run('node', ['--input-type=module', '-e', script], project).stdout).toMatch(
      /\d+ modules/,
    );
  });

  it('scaffolds with mobius init: its own npm test passes', () => {
    expect(run('npm', ['test'], project).all).toMatch(/1 passed/);
  });

  it('runs the scaffold’s request with the CLI, loading its TypeScript agents', () => {
    const { stdout } = run(
      'npx',
      ['mobius', 'run', 'requests/hello.json', '--agents', 'agents/index.ts', '--json'],
      project,
    );
    expect(JSON.parse(stdout)).toMatchObject({
      status: 'succeeded',
      output: { greeting: 'HELLO, ADA!' },
    });
  });

  it('serves the web console from its prebuilt files: mobius dev answers / and the files it names', async () => {
    // Its own process group, so that stopping it stops every process it started.
    const child = spawn(
      'node',
      [
        join(project, 'node_modules', 'mobius-coordinator', 'bin', 'mobius.mjs'),
        'dev',
        '--port',
        '0',
      ],
      {
        cwd: project,
        env: { ...process.env, PATH, NO_COLOR: '1' },
        detached: true,
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    try {
      let base: string | undefined;
      for (let i = 0; i < 600 && base === undefined && child.exitCode === null; i++) {
        base = /Web console at (http:\/\/127\.0\.0\.1:\d+)\//.exec(output)?.[1];
        if (base === undefined) await new Promise((wait) => setTimeout(wait, 100));
      }
      expect(base, output).toBeDefined();
      const page = await fetch(`${base}/`);
      expect(page.status).toBe(200);
      expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
      const html = await page.text();
      const script = /<script[^>]+src="(\/console\/app\.[0-9a-f]+\.js)"/.exec(html)?.[1];
      const style = /<link[^>]+href="(\/console\/app\.[0-9a-f]+\.css)"/.exec(html)?.[1];
      expect(script, html).toBeDefined();
      expect(style, html).toBeDefined();
      for (const [path, type] of [
        [script, 'text/javascript; charset=utf-8'],
        [style, 'text/css; charset=utf-8'],
      ] as const) {
        const file = await fetch(`${base}${path}`);
        expect(file.status, path).toBe(200);
        expect(file.headers.get('content-type')).toBe(type);
        expect((await file.text()).length).toBeGreaterThan(1000);
      }
      const examples = await fetch(`${base}/console/examples`);
      expect(examples.status).toBe(200);
      expect(((await examples.json()) as { examples: unknown[] }).examples.length).toBeGreaterThan(
        0,
      );
    } finally {
      if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
        process.kill(-child.pid, 'SIGTERM');
        await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 10_000))]);
        if (child.exitCode === null && child.signalCode === null)
          process.kill(-child.pid, 'SIGKILL');
      }
    }
  });

  it('synthesises the scaffold’s CDK app: its agents in a MobiusCoordinator', () => {
    run('npx', ['cdk', 'synth', '--quiet', '--no-notices'], project, 600_000);
    const template = JSON.parse(
      readFileSync(join(project, 'cdk.out', 'HelloMobius.template.json'), 'utf8'),
    ) as { Resources: Record<string, { Type: string }> };
    const types = Object.values(template.Resources).map((r) => r.Type);
    expect(types.filter((t) => t === 'Custom::MobiusAgentCard')).toHaveLength(2);
    expect(types).toContain('AWS::ApiGateway::RestApi');
  });
});

describe('the tarball', () => {
  it('holds compiled code, types, prebuilt functions, the CLI and the sources its maps point at — no tests', () => {
    const files = execFileSync('tar', ['-tzf', tarballPath], { encoding: 'utf8' }).split('\n');
    for (const entry of ENTRY_POINTS) {
      expect(files).toContain(`package/dist/entry/${entry}.js`);
      expect(files).toContain(`package/dist/entry/${entry}.d.ts`);
    }
    expect(files).toContain('package/bin/mobius.mjs');
    expect(files.some((f) => /^package\/dist\/assets\/[^/]+\/index\.mjs$/.test(f))).toBe(true);
    // The web console, prebuilt (mobius dev and mobius console answer 500 without it).
    expect(files).toContain('package/dist/console/index.html');
    expect(files).toContain('package/dist/console/examples.json');
    expect(
      files.filter((f) => /^package\/dist\/console\/app\.[0-9a-f]+\.js$/.test(f)),
    ).toHaveLength(1);
    expect(
      files.filter((f) => /^package\/dist\/console\/app\.[0-9a-f]+\.css$/.test(f)),
    ).toHaveLength(1);
    expect(files.filter((f) => /^package\/(test|bench|localstack|scripts)\//.test(f))).toEqual([]);
    // Source and declaration maps resolve: what they name is in the package.
    const map = JSON.parse(
      readFileSync(
        join(project, 'node_modules', 'mobius-coordinator', 'dist', 'entry', 'agent.d.ts.map'),
        'utf8',
      ),
    ) as { sources: string[] };
    for (const source of map.sources)
      expect(files).toContain(`package/${join('dist', 'entry', source)}`);
  });
});
