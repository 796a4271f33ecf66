import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
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
    for (const bundle of bundles) {
      const dir = join(out, bundle.source.path);
      if (!existsSync(join(dir, 'index.mjs'))) continue; // the CDK's own framework assets ship as .js
      expect(readdirSync(dir)).toContain('index.mjs.map');
    }
    expect(
      bundles.filter((b) => existsSync(join(out, b.source.path, 'index.mjs'))).length,
    ).toBeGreaterThanOrEqual(11);

    // A bundle is a working Lambda: load the fact-finder's and give it a task, as Step Functions would.
    const template = JSON.parse(
      readFileSync(join(out, 'MobiusCoordinator.template.json'), 'utf8'),
    ) as {
      Resources: Record<
        string,
        { Type: string; Properties: { Description?: string; Code?: { S3Key?: string } } }
      >;
    };
    const factFinder = Object.values(template.Resources).find(
      (r) =>
        r.Type === 'AWS::Lambda::Function' &&
        r.Properties.Description?.includes('agent fact-finder'),
    );
    const hash = factFinder?.Properties.Code?.S3Key?.replace('.zip', '');
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
