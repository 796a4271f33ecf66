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
  else if (call.path.startsWith('/coordinations')) json(response, 200, { coordinations: [] });
  else json(response, 404, { message: 'Not Found' });
}

/** A server on a loopback address of its own, answering every request with `html`. */
async function site(
  host: string,
  html: () => string,
): Promise<{ url: string; close(): Promise<void> }> {
  const server = createServer((_, response) => {
    response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    response.end(html());
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  return {
    url: `http://${host}:${(server.address() as AddressInfo).port}/`,
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
  await browser.context.clearCookies();
  await page.goto('about:blank');
  proxy = await startConsoleServer({ api: apiUrl, port: 0, credentials: async () => CREDENTIALS });
});

afterEach(async () => {
  await page.goto('about:blank');
  await proxy.stop();
});

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
    expect(page.url()).toBe(`${proxy.url}/`);
    await page.getByText('No agents are registered.').waitFor();
    await page.getByTestId('fleet-agents').filter({ hasText: '0/0 healthy' }).waitFor();
    expect(received).toEqual(
      expect.arrayContaining([
        { method: 'GET', path: '/agents?limit=200', signed: true },
        { method: 'GET', path: '/health', signed: true },
      ]),
    );
  });

  it('forwards nothing another site’s page makes the browser ask for, though the browser holds the cookie', async () => {
    await page.goto(proxy.link);
    await page.getByText('No agents are registered.').waitFor();
    await page.goto('about:blank');
    const cookies = await browser.context.cookies(proxy.url);
    expect(cookies.map((c) => c.name)).toContain(`mobius-console-${new URL(proxy.url).port}`);
    const bait = () =>
      `<!doctype html><img src="${proxy.url}/agents/x/dead-letters?limit=10"><img src="${proxy.url}/agents">`;
    // Another site (another loopback address), and another origin of the same site (another port
    // of 127.0.0.1, to which a SameSite cookie still goes).
    const elsewhere = await site('127.0.0.2', bait);
    const nextDoor = await site('127.0.0.1', bait);
    try {
      for (const from of [elsewhere.url, nextDoor.url]) {
        await page.goto(from);
        await imagesSettled(page);
      }
    } finally {
      await elsewhere.close();
      await nextDoor.close();
    }
    // (The console's own page polled /agents?limit=200 and /health before it was left.)
    const baited = (call: Received) =>
      call.path === '/agents' || call.path.startsWith('/agents/x/');
    expect(received.filter(baited)).toEqual([]);
  });
});
