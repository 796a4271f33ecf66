import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROUTES } from '../../functions/api/app.ts';
import { loadAgents } from '../../functions/cli/commands.ts';
import { EmbeddedRuntime } from '../../functions/embedded/runtime.ts';

/**
 * Schemathesis fuzzes the API `mobius dev` serves (the example agents, the embedded runtime) from
 * docs/openapi.json: schema examples, boundary and negative cases (coverage), random valid input
 * (fuzzing) and chains of calls (stateful). Every response must be no 5xx bug, and must be what the
 * document says: a declared status, content type, headers and body schema. A 500 is always a
 * failure; the documented 502/503/504 about agents are not (schemathesis.toml says why).
 *
 * No fixed seed: every CI run explores other inputs. A failure prints schemathesis' report, with a
 * curl command that reproduces each finding.
 */
const ROOT = join(import.meta.dirname, '..', '..');
const SCHEMATHESIS = join(ROOT, '.venv', 'bin', 'schemathesis');
const DOCUMENT = join(ROOT, 'docs', 'openapi.json');
/** Which 5xx answers are the API's documented ones rather than bugs (see the file). */
const CONFIG = join(import.meta.dirname, 'schemathesis.toml');

/**
 * The run's time budget. Fuzzing and stateful testing go on until it is spent, so it sets how long
 * the run takes (plus schemathesis' start, about 2 s); `--max-examples` bounds each operation's
 * share within it.
 */
const MAX_SECONDS = 120;
const MAX_EXAMPLES = 50;

const CHECKS = [
  'not_a_server_error',
  'status_code_conformance',
  'content_type_conformance',
  'response_headers_conformance',
  'response_schema_conformance',
];

let runtime: EmbeddedRuntime;
let reportDir: string;

beforeAll(async () => {
  // As `mobius dev` starts it: the example agents, the API on 127.0.0.1.
  runtime = await EmbeddedRuntime.start({ agents: await loadAgents(), port: 0 });
  reportDir = mkdtempSync(join(tmpdir(), 'mobius-schemathesis-'));
}, 60_000);

afterAll(async () => {
  await runtime?.stop();
  if (reportDir) rmSync(reportDir, { recursive: true, force: true });
});

function run(
  command: string,
  args: string[],
  env: NodeJS.ProcessEnv,
): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: reportDir, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString('utf8');
    });
    child.stderr.on('data', (chunk: Buffer) => {
      output += chunk.toString('utf8');
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, output }));
  });
}

describe('the HTTP API against docs/openapi.json (schemathesis)', () => {
  it(
    'answers every generated request without a server error and as the document says',
    async () => {
      expect(
        existsSync(SCHEMATHESIS),
        'schemathesis is missing from .venv: run `node scripts/python-tools.ts`',
      ).toBe(true);
      const base = runtime.apiUrl as string;
      // Only the runtime on loopback is ever called: the document's AWS server is overridden by
      // --url, redirects are not followed, and no proxy is used.
      expect(base).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      const env: NodeJS.ProcessEnv = { ...process.env, NO_PROXY: '*', no_proxy: '*' };
      for (const name of ['HTTP_PROXY', 'HTTPS_PROXY', 'ALL_PROXY', 'http_proxy', 'https_proxy'])
        delete env[name];
      const { code, output } = await run(
        SCHEMATHESIS,
        [
          '--config-file',
          CONFIG,
          'run',
          DOCUMENT,
          '--url',
          base,
          '--checks',
          CHECKS.join(','),
          '--phases',
          'examples,coverage,fuzzing,stateful',
          '--max-examples',
          String(MAX_EXAMPLES),
          '--max-time',
          String(MAX_SECONDS),
          // One worker: CPython 3.11's ast.parse is not thread-safe (gh-106905: "AST constructor
          // recursion depth mismatch"), and hypothesis parses sources while generating.
          '--workers',
          '1',
          '--max-redirects',
          '0',
          '--request-timeout',
          '30',
          '--generation-database',
          'none',
          '--report',
          'junit',
          '--report-dir',
          reportDir,
          '--no-color',
        ],
        env,
      );
      // On failure, the report from its FAILURES section on: each finding and its curl.
      const from = output.search(/^=+ FAILURES =+$/m);
      const report = from >= 0 ? output.slice(from) : output;
      expect(code, `schemathesis exited ${code}:\n${report}`).toBe(0);
      // It really ran: every operation tested, and the JUnit report written.
      expect(output).toContain(`Tested: ${ROUTES.length}\n`);
      const junit = readdirSync(reportDir).filter((file) => file.endsWith('.xml'));
      expect(junit).toHaveLength(1);
      expect(readFileSync(join(reportDir, junit[0] as string), 'utf8')).toContain('<testsuite');
    },
    (MAX_SECONDS + 120) * 1000,
  );
});
