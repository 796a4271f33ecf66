import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { lambdaContext } from '../../functions/embedded/lambda-context.ts';

const ROOT = join(import.meta.dirname, '..', '..');

describe('npx cdk synth', () => {
  it('synthesises the example app offline, bundling every function with the local esbuild (no Docker)', async () => {
    const out = mkdtempSync(join(tmpdir(), 'mobius-synth-'));
    const result = spawnSync(
      join(ROOT, 'node_modules', '.bin', 'cdk'),
      ['synth', '--quiet', '--no-notices', '-o', out],
      {
        cwd: ROOT,
        encoding: 'utf8',
        // No credentials or docker: synth must need neither.
        env: {
          ...process.env,
          CDK_DISABLE_CLI_TELEMETRY: 'true',
          DOCKER_HOST: 'unix:///nonexistent/docker.sock',
          AWS_ACCESS_KEY_ID: '',
          AWS_PROFILE: '',
        },
        timeout: 300_000,
      },
    );
    expect(result.status, `${result.stdout}\n${result.stderr}`).toBe(0);
    expect(result.stderr).not.toMatch(/docker run|Docker bundling/i);

    const assets = JSON.parse(readFileSync(join(out, 'MobiusCoordinator.assets.json'), 'utf8')) as {
      files: Record<string, { source: { path: string; packaging?: string } }>;
    };
    const bundles = Object.values(assets.files).filter((f) => f.source.packaging === 'zip');
    expect(bundles.length).toBeGreaterThanOrEqual(11);
    // The CDK's own framework assets ship as .js; ours are index.mjs.
    const ours = bundles
      .map((bundle) => join(out, bundle.source.path))
      .filter((dir) => existsSync(join(dir, 'index.mjs')));
    expect(ours.length).toBeGreaterThanOrEqual(11);
    for (const dir of ours) {
      // Source maps are opt-in (-c mobius:sourceMaps=true).
      expect(readdirSync(dir)).not.toContain('index.mjs.map');
      const code = readFileSync(join(dir, 'index.mjs'), 'utf8');
      // The AWS SDK comes from the Lambda runtime: imported, not bundled (its user-agent header
      // name is in every bundled client).
      expect(code).not.toContain('x-amz-user-agent');
      // zod's English messages only, not its 64 locales: "erwartet" is German zod's "expected".
      expect(code).not.toContain('erwartet');
    }

    const template = JSON.parse(
      readFileSync(join(out, 'MobiusCoordinator.template.json'), 'utf8'),
    ) as {
      Resources: Record<
        string,
        { Type: string; Properties: { Description?: string; Code?: { S3Key?: string } } }
      >;
    };
    // A bundle is a working Lambda: load the fact-finder's and give it a task, as Step Functions would.
    const factFinder = Object.values(template.Resources).find(
      (r) =>
        r.Type === 'AWS::Lambda::Function' &&
        r.Properties.Description?.includes('agent fact-finder'),
    );
    const hash = factFinder?.Properties.Code?.S3Key?.replace('.zip', '');
    // On Lambda the runtime's AWS SDK resolves beside the code; here the repository's does.
    symlinkSync(join(ROOT, 'node_modules'), join(out, 'node_modules'), 'dir');
    const bundle = await import(join(out, `asset.${hash}`, 'index.mjs'));
    const answer = await bundle.handler(
      {
        kind: 'mobius.task',
        coordinationId: 'c',
        stepId: 's',
        agentId: 'fact-finder',
        pattern: 'pipeline',
        input: { query: 'dead-letter queue redrive' },
      },
      lambdaContext('fact-finder'),
    );
    expect(answer.output.passages[0].documentId).toBe('sqs-dead-letter-queues');
  }, 300_000);
});
