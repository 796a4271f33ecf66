import { setTimeout as sleep } from 'node:timers/promises';
import { GetQueueUrlCommand, SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXAMPLE_AGENTS } from '../../examples/agents/index.ts';
import { createMessage, serialize } from '../../functions/core/messaging/envelope.ts';
import { agentQueueNames } from '../../functions/core/messaging/queue-settings.ts';
import type { AgentDefinition } from '../../functions/core/sdk/define-agent.ts';
import { LOCAL_CREDENTIALS, LOCAL_REGION } from '../../functions/embedded/dynamodb-engine.ts';
import { EmbeddedRuntime } from '../../functions/embedded/runtime.ts';
import { type HeadlessBrowser, launchBrowser } from '../support/browser.ts';

/**
 * The web console as an operator uses it, in Debian's chromium (headless, playwright-core): the
 * embedded runtime with the example team serves the page and the API on one loopback port, and
 * each test clicks through a screen and checks what the page shows against what the API did.
 *
 * Two agents of the tests' own join the team: `waiter`, whose work lasts until the test lets it
 * go (a run the page must follow while it is still going, and a standard run to cancel), and
 * `unreliable`, which always fails (to open its circuit breaker).
 */

/** Work of `waiter` waits for this gate; each test that uses it closes it first. */
let gate: Promise<void> = Promise.resolve();
let openGate: () => void = () => undefined;
function closeGate(): void {
  gate = new Promise((resolve) => {
    openGate = resolve;
  });
}

/** Bounds a waiter's work whatever a test does, so the runtime always stops within its grace. */
const WAIT_LIMIT_MS = 20_000;

const waiter: AgentDefinition = {
  agentId: 'waiter',
  agentType: 'test',
  description: 'works until the test lets it finish',
  capabilities: [{ name: 'waiting', version: '1.0.0' }],
  handler: async () => {
    await Promise.race([gate, sleep(WAIT_LIMIT_MS)]);
    return { waited: true };
  },
};

const unreliable: AgentDefinition = {
  agentId: 'unreliable',
  agentType: 'test',
  description: 'fails every task',
  capabilities: [{ name: 'failing', version: '1.0.0' }],
  handler: () => {
    throw new Error('unreliable by design');
  },
};

let runtime: EmbeddedRuntime;
let browser: HeadlessBrowser;
let page: Page;

async function api(method: string, path: string, body?: unknown) {
  const response = await fetch(`${runtime.apiUrl}${path}`, {
    method,
    headers: { 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

/** The console at one of its screens, loaded afresh (nothing kept from the test before). */
async function open(screen: 'agents' | 'coordinations' | 'start'): Promise<void> {
  // A new hash alone would not reload the page: a message of the last test could still show.
  await page.goto('about:blank');
  await page.goto(`${runtime.apiUrl}/#/${screen}`);
  await page.getByTestId(`nav-${screen}`).waitFor();
}

const agentRow = (agentId: string) => page.getByTestId(`agent-row-${agentId}`);

/** Fills the start screen with a request of one's own and starts it; resolves with the run's id. */
async function startPasted(request: unknown): Promise<string> {
  await open('start');
  await page.getByTestId('start-request').fill(JSON.stringify(request, null, 2));
  await page.getByTestId('start-submit').click();
  return runIdOnPage();
}

/** The run page opens once the API has named the run; its id is in the hash and on the page. */
async function runIdOnPage(): Promise<string> {
  await page.waitForURL(/#\/coordinations\/.+/);
  const id = (await page.getByTestId('run-id').textContent())?.trim() ?? '';
  expect(id).not.toBe('');
  return id;
}

const runState = (state: string) =>
  page.locator(`[data-testid="run-status"][data-state="${state}"]`).waitFor();

beforeAll(async () => {
  [runtime, browser] = await Promise.all([
    EmbeddedRuntime.start({
      agents: [...EXAMPLE_AGENTS.map((a) => a.definition), waiter, unreliable],
      port: 0,
    }),
    launchBrowser(),
  ]);
  page = await browser.page();
}, 60_000);

afterAll(async () => {
  openGate();
  await browser?.close();
  await runtime?.stop();
});

describe('the web console in a browser', () => {
  it('lists every agent with its status', async () => {
    await open('agents');
    await page.getByTestId('agents-table').waitFor();
    const ids = [...EXAMPLE_AGENTS.map((a) => a.definition.agentId), 'waiter', 'unreliable'];
    for (const id of ids) {
      expect(await agentRow(id).getAttribute('data-status')).toBe('healthy');
      expect(await agentRow(id).getByTestId('agent-status').textContent()).toBe('healthy');
    }
    expect(await page.getByTestId('fleet-agents').textContent()).toContain(
      `${ids.length}/${ids.length} healthy`,
    );
  });

  it('starts an example request and shows it finish, step by step', async () => {
    await open('start');
    await page.getByTestId('start-example').selectOption('sequential');
    expect(await page.getByTestId('start-request').inputValue()).toContain('"fact-lookup"');
    await page.getByTestId('start-submit').click();
    const id = await runIdOnPage();
    await runState('succeeded');
    const steps = page.locator('[data-testid^="timeline-step-"]');
    expect(await steps.count()).toBe(3);
    for (const step of await steps.all())
      expect(await step.getAttribute('data-state')).toBe('succeeded');
    const timeline = (await page.getByTestId('timeline').textContent()) ?? '';
    for (const agent of ['fact-finder', 'keyword-extractor', 'report-writer'])
      expect(timeline).toContain(agent);
    // The result as the run's finished event carries it: the report the last step wrote.
    const result = (await page.getByTestId('run-result').textContent()) ?? '';
    expect(result).toContain('output');
    expect(page.url()).toContain(encodeURIComponent(id));
  });

  it('follows a run live: the timeline moves while the run goes on, and ends with it', async () => {
    closeGate();
    const id = await startPasted({
      pattern: 'sequential',
      agents: ['fact-finder', 'waiter'],
      payload: { query: 'How long is a while?' },
      timeout: 30,
    });
    // Mid-run: the first step done, the waiter at work, the run still going — from live events.
    await page.locator('[data-testid="run-feed"][data-state="live"]').waitFor();
    await runState('running');
    await page.locator('[data-testid^="timeline-step-"][data-state="succeeded"]').waitFor();
    const waiting = page.locator('[data-testid^="timeline-step-"][data-state="running"]');
    await waiting.waitFor();
    expect(await waiting.textContent()).toContain('waiter');
    openGate();
    // The same page, not reloaded, turns to the end.
    await runState('succeeded');
    await page.locator('[data-testid="run-feed"][data-state="ended"]').waitFor();
    expect(page.url()).toContain(encodeURIComponent(id));
    // The list shows it too.
    await page.getByTestId('nav-coordinations').click();
    const row = page.getByTestId(`coordination-row-${id}`);
    await row.waitFor();
    expect(await row.getAttribute('data-status')).toBe('succeeded');
    expect(await row.textContent()).toContain('fact-finder, waiter');
  });

  it("draws a run's graph with its agents' names on the nodes", async () => {
    await open('start');
    await page.getByTestId('start-example').selectOption('pipeline');
    await page.getByTestId('start-submit').click();
    await runIdOnPage();
    await runState('succeeded');
    const graph = page.getByTestId('run-graph');
    await graph.waitFor();
    const named = await graph
      .locator('[data-agent]')
      .evaluateAll((nodes) => nodes.map((node) => node.getAttribute('data-agent')));
    expect(named.length).toBeGreaterThan(1);
    const agents = new Set<string>(EXAMPLE_AGENTS.map((a) => a.definition.agentId));
    for (const name of named) expect(agents.has(name ?? '')).toBe(true);
    const drawn = (await graph.textContent()) ?? '';
    for (const name of named) expect(drawn).toContain(name);
    expect(drawn).not.toMatch(/\bstep\d+\b/);
    // Every step node ended as its step did.
    const states = await graph
      .locator('[data-agent]')
      .evaluateAll((nodes) => nodes.map((node) => node.getAttribute('data-state')));
    expect(new Set(states)).toEqual(new Set(['succeeded']));
  });

  it("resets an open circuit breaker from the agent's row", async () => {
    // Open it the way production does: the agent fails task after task.
    // The runtime writes outcomes every few seconds; settle() writes them now.
    for (let i = 0; i < 10; i++) {
      const agent = await api('GET', '/agents/unreliable');
      if ((agent.body.circuit as { state: string }).state === 'open') break;
      await api('POST', '/coordinations', { pattern: 'sequential', agents: ['unreliable'] });
      await runtime.coordinations.settle();
    }
    expect((await api('GET', '/agents/unreliable')).body.circuit).toMatchObject({ state: 'open' });
    await open('agents');
    const circuit = agentRow('unreliable').getByTestId('agent-circuit');
    await circuit.filter({ hasText: /^open$/ }).waitFor();
    await agentRow('unreliable').getByTestId('agent-reset').click();
    await page.locator('[data-testid="flash"][data-kind="ok"]').waitFor();
    await circuit.filter({ hasText: /^closed$/ }).waitFor();
    expect((await api('GET', '/agents/unreliable')).body.circuit).toMatchObject({
      state: 'closed',
      consecutiveFailures: 0,
    });
  });

  it('drains an agent and resumes it', async () => {
    await open('agents');
    const row = agentRow('sentiment-analyzer');
    await row.getByTestId('agent-drain').click();
    await page
      .locator('[data-testid="agent-row-sentiment-analyzer"][data-status="drained"]')
      .waitFor();
    expect(await row.getByTestId('agent-status').textContent()).toBe('drained');
    expect((await api('GET', '/agents/sentiment-analyzer')).body.status).toBe('drained');
    // A drained agent offers Resume in place of Drain.
    await row.getByTestId('agent-resume').click();
    await page
      .locator('[data-testid="agent-row-sentiment-analyzer"][data-status="healthy"]')
      .waitFor();
    expect(await row.getByTestId('agent-drain').isVisible()).toBe(true);
    expect((await api('GET', '/agents/sentiment-analyzer')).body.status).toBe('healthy');
  });

  it("shows a dead letter in an agent's details and redrives it to the agent's queue", async () => {
    // A message parked in keyword-extractor's dead-letter queue, as repeated failures leave one.
    const sqs = new SQSClient({ region: LOCAL_REGION, credentials: LOCAL_CREDENTIALS });
    const { QueueUrl } = await sqs.send(
      new GetQueueUrlCommand({ QueueName: agentQueueNames('keyword-extractor', false).deadLetter }),
    );
    const parked = createMessage({
      from: 'api',
      to: 'keyword-extractor',
      type: 'request',
      payload: { text: 'Dead letters wait here until an operator redrives them.' },
    });
    await sqs.send(new SendMessageCommand({ QueueUrl, MessageBody: serialize(parked) }));
    sqs.destroy();

    await open('agents');
    await agentRow('keyword-extractor').getByTestId('agent-details-toggle').click();
    const details = page.getByTestId('agent-details-keyword-extractor');
    await details.getByTestId('dead-letter').filter({ hasText: parked.messageId }).waitFor();
    await details.getByTestId('dlq-depth').filter({ hasText: /^1$/ }).waitFor();
    await agentRow('keyword-extractor').getByTestId('agent-redrive').click();
    await page
      .locator('[data-testid="flash"][data-kind="ok"]')
      .filter({ hasText: 'keyword-extractor: redrive of 1 dead letter started' })
      .waitFor();
    // The details are read again every 5 s: the dead-letter queue is empty within two reads.
    await details.getByTestId('dlq-depth').filter({ hasText: /^0$/ }).waitFor({ timeout: 15_000 });
    const letters = await api('GET', '/agents/keyword-extractor/dead-letters');
    expect(letters.body.messages).toEqual([]);
  });

  it('cancels a running standard coordination', async () => {
    closeGate();
    const id = await startPasted({
      pattern: 'sequential',
      agents: ['waiter'],
      mode: 'standard',
      timeout: 60,
    });
    await runState('running');
    await page.locator('[data-testid^="timeline-step-"][data-state="running"]').waitFor();
    await page.getByTestId('run-cancel').click();
    await runState('cancelled');
    // The step the waiter was on is abandoned, not left running.
    await page.locator('[data-testid^="timeline-step-"][data-state="abandoned"]').waitFor();
    const stored = await api('GET', `/coordinations/${encodeURIComponent(id)}`);
    expect(stored.body).toMatchObject({ status: 'cancelled' });
    openGate();
  });
});
