// The README's pictures of the web console (`npm run screenshots`): starts the embedded runtime
// with the example team, gives it something to show — every example request run once, a standard
// run in flight, a dead letter parked — then drives the console in headless chromium through its
// screens and writes docs/images/console-*.png (1280×800).
// Needs chromium: `node scripts/browser-tools.ts` installs it (npm test does).
import { mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { GetQueueUrlCommand, SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { Page } from 'playwright-core';
import { EXAMPLE_AGENTS } from '../examples/agents/index.ts';
import { createMessage, serialize } from '../functions/core/messaging/envelope.ts';
import { agentQueueNames } from '../functions/core/messaging/queue-settings.ts';
import type { AgentDefinition } from '../functions/core/sdk/define-agent.ts';
import { LOCAL_CREDENTIALS, LOCAL_REGION } from '../functions/embedded/dynamodb-engine.ts';
import { EmbeddedRuntime } from '../functions/embedded/runtime.ts';
import { launchBrowser } from '../test/support/browser.ts';

const ROOT = join(import.meta.dirname, '..');
const OUT = join(ROOT, 'docs', 'images');
const REQUESTS = join(ROOT, 'examples', 'requests');

/** Ends the indexer's work once the pictures are taken, so that the runtime stops at once. */
const done = new AbortController();

/**
 * A long job for the coordinations list to show as running and as cancelled (standard mode): it
 * lasts until the screenshots are taken.
 */
const indexer: AgentDefinition = {
  agentId: 'corpus-indexer',
  agentType: 'indexer',
  description: 'rebuilds the search index of the document corpus (slow)',
  capabilities: [{ name: 'corpus-indexing', version: '1.0.0' }],
  handler: async () => {
    await sleep(120_000, undefined, { signal: done.signal });
    return { indexed: true };
  },
};

const INDEXING = {
  pattern: 'sequential',
  agents: ['corpus-indexer'],
  mode: 'standard',
  timeout: 300,
};

async function call(
  apiUrl: string,
  method: 'POST' | 'DELETE',
  path: string,
  body?: unknown,
): Promise<Record<string, unknown>> {
  const response = await fetch(`${apiUrl}${path}`, {
    method,
    headers: { 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const answer = (await response.json()) as Record<string, unknown>;
  if (!response.ok)
    throw new Error(`${method} ${path} answered ${response.status}: ${JSON.stringify(answer)}`);
  return answer;
}

const post = (apiUrl: string, path: string, body: unknown) => call(apiUrl, 'POST', path, body);
const cancel = (apiUrl: string, id: string) =>
  call(apiUrl, 'DELETE', `/coordinations/${encodeURIComponent(id)}`);

/** Runs every example request once; resolves with the hierarchical run's id (the richest graph). */
async function runExamples(runtime: EmbeddedRuntime, apiUrl: string): Promise<string> {
  let hierarchical = '';
  for (const file of readdirSync(REQUESTS)
    .filter((f) => f.endsWith('.json'))
    .sort()) {
    const request = JSON.parse(readFileSync(join(REQUESTS, file), 'utf8')) as unknown;
    const result = await post(apiUrl, '/coordinations', request);
    if (file === 'hierarchical.json') hierarchical = String(result.coordinationId);
  }
  // The agents' figures (requests, errors, latency) as the registry holds them.
  await runtime.coordinations.settle();
  if (hierarchical === '') throw new Error('examples/requests/hierarchical.json is missing');
  return hierarchical;
}

/** One message in keyword-extractor's dead-letter queue, for its details to show. */
async function parkDeadLetter(): Promise<void> {
  const sqs = new SQSClient({ region: LOCAL_REGION, credentials: LOCAL_CREDENTIALS });
  try {
    const { QueueUrl } = await sqs.send(
      new GetQueueUrlCommand({ QueueName: agentQueueNames('keyword-extractor', false).deadLetter }),
    );
    const letter = createMessage({
      from: 'api',
      to: 'keyword-extractor',
      type: 'request',
      payload: { text: 'A message that failed five times and waits for an operator.' },
    });
    await sqs.send(new SendMessageCommand({ QueueUrl, MessageBody: serialize(letter) }));
  } finally {
    sqs.destroy();
  }
}

async function shoot(page: Page, name: string): Promise<void> {
  // Polled figures and fonts settle; nothing animates.
  await page.evaluate('document.fonts.ready.then(() => true)');
  await sleep(300);
  const path = join(OUT, `console-${name}.png`);
  await page.screenshot({ path, animations: 'disabled' });
  console.log(`${path} (${Math.round(statSync(path).size / 1024)} KB)`);
}

async function main(): Promise<void> {
  // The flaky example agent's failures are part of the show, not news for the terminal.
  process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';
  mkdirSync(OUT, { recursive: true });
  const [runtime, browser] = await Promise.all([
    EmbeddedRuntime.start({
      agents: [...EXAMPLE_AGENTS.map((a) => a.definition), indexer],
      port: 0,
      // Health sweeps read each agent's queue and dead-letter depths: every second, so the
      // table's queue columns are filled before the picture rather than in half a minute.
      sweepSeconds: 1,
    }),
    launchBrowser(),
  ]);
  try {
    const apiUrl = runtime.apiUrl as string;
    const hierarchical = await runExamples(runtime, apiUrl);
    const cancelled = String((await post(apiUrl, '/coordinations', INDEXING)).coordinationId);
    await cancel(apiUrl, cancelled);
    const running = String((await post(apiUrl, '/coordinations', INDEXING)).coordinationId);
    await parkDeadLetter();
    const page = await browser.page();

    // Agents: the fleet, with one agent's queue and dead letters open.
    await page.goto(`${apiUrl}/#/agents`);
    await page.getByTestId('agents-table').waitFor();
    await page.getByTestId('fleet-agents').waitFor();
    await page
      .getByTestId('agent-row-keyword-extractor')
      .getByTestId('agent-dlq')
      .filter({ hasText: /^1$/ })
      .waitFor();
    // The header's fleet summary (GET /health, read every 5 s) counts it too.
    await page.getByTestId('fleet-queues').filter({ hasText: 'DLQ 1' }).waitFor();
    await page
      .getByTestId('agent-row-keyword-extractor')
      .getByTestId('agent-details-toggle')
      .click();
    const details = page.getByTestId('agent-details-keyword-extractor');
    await details.getByTestId('dead-letter').first().waitFor();
    await details.getByTestId('queue-depth').waitFor();
    await shoot(page, 'agents');

    // Coordinations: the runs so far, newest first, one still running.
    await page.getByTestId('nav-coordinations').click();
    await page.getByTestId('coordinations-table').waitFor();
    await page.locator('[data-testid^="coordination-row-"][data-status="running"]').waitFor();
    await shoot(page, 'coordinations');

    // A run: the hierarchical example's graph (agent names on the nodes) and timeline.
    await page.goto(`${apiUrl}/#/coordinations/${encodeURIComponent(hierarchical)}`);
    await page.locator('[data-testid="run-status"][data-state="succeeded"]').waitFor();
    await page.getByTestId('run-graph').waitFor();
    await page.getByTestId('timeline').waitFor();
    await shoot(page, 'run');

    // Start: an example request ready to send.
    await page.getByTestId('nav-start').click();
    await page.getByTestId('start-example').selectOption('scatter-gather');
    await shoot(page, 'start');
    await cancel(apiUrl, running);
  } finally {
    done.abort();
    await browser.close();
    await runtime.stop();
  }
}

await main();
