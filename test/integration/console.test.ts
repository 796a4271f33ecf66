import { request as httpRequest } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { devCommand } from '../../functions/cli/commands.ts';
import type { Io } from '../../functions/cli/io.ts';
import {
  type ApiRequestRecord,
  onApiRequest,
  startApiServer,
} from '../../functions/embedded/api-server.ts';

/**
 * `mobius dev` serves the web console at `/` of its API: the page, its one script and stylesheet
 * (bundled from console/ on first request, no build step), the example requests it offers — and
 * prints one line per request it answers. The command runs in this process, as the CLI runs it,
 * with a captured Io; the page itself is driven in a real browser by test/e2e.
 */
const lines: string[] = [];
const io: Io = {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: the CLI may colour its output
  out: (text) => lines.push(text.replace(/\u001b\[[0-9;]*m/g, '')),
  err: () => undefined,
};
let stop: () => void = () => undefined;
let finished: Promise<number>;
let base = '';

beforeAll(async () => {
  const until = new Promise<void>((resolve) => {
    stop = resolve;
  });
  finished = devCommand({ port: 0 }, io, until);
  for (let i = 0; i < 600 && !lines.some((l) => l.startsWith('Ctrl-C')); i++)
    await new Promise((wait) => setTimeout(wait, 50));
  const banner = lines.find((l) => l.includes('Web console at'));
  base = /http:\/\/127\.0\.0\.1:\d+/.exec(banner ?? '')?.[0] ?? '';
  expect(base).not.toBe('');
});

afterAll(async () => {
  stop();
  expect(await finished).toBe(0);
});

/** The request log lines printed after `since` that name this request id. */
const logged = (requestId: string | null) =>
  lines.filter((l) => requestId && l.endsWith(requestId));

/** Waits (bounded) for the log line of a request: it is printed when its response has closed. */
async function logLine(requestId: string | null): Promise<string> {
  for (let i = 0; i < 100 && logged(requestId).length === 0; i++)
    await new Promise((wait) => setTimeout(wait, 20));
  const [line] = logged(requestId);
  if (line === undefined) throw new Error(`no log line for request ${requestId}`);
  return line;
}

describe('mobius dev serves the web console', () => {
  it('prints where the console is', () => {
    expect(lines).toContain(`● Web console at ${base}/`);
  });

  it('serves the page at /, referencing its script and stylesheet by hashed names', async () => {
    const response = await fetch(`${base}/`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(response.headers.get('cache-control')).toBe('no-cache');
    // Its buttons drain agents and cancel runs: no other page may frame it or inject script.
    expect(response.headers.get('x-frame-options')).toBe('DENY');
    expect(response.headers.get('content-security-policy')).toContain("script-src 'self'");
    const html = await response.text();
    expect(html).toMatch(/<script type="module" src="\/console\/app\.[0-9a-f]{12}\.js"><\/script>/);
    expect(html).toMatch(/<link rel="stylesheet" href="\/console\/app\.[0-9a-f]{12}\.css" \/>/);
    expect(html).toContain('<div id="app">');
  });

  it('serves the bundle as JavaScript and CSS, cached for good under names that change with it', async () => {
    const html = await (await fetch(`${base}/`)).text();
    const script = /src="([^"]+\.js)"/.exec(html)?.[1] ?? '';
    const style = /href="([^"]+\.css)"/.exec(html)?.[1] ?? '';

    const js = await fetch(`${base}${script}`);
    expect(js.status).toBe(200);
    expect(js.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(js.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    const code = await js.text();
    // One self-contained module: preact bundled in (its licence kept), nothing fetched elsewhere
    // (the only URLs are the licence's and the SVG and MathML namespaces).
    expect(code).toContain('Includes Preact (MIT License)');
    expect(code.match(/^import\s|from\s*["']preact/m)).toBeNull();
    expect(code.match(/https?:\/\/(?!preactjs\.com|www\.w3\.org\/)[^"'`\s]*/gi)).toBeNull();
    expect(code).toContain('/coordinations');
    expect(code.length).toBeLessThan(150_000);

    const css = await fetch(`${base}${style}`);
    expect(css.headers.get('content-type')).toBe('text/css; charset=utf-8');
    expect(css.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect(await css.text()).toContain('.badge');

    const head = await fetch(`${base}${script}`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-length')).toBe(String(Buffer.byteLength(code)));
  });

  it('offers the example requests to start', async () => {
    const response = await fetch(`${base}/console/examples`);
    expect(response.status).toBe(200);
    const { examples } = (await response.json()) as {
      examples: { name: string; request: { pattern: string } }[];
    };
    expect(examples.map((e) => e.name)).toEqual(
      expect.arrayContaining(['hierarchical', 'scatter-gather', 'streaming']),
    );
    expect(examples.find((e) => e.name === 'hierarchical')?.request.pattern).toBe('hierarchical');
  });

  it('leaves every other path to the API: an unknown console file or method is its 404', async () => {
    const missing = await fetch(`${base}/console/app.0000.js`);
    expect(missing.status).toBe(404);
    expect(((await missing.json()) as { error: { code: string } }).error.code).toBe('NOT_FOUND');
    const post = await fetch(`${base}/`, { method: 'POST', body: '{}' });
    expect(post.status).toBe(404);
    expect((await fetch(`${base}/agents`)).status).toBe(200);
  });

  it('refuses the page to a rebound DNS name, as it refuses the API', async () => {
    const status = await new Promise<number | undefined>((resolve, reject) => {
      const { port } = new URL(base);
      const call = httpRequest(
        { host: '127.0.0.1', port, path: '/', headers: { host: `attacker.example:${port}` } },
        (response) => {
          response.resume();
          resolve(response.statusCode);
        },
      );
      call.on('error', reject);
      call.end();
    });
    expect(status).toBe(403);
  });

  it('refuses browser requests another site makes (Sec-Fetch-Site), which carry no Origin on a GET', async () => {
    const statusWith = (site: string, mode = 'no-cors', path = '/agents') =>
      new Promise<number | undefined>((resolve, reject) => {
        const { port } = new URL(base);
        const call = httpRequest(
          {
            host: '127.0.0.1',
            port,
            path,
            headers: { 'sec-fetch-site': site, 'sec-fetch-mode': mode },
          },
          (response) => {
            response.resume();
            resolve(response.statusCode);
          },
        );
        call.on('error', reject);
        call.end();
      });
    // An <img> on another site, or on another port of this machine: refused.
    expect(await statusWith('cross-site')).toBe(403);
    expect(await statusWith('same-site')).toBe(403);
    // The console's own calls, and an address typed into the browser.
    expect(await statusWith('same-origin')).toBe(200);
    expect(await statusWith('none')).toBe(200);
    // A link to the console from a page elsewhere opens it (that page cannot read it).
    expect(await statusWith('cross-site', 'navigate', '/')).toBe(200);
  });

  it('prints one line per request: method, path, status, time and request id', async () => {
    const page = await fetch(`${base}/`);
    await page.text();
    const pageLine = await logLine(page.headers.get('x-amzn-requestid'));
    expect(pageLine).toMatch(/^GET \/ 200 \d+\.\d ms [0-9a-f-]{36}$/);

    const missing = await fetch(`${base}/agents/nobody?x=1`);
    await missing.text();
    const missingLine = await logLine(missing.headers.get('x-amzn-requestid'));
    expect(missingLine).toMatch(/^GET \/agents\/nobody\?x=1 404 \d+\.\d ms [0-9a-f-]{36}$/);
  });
});

describe('the request log', () => {
  it('records a request its client left before any answer as unanswered (status 0), not 200', async () => {
    let arrived: () => void = () => undefined;
    const handling = new Promise<void>((resolve) => {
      arrived = resolve;
    });
    let release: () => void = () => undefined;
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    // A route that takes its time (a long express run, say): the client leaves first.
    const server = await startApiServer(
      async () => {
        arrived();
        await released;
        return { statusCode: 200, body: '{}' };
      },
      { port: 0 },
    );
    const records: ApiRequestRecord[] = [];
    const unsubscribe = onApiRequest((record) => {
      if (record.server === server.url) records.push(record);
    });
    try {
      const leaving = new AbortController();
      const call = fetch(`${server.url}/coordinations`, {
        method: 'POST',
        body: '{}',
        signal: leaving.signal,
      }).catch((error: unknown) => error);
      await handling;
      leaving.abort();
      await call;
      for (let i = 0; i < 100 && records.length === 0; i++)
        await new Promise((wait) => setTimeout(wait, 20));
      expect(records).toEqual([
        expect.objectContaining({
          method: 'POST',
          path: '/coordinations',
          status: 0,
          completed: false,
        }),
      ]);
    } finally {
      release();
      unsubscribe();
      await server.stop();
    }
  });
});
