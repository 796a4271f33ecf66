import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXAMPLE_AGENTS } from '../../examples/agents/index.ts';
import { EXAMPLE_REQUESTS, exampleRequest } from '../../examples/stack.ts';
import { devCommand } from '../../functions/cli/commands.ts';
import type { CoordinationResult } from '../../functions/coordination/result.ts';
import type { AgentDefinition } from '../../functions/core/sdk/define-agent.ts';
import { EmbeddedRuntime } from '../../functions/embedded/runtime.ts';

/**
 * The embedded runtime as a user meets it: the example team, the HTTP API on a free loopback
 * port, every example request through POST /coordinations, messages and broadcasts through the
 * embedded SQS, Lambda and EventBridge endpoints, the registry on dynalite in this process.
 */
const ROOT = join(import.meta.dirname, '..', '..');
let runtime: EmbeddedRuntime;
const heard: { agentId: string; kind: string; payload: unknown }[] = [];

const listener: AgentDefinition = {
  agentId: 'listener',
  agentType: 'test',
  description: 'records every message it is sent',
  capabilities: [{ name: 'listening', version: '1.0.0' }],
  // Declared subscriptions: the embedded runtime creates their rules, as CDK deploys them on AWS.
  subscriptions: [
    { eventTypes: ['corpus.updated'] },
    { eventTypes: ['document.indexed'], filter: { payload: { lang: ['en'] } } },
  ],
  handler: (message) => {
    heard.push({ agentId: 'listener', kind: message.kind, payload: message.input });
    return { heard: message.input };
  },
};

async function http(method: string, path: string, body?: unknown) {
  const response = await fetch(`${runtime.apiUrl}${path}`, {
    method,
    headers: { 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

async function eventually(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (check()) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

beforeAll(async () => {
  runtime = await EmbeddedRuntime.start({
    agents: [...EXAMPLE_AGENTS.map((a) => a.definition), listener],
    port: 0,
    // As Step Functions would on CreateStateMachine: every shape these tests run is checked.
    validateMachines: true,
  });
}, 60_000);

afterAll(async () => {
  await runtime.stop();
});

describe('embedded runtime', () => {
  it('registers every agent and serves the API on loopback', async () => {
    expect(runtime.apiUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const { status, body } = await http('GET', '/agents?status=healthy');
    expect(status).toBe(200);
    expect(
      (body.agents as { card: { agentId: string } }[]).map((a) => a.card.agentId).sort(),
    ).toEqual([...EXAMPLE_AGENTS.map((a) => a.definition.agentId), 'listener'].sort());
  });

  it.each(EXAMPLE_REQUESTS)(
    'runs examples/requests/%s.json through POST /coordinations',
    async (name) => {
      const { status, body } = await http('POST', '/coordinations', exampleRequest(name));
      expect(status).toBe(200);
      const result = body as unknown as CoordinationResult;
      expect(['succeeded', 'partial']).toContain(result.status);
      expect(result.timings.steps.length).toBeGreaterThan(0);
      if (name === 'scatter-gather') {
        // The flaky summarizer failed (it fails every other call) or not; either way a summary came back.
        expect(result.output).toMatchObject({
          summary: expect.any(String),
          keywords: expect.any(Array),
          label: expect.any(String),
        });
      }
      if (name === 'hierarchical') {
        expect(result.output).toMatchObject({
          sources: expect.arrayContaining(['SQS dead-letter queues']),
        });
      }
    },
  );

  it('falls back to the stable summarizer when the flaky one fails (it fails every other call)', async () => {
    const runs = [
      await http('POST', '/coordinations', exampleRequest('scatter-gather')),
      await http('POST', '/coordinations', exampleRequest('scatter-gather')),
    ].map((r) => r.body as unknown as CoordinationResult);
    const summaries = runs.map((run) => run.steps.find((step) => step.stepId === 'summary'));
    // Two calls in a row: one of them met the flaky agent failing and was served by the fallback.
    expect(summaries.map((step) => step?.agentId).sort()).toEqual([
      'flaky-summarizer',
      'summarizer',
    ]);
    for (const step of summaries) expect(step?.status).toBe('succeeded');
    const fellBack = runs[summaries.findIndex((step) => step?.agentId === 'summarizer')];
    expect(fellBack?.errors).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ agentId: 'flaky-summarizer', error: 'RetryableAgentError' }),
      ]),
    );
  });

  it('refuses a request nested too deep for zod from a direct caller of the runtime too (400 naming the path)', async () => {
    let payload: unknown = 'leaf';
    for (let i = 0; i < 5000; i++) payload = [payload];
    await expect(
      runtime.coordinations.run({ pattern: 'sequential', agents: ['summarizer'], payload }),
    ).rejects.toMatchObject({
      code: 'VALIDATION_FAILED',
      issues: [
        {
          path: expect.stringMatching(/^payload(\.0)+$/),
          message: expect.stringContaining('nested deeper than 64 levels'),
        },
      ],
    });
  });

  it('answers 413 to a body over 6 MB, as Lambda would, and stays up', async () => {
    const response = await fetch(`${runtime.apiUrl}/coordinations`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: 'x'.repeat(7 * 1024 * 1024),
    });
    expect(response.status).toBe(413);
    expect(await response.json()).toMatchObject({ error: { code: 'PAYLOAD_TOO_LARGE' } });
    expect((await http('GET', '/agents')).status).toBe(200);
  });

  it('refuses a card whose endpoint is not a queue of the local SQS or a local Lambda function (no SSRF), and registers nothing', async () => {
    const card = (endpoint: Record<string, string | undefined>) => ({
      agentId: 'intruder',
      agentType: 'worker',
      description: 'points the router somewhere else',
      capabilities: [{ name: 'summarize', version: '1.0.0' }],
      protocols: [{ name: 'mobius', versions: ['1.0'] }],
      endpoint,
    });
    for (const endpoint of [
      { queueUrl: 'file:///etc/passwd' },
      { queueUrl: 'http://127.0.0.1:9/000000000000/intruder' },
      { lambdaArn: 'arn:aws:lambda:us-east-1:999999999999:function:theirs' },
    ]) {
      const { status, body } = await http('POST', '/agents', card(endpoint));
      expect(status, JSON.stringify(endpoint)).toBe(400);
      expect(JSON.stringify(body)).toMatch(/endpoint\.(queueUrl|lambdaArn)/);
    }
    expect((await http('GET', '/agents/intruder')).status).toBe(404);
  });

  it('delivers direct messages through the embedded SQS and answers request-response over the Lambda endpoint', async () => {
    const queued = await http('POST', '/messages', { to: 'listener', payload: { via: 'queue' } });
    expect(queued.status).toBe(202);
    await eventually(
      () => heard.some((h) => (h.payload as { via?: string }).via === 'queue'),
      'the queued message',
    );
    const answered = await http('POST', '/messages', {
      to: 'listener',
      payload: { via: 'invoke' },
      wait: true,
    });
    expect(answered).toMatchObject({
      status: 200,
      body: { response: { payload: { heard: { via: 'invoke' } } } },
    });
  });

  it('routes broadcasts with the same rules EventBridge applies: everyone, or holders of a capability', async () => {
    const published = [
      await http('POST', '/broadcasts', { payload: { note: 'to everyone' } }),
      await http('POST', '/broadcasts', {
        to: { capability: 'fact-lookup' },
        payload: { note: 'to fact finders' },
      }),
      await http('POST', '/broadcasts', {
        to: { capability: 'listening' },
        payload: { note: 'to listeners' },
      }),
    ];
    expect(published.map((p) => p.status)).toEqual([202, 202, 202]);
    await eventually(
      () => heard.filter((h) => h.kind === 'broadcast').length >= 2,
      'two broadcasts',
    );
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(
      heard
        .filter((h) => h.kind === 'broadcast')
        .map((h) => (h.payload as { note: string }).note)
        .sort(),
    ).toEqual(['to everyone', 'to listeners']);
  });

  it('delivers the events an agent declared it subscribes to, filters applied, and no others', async () => {
    const published = [
      await http('POST', '/broadcasts', { eventType: 'corpus.updated', payload: { n: 1 } }),
      await http('POST', '/broadcasts', {
        eventType: 'document.indexed',
        payload: { n: 2, lang: 'fr' },
      }),
      await http('POST', '/broadcasts', {
        eventType: 'document.indexed',
        payload: { n: 3, lang: 'en' },
      }),
      await http('POST', '/broadcasts', { eventType: 'document.removed', payload: { n: 4 } }),
    ];
    expect(published.map((p) => p.status)).toEqual([202, 202, 202, 202]);
    await eventually(() => heard.filter((h) => h.kind === 'event').length >= 2, 'two events');
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(
      heard
        .filter((h) => h.kind === 'event')
        .map((h) => (h.payload as { n: number }).n)
        .sort(),
    ).toEqual([1, 3]);
  });
});

describe('mobius CLI', () => {
  // Asynchronous on purpose: `agents` and `discover` call the API this test process serves.
  const mobiusWith = (env: NodeJS.ProcessEnv, ...args: string[]) =>
    new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
      execFile(
        process.execPath,
        [join(ROOT, 'bin', 'mobius.mjs'), ...args],
        { cwd: ROOT, timeout: 120_000, env: { ...env, NO_COLOR: '1' } },
        (error, stdout, stderr) => {
          resolve({ status: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr });
        },
      );
    });
  const mobius = (...args: string[]) => mobiusWith(process.env, ...args);

  it('runs a request and prints the timing tree (npm start does this for the hierarchical example)', async () => {
    const run = await mobius('run', 'examples/requests/hierarchical.json');
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/hierarchical coordination ✔ succeeded/);
    expect(run.stdout).toMatch(/total [\d.]+ ms · in agents [\d.]+ ms · overhead [\d.]+ ms/);
    expect(run.stdout).toContain('round 2');
    expect(run.stderr).toMatch(/→ fact-finder r1-t1/); // progress while it runs
    expect(run.stderr).toContain('registry on dynalite, in memory');
  });

  it('prints the result as JSON, and compiles requests to ASL or Mermaid', async () => {
    const json = await mobius('run', 'examples/requests/pipeline.json', '--json');
    expect(json.status, json.stderr).toBe(0);
    expect(JSON.parse(json.stdout)).toMatchObject({ pattern: 'pipeline', status: 'succeeded' });
    const asl = await mobius('compile', 'examples/requests/scatter-gather.json');
    expect(JSON.parse(asl.stdout)).toMatchObject({ StartAt: 'FanOut' });
    expect(asl.stderr).toContain('valid ASL (asl-validator)');
    const mermaid = await mobius(
      'compile',
      'examples/requests/hierarchical.json',
      '--format',
      'mermaid',
    );
    expect(mermaid.stdout).toMatch(/^flowchart TD/);
  });

  it('reports an agent failure once, in its progress line, without the agent’s JSON log line', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'mobius-cli-')), 'fails.json');
    // fact-finder refuses a query without a content word (FatalAgentError).
    writeFileSync(
      file,
      JSON.stringify({
        pattern: 'sequential',
        agents: ['fact-finder'],
        payload: { query: 'the of' },
      }),
    );
    // As a user runs it: no POWERTOOLS_LOG_LEVEL (this suite's config silences Powertools).
    const { POWERTOOLS_LOG_LEVEL: _, ...env } = process.env;
    const failed = await mobiusWith(env, 'run', file);
    expect(failed.status).toBe(1);
    expect(failed.stderr).toContain('✘ fact-finder step1');
    expect(failed.stderr + failed.stdout).not.toContain('"level":"ERROR"');
  });

  it('explains bad files, bad JSON and invalid requests, exiting 2', async () => {
    const missing = await mobius('run', 'nope.json');
    expect(missing.status).toBe(2);
    expect(missing.stderr).toContain('no such file. A request is a JSON file such as');
    const notJson = await mobius('compile', 'README.md');
    expect(notJson.status).toBe(2);
    expect(notJson.stderr).toContain('is not valid JSON');
    const invalid = await mobius('compile', 'package.json');
    expect(invalid.status).toBe(2);
    expect(invalid.stderr).toMatch(
      /not a valid coordination request:\n {2}• pattern: pattern must be one of/,
    );
    const deep = join(mkdtempSync(join(tmpdir(), 'mobius-cli-')), 'deep.json');
    writeFileSync(
      deep,
      `{"pattern":"sequential","agents":["summarizer"],"payload":${'['.repeat(5000)}${']'.repeat(5000)}}`,
    );
    const tooDeep = await mobius('run', deep);
    expect(tooDeep.status).toBe(2);
    expect(tooDeep.stderr).toContain('nested deeper than 64 levels');
    const bound = await mobius('dev', '--max-in-flight', '0');
    expect(bound.status).toBe(2);
    expect(bound.stderr).toContain('use a whole number of coordinations, 1 or more');
    const format = await mobius('compile', 'examples/requests/pipeline.json', '--format', 'svg');
    expect(format.stderr).toContain('--format must be asl or mermaid');
    const unknownAgent = join(mkdtempSync(join(tmpdir(), 'mobius-cli-')), 'unknown-agent.json');
    writeFileSync(unknownAgent, JSON.stringify({ pattern: 'sequential', agents: ['nobody'] }));
    const unknown = await mobius('compile', unknownAgent);
    expect(unknown.status).toBe(2);
    expect(unknown.stderr.trim()).toBe('No agent is registered with id "nobody" (agents.0).');
  });

  it('`mobius dev` prints its URL and the agents, serves the API, and stops when interrupted', async () => {
    const out: string[] = [];
    let interrupt: () => void = () => {};
    const interrupted = new Promise<void>((resolve) => {
      interrupt = resolve;
    });
    const running = devCommand(
      { port: 0 },
      { out: (text) => out.push(text), err: () => {} },
      interrupted,
    );
    await eventually(() => out.some((line) => line.includes('Ctrl-C to stop')), 'the dev banner');
    // biome-ignore lint/suspicious/noControlCharactersInRegex: the CLI colours its output
    const printed = out.join('\n').replace(/\u001b\[[0-9;]*m/g, '');
    const url = /Mobius Coordinator \(embedded\) at (http:\/\/127\.0\.0\.1:\d+)/.exec(printed)?.[1];
    expect(url, printed).toBeDefined();
    for (const { definition } of EXAMPLE_AGENTS)
      expect(printed).toMatch(
        new RegExp(`${definition.agentId}\\s+${definition.agentType}\\s+healthy`),
      );
    const agents = await fetch(`${url}/agents`);
    expect(agents.status).toBe(200);
    interrupt();
    expect(await running).toBe(0);
    await expect(fetch(`${url}/agents`)).rejects.toThrow();
  });

  it('says which port is taken when `mobius dev` cannot listen', async () => {
    const taken = new URL(runtime.apiUrl ?? '').port;
    const dev = await mobius('dev', '--port', taken);
    expect(dev.status).toBe(2);
    expect(dev.stderr).toContain(`Port ${taken} on 127.0.0.1 is in use`);
    expect(dev.stderr).not.toContain('    at '); // no stack trace
  });

  it('queries a running API with agents and discover', async () => {
    const agents = await mobius('agents', '--api', runtime.apiUrl ?? '');
    expect(agents.status, agents.stderr).toBe(0);
    expect(agents.stdout).toMatch(/planner\s+supervisor\s+healthy/);
    const discover = await mobius(
      'discover',
      'summarise',
      '--fuzzy',
      '--api',
      runtime.apiUrl ?? '',
    );
    expect(discover.stdout).toMatch(/1\s+flaky-summarizer/);
    const unreachable = await mobius('agents', '--api', 'http://127.0.0.1:9');
    expect(unreachable.status).toBe(2);
    expect(unreachable.stderr).toContain('Start it with `mobius dev`');
  });

  it('has --help for every command', async () => {
    for (const command of ['run', 'dev', 'compile', 'agents', 'discover']) {
      const help = await mobius(command, '--help');
      expect(help.status).toBe(0);
      expect(help.stdout).toContain(`Usage: mobius ${command}`);
    }
  });
});
