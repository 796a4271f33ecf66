import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type ConsoleServer, startConsoleServer } from '../../functions/cli/console-command.ts';
import { type HeadlessBrowser, launchBrowser } from '../support/browser.ts';

/**
 * `mobius console --api` in Debian's chromium: the page served on 127.0.0.1 by the console, its
 * calls forwarded (signed) to a fake deployed API on loopback that records what reaches it and
 * answers as each test says. What is checked is what the browser does: which of its requests the
 * console lets through to the API, and how the page copes with the API's answers.
 */
const STAGE = '/_aws/execute-api/abc123/prod';
const CREDENTIALS = { accessKeyId: 'AKIDE2ECONSOLE', secretAccessKey: 'e2e-console-secret' };

const FLEET = {
  agents: { total: 0, byStatus: {} },
  openCircuits: [],
  inFlight: 0,
  coordinations: { inFlight: 0, queued: 0, maxInFlight: null },
  recent: { failureRate: 0, errors: 0, requests: 0 },
  queues: { depth: null, deadLetters: null, agentsReporting: 0 },
  truncated: false,
  generatedAt: new Date().toISOString(),
};

interface Received {
  readonly method: string;
  /** Under the stage: `/agents?limit=200`. */
  readonly path: string;
  readonly signed: boolean;
}

let api: Server;
let apiUrl = '';
const received: Received[] = [];
/** Answers the API's calls; null: the default answer. */
let answer: ((call: Received, response: ServerResponse) => boolean) | undefined;
/** A console of each test's own (its link's token is good once), and a browser it has not let in. */
let proxy: ConsoleServer;
let browser: HeadlessBrowser;
let page: Page;

function json(response: ServerResponse, status: number, body: unknown): void {
  response.writeHead(status, { 'content-type': 'application/json' });
  response.end(JSON.stringify(body));
}

function defaultAnswer(call: Received, response: ServerResponse): void {
  if (call.path.startsWith('/health')) json(response, 200, FLEET);
  else if (call.path.startsWith('/agents')) json(response, 200, { agents: [] });
  else if (call.path === '/coordinations' || call.path.startsWith('/coordinations?'))
    json(response, 200, { coordinations: [] });
  else json(response, 404, { error: { code: 'NOT_FOUND', message: `No ${call.path}.` } });
}

/**
 * A server on a loopback address of its own, answering every request with `html`; `cookies` are
 * the Cookie headers it was sent.
 */
async function site(
  host: string,
  html: () => string,
): Promise<{ url: string; cookies: string[]; close(): Promise<void> }> {
  const cookies: string[] = [];
  const server = createServer((request, response) => {
    if (request.headers.cookie !== undefined) cookies.push(request.headers.cookie);
    response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    response.end(html());
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  return {
    url: `http://${host}:${(server.address() as AddressInfo).port}/`,
    cookies,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/**
 * Resolves once every image of the page has loaded or failed: their requests have been answered.
 * (A string: the test's TypeScript has no DOM types.)
 */
const imagesSettled = (on: Page) =>
  on.waitForFunction('[...document.images].every((image) => image.complete)');

beforeAll(async () => {
  api = createServer((request: IncomingMessage, response: ServerResponse) => {
    request.resume();
    const call: Received = {
      method: request.method ?? '',
      path: (request.url ?? '').replace(STAGE, ''),
      signed: String(request.headers.authorization ?? '').startsWith('AWS4-HMAC-SHA256 '),
    };
    received.push(call);
    if (answer?.(call, response) !== true) defaultAnswer(call, response);
  });
  await new Promise<void>((resolve) => api.listen(0, '127.0.0.1', resolve));
  apiUrl = `http://127.0.0.1:${(api.address() as AddressInfo).port}${STAGE}`;
  browser = await launchBrowser();
  page = await browser.page();
}, 60_000);

afterAll(async () => {
  await browser?.close();
  api?.closeAllConnections();
  await new Promise<void>((resolve) => (api ? api.close(() => resolve()) : resolve()));
});

beforeEach(async () => {
  received.length = 0;
  answer = undefined;
  await page.goto('about:blank');
  proxy = await startConsoleServer({ api: apiUrl, port: 0, credentials: async () => CREDENTIALS });
});

afterEach(async () => {
  await page.goto('about:blank');
  await proxy.stop();
});

/** One SSE event as the API writes it. */
const sse = (event: { id: number; type: string } & Record<string, unknown>) =>
  `id: ${event.id}\nevent: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`;

/** The events of a one-step run `coordinationId`, ids 1 to 4, as the API streams them. */
function oneStepRun(coordinationId: string) {
  const time = new Date().toISOString();
  const common = { coordinationId, time };
  const step = { stepId: 'step1', agentId: 'echo', candidate: 0, attempt: 1 };
  const result = {
    coordinationId,
    pattern: 'sequential',
    status: 'succeeded',
    degraded: false,
    output: { echoed: true },
    steps: [
      {
        stepId: 'step1',
        agentId: 'echo',
        status: 'succeeded',
        output: { echoed: true },
        durationMs: 5,
        attempt: 0,
      },
    ],
    errors: [],
    standIns: [],
    timings: { totalMs: 12, agentMs: 5, overheadMs: 7 },
  };
  return {
    result,
    events: [
      {
        id: 1,
        type: 'coordination.started',
        ...common,
        pattern: 'sequential',
        mode: 'standard',
        steps: [{ stepId: 'step1', agentId: 'echo' }],
      },
      { id: 2, type: 'step.started', ...common, ...step },
      {
        id: 3,
        type: 'step.succeeded',
        ...common,
        ...step,
        output: { echoed: true },
        durationMs: 5,
      },
      { id: 4, type: 'coordination.finished', ...common, status: 'succeeded', result },
    ],
  };
}

/** Opens the console's link (the browser let in), then a run's page. */
async function openRun(coordinationId: string): Promise<void> {
  await page.goto(proxy.link);
  await page.goto(`${proxy.url}/#/coordinations/${coordinationId}`);
  await page.getByTestId('run-page').waitFor();
}

const runIs = (state: string, timeout = 10_000) =>
  page.locator(`[data-testid="run-status"][data-state="${state}"]`).waitFor({ timeout });
const feedIs = (state: string, timeout = 10_000) =>
  page.locator(`[data-testid="run-feed"][data-state="${state}"]`).waitFor({ timeout });

describe('mobius console in a browser', () => {
  it('signs nothing for a page opened without its link: the page says which link to open', async () => {
    await page.goto(`${proxy.url}/#/agents`);
    const problem = page.getByTestId('agents-error');
    await problem.waitFor();
    expect(await problem.textContent()).toContain('open the link `mobius console` printed');
    expect(received).toEqual([]);
  });

  it('works once its link is opened: the token leaves the address bar, the calls go signed', async () => {
    await page.goto(proxy.link);
    await page.getByText('No agents are registered.').waitFor();
    expect(page.url()).toBe(`${proxy.url}/`);
    await page.getByTestId('fleet-agents').filter({ hasText: '0/0 healthy' }).waitFor();
    expect(received).toEqual(
      expect.arrayContaining([
        { method: 'GET', path: '/agents?limit=200', signed: true },
        { method: 'GET', path: '/health', signed: true },
      ]),
    );
    // The session outlives a reload and reaches another tab of the console (not another port).
    received.length = 0;
    await page.reload();
    await page.getByText('No agents are registered.').waitFor();
    const tab = await browser.context.newPage();
    try {
      await tab.goto(`${proxy.url}/#/coordinations`);
      await tab.getByTestId('fleet-agents').filter({ hasText: '0/0 healthy' }).waitFor();
    } finally {
      await tab.close();
    }
    expect(received.filter((call) => !call.signed)).toEqual([]);
    expect(received).toContainEqual({
      method: 'GET',
      path: '/coordinations?limit=25',
      signed: true,
    });
  });

  it('picks up the session of a restarted console whose new link another tab opened', async () => {
    await page.goto(proxy.link);
    await page.getByText('No agents are registered.').waitFor();
    // mobius console stopped and started again on its port: a new link, a new session.
    const port = Number(new URL(proxy.url).port);
    await proxy.stop();
    proxy = await startConsoleServer({ api: apiUrl, port, credentials: async () => CREDENTIALS });
    const tab = await browser.context.newPage();
    try {
      await tab.goto(proxy.link);
      await tab.getByText('No agents are registered.').waitFor();
      // The first tab's next calls carry the new session: its fleet line keeps reading.
      received.length = 0;
      await page.getByTestId('nav-coordinations').click();
      await page.getByTestId('fleet-agents').filter({ hasText: '0/0 healthy' }).waitFor();
      await expect
        .poll(() => received.some((call) => call.path.startsWith('/coordinations?')))
        .toBe(true);
      expect(received.filter((call) => !call.signed)).toEqual([]);
    } finally {
      await tab.close();
    }
  });

  it('says why when its link, spent already, is opened by a browser without the session', async () => {
    await page.goto(proxy.link);
    await page.getByText('No agents are registered.').waitFor();
    // Another browser, as far as the console can tell: nothing stored for its origin.
    await page.evaluate('localStorage.clear()');
    received.length = 0;
    await page.goto(proxy.link);
    const flash = page.locator('[data-testid="flash"][data-kind="error"]');
    await flash.waitFor();
    expect(await flash.textContent()).toContain('lets one browser in, once');
    expect(page.url()).toBe(`${proxy.url}/`);
    expect(received).toEqual([]);
  });

  it('forwards nothing another site’s page makes the browser ask for; other ports get no session', async () => {
    await page.goto(proxy.link);
    await page.getByText('No agents are registered.').waitFor();
    await page.goto('about:blank');
    // The session lives in the console's origin's storage: no cookie for anyone to be sent.
    expect(await browser.context.cookies()).toEqual([]);
    const bait = () =>
      `<!doctype html><img src="${proxy.url}/agents/x/dead-letters?limit=10"><img src="${proxy.url}/agents"><script>document.title = String(localStorage.length)</script>`;
    // Another site (another loopback address), and another origin of the same site (another port
    // of 127.0.0.1, to which a cookie would have gone).
    const elsewhere = await site('127.0.0.2', bait);
    const nextDoor = await site('127.0.0.1', bait);
    try {
      for (const from of [elsewhere.url, nextDoor.url]) {
        await page.goto(from);
        await imagesSettled(page);
        // Its storage is its own: the console's session is not in it.
        expect(await page.title(), from).toBe('0');
      }
      expect(nextDoor.cookies).toEqual([]);
    } finally {
      await elsewhere.close();
      await nextDoor.close();
    }
    // (The console's own page polled /agents?limit=200 and /health before it was left.)
    const baited = (call: Received) =>
      call.path === '/agents' || call.path.startsWith('/agents/x/');
    expect(received.filter(baited)).toEqual([]);
  });

  it('keeps following a run through a dropped stream and a gateway’s 502, resuming after the last event', async () => {
    const { events } = oneStepRun('c-blip');
    const asked: string[] = [];
    answer = (call, response) => {
      if (!call.path.startsWith('/coordinations/c-blip/events')) return false;
      asked.push(call.path);
      if (asked.length === 1) {
        // Two events, then the connection drops (a network blip, a Lambda recycled).
        response.writeHead(200, { 'content-type': 'text/event-stream' });
        response.write(sse(events[0] as (typeof events)[0]) + sse(events[1] as (typeof events)[1]));
        setTimeout(() => response.destroy(), 200);
      } else if (asked.length === 2) json(response, 502, { message: 'Internal server error' });
      else {
        response.writeHead(200, { 'content-type': 'text/event-stream' });
        response.end(events.slice(2).map(sse).join(''));
      }
      return true;
    };
    await openRun('c-blip');
    // Reopened 1 s after the drop, then 2 s after the 502.
    await runIs('succeeded', 15_000);
    await feedIs('ended');
    expect(
      await page.locator('[data-testid="timeline-step-step1"]').getAttribute('data-state'),
    ).toBe('succeeded');
    expect(await page.getByTestId('run-problem').count()).toBe(0);
    expect(asked).toEqual([
      '/coordinations/c-blip/events',
      '/coordinations/c-blip/events?after=2',
      '/coordinations/c-blip/events?after=2',
    ]);
  });

  it('keeps reading a run’s status through a failed read where the API keeps no events', async () => {
    const { result } = oneStepRun('c-poll');
    let reads = 0;
    answer = (call, response) => {
      if (call.path === '/coordinations/c-poll/events')
        json(response, 503, {
          error: {
            code: 'EVENTS_NOT_CONFIGURED',
            message: 'Live coordination events are not available here.',
          },
        });
      else if (call.path === '/coordinations/c-poll') {
        reads += 1;
        if (reads === 1) json(response, 502, { message: 'Internal server error' });
        else if (reads === 2)
          json(response, 200, {
            coordinationId: 'c-poll',
            status: 'running',
            startedAt: new Date().toISOString(),
          });
        else json(response, 200, result);
      } else return false;
      return true;
    };
    await openRun('c-poll');
    await runIs('succeeded', 15_000);
    await feedIs('polling');
    expect(reads).toBe(3);
    expect(await page.getByTestId('run-problem').count()).toBe(0);
  });

  it('stops, saying why, when the API refuses for good', async () => {
    answer = (call, response) => {
      if (!call.path.startsWith('/coordinations/c-unknown')) return false;
      json(response, 404, { error: { code: 'NOT_FOUND', message: 'No coordination c-unknown.' } });
      return true;
    };
    await openRun('c-unknown');
    await feedIs('stopped');
    expect(await page.getByTestId('run-problem').textContent()).toBe('No coordination c-unknown.');
    expect(received.filter((c) => c.path.startsWith('/coordinations/c-unknown'))).toHaveLength(1);
  });

  it('still shows the page for a run address that is not valid percent-encoding', async () => {
    await openRun('%E0');
    await page.getByTestId('nav-agents').waitFor();
    expect(await page.getByTestId('run-id').textContent()).toBe('%E0');
    // Asked for as the id it is (its % encoded), and told that the API knows no such run.
    await feedIs('stopped');
    expect(await page.getByTestId('run-problem').textContent()).toBe(
      'No /coordinations/%25E0/events.',
    );
  });
});
