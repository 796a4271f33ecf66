import { createHash, createHmac } from 'node:crypto';
import {
  createServer,
  request as httpRequest,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  type ConsoleServer,
  consoleCommand,
  SESSION_HEADER,
  SESSION_PATH,
  startConsoleServer,
} from '../../functions/cli/console-command.ts';
import type { Io } from '../../functions/cli/io.ts';
import { apiTarget, openApi } from '../../functions/cli/signed-fetch.ts';
import { UsageError } from '../../functions/cli/usage-error.ts';
import type { ApiRequestRecord } from '../../functions/embedded/api-server.ts';

/**
 * `mobius console --api <url>` serves the web console on 127.0.0.1 and forwards the page's API
 * calls to a deployed stack, SigV4-signed with the operator's credentials; server-sent events pass
 * through as they come. The "deployed stack" here is a fake API Gateway on 127.0.0.1, reached the
 * way LocalStack serves one (`/_aws/execute-api/<id>/<stage>/…`, which the CLI signs as it signs
 * execute-api hosts): it records each request and answers as the test says.
 */
const CREDENTIALS = { accessKeyId: 'AKIDCONSOLETEST', secretAccessKey: 'console-test-secret' };
const STAGE = '/_aws/execute-api/abc123/prod';

interface Received {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingMessage['headers'];
  readonly body: string;
}

let upstream: Server;
let upstreamPort = 0;
const received: Received[] = [];
let answer: (request: Received, response: ServerResponse) => void = (_, response) => response.end();
let console_: ConsoleServer;
/** The session the console's link gave this file's "page". */
let session = '';
const log: ApiRequestRecord[] = [];

/**
 * Opens a console's link as the page does: loads it, then spends its one-time token (in a header,
 * as console/src/session.ts sends it) for the session.
 */
async function admit(server: ConsoleServer): Promise<string> {
  const page = await fetch(server.link);
  expect(page.status).toBe(200);
  expect(page.headers.get('content-type')).toMatch(/^text\/html/);
  await page.text();
  const token = new URL(server.link).searchParams.get('token') ?? '';
  const response = await fetch(`${server.url}${SESSION_PATH}`, {
    method: 'POST',
    headers: { 'x-mobius-console-token': token },
  });
  expect(response.status).toBe(200);
  expect(response.headers.get('cache-control')).toBe('no-store');
  expect(response.headers.get('set-cookie')).toBeNull();
  return ((await response.json()) as { session: string }).session;
}

/** A call of the console's page: on its origin, with its session, as the page sends it. */
const fromPage = (path: string, init: RequestInit = {}) =>
  fetch(`${console_.url}${path}`, {
    ...init,
    headers: {
      [SESSION_HEADER]: session,
      ...(init.headers as Record<string, string> | undefined),
    },
  });

beforeAll(async () => {
  upstream = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const got = {
        method: request.method ?? '',
        url: request.url ?? '',
        headers: request.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      };
      received.push(got);
      answer(got, response);
    });
  });
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  upstreamPort = (upstream.address() as AddressInfo).port;
  console_ = await startConsoleServer({
    api: `http://127.0.0.1:${upstreamPort}${STAGE}`,
    port: 0,
    credentials: async () => CREDENTIALS,
    log: (record) => log.push(record),
  });
  session = await admit(console_);
});

afterAll(async () => {
  await console_.stop();
  upstream.closeAllConnections();
  await new Promise<void>((resolve) => upstream.close(() => resolve()));
});

beforeEach(() => {
  received.length = 0;
  log.length = 0;
});

const sha256 = (data: string) => createHash('sha256').update(data).digest('hex');
const hmac = (key: Buffer | string, data: string) =>
  createHmac('sha256', key).update(data).digest();
const encode = (text: string) =>
  encodeURIComponent(text).replace(
    /[!'()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );

/**
 * Checks the request's SigV4 signature as API Gateway would, from AWS's published algorithm
 * (independently of the signer): the canonical request rebuilt from what arrived — method, path,
 * sorted query, the signed headers, the body's hash — signed with the operator's key for the day,
 * region and execute-api, must give the signature the request carries.
 */
function expectSignedByTheOperator(request: Received): void {
  const authorization = String(request.headers.authorization ?? '');
  const parts =
    /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/execute-api\/aws4_request, SignedHeaders=([a-z0-9;-]+), Signature=([0-9a-f]{64})$/.exec(
      authorization,
    );
  expect(parts, authorization).not.toBeNull();
  const [, keyId, day = '', region = '', signedList = '', signature] = parts as RegExpExecArray;
  expect(keyId).toBe(CREDENTIALS.accessKeyId);
  const signed = signedList.split(';');
  expect(signed).toEqual(expect.arrayContaining(['host', 'x-amz-date']));
  const amzDate = String(request.headers['x-amz-date']);
  const url = new URL(request.url, `http://127.0.0.1:${upstreamPort}`);
  const query = [...url.searchParams]
    .map(([k, v]) => `${encode(k)}=${encode(v)}`)
    .sort()
    .join('&');
  const canonicalRequest = [
    request.method,
    url.pathname,
    query,
    ...signed.map((name) => `${name}:${String(request.headers[name] ?? '').trim()}`),
    '',
    signedList,
    sha256(request.body),
  ].join('\n');
  const scope = `${day}/${region}/execute-api/aws4_request`;
  const toSign = ['AWS4-HMAC-SHA256', amzDate, scope, sha256(canonicalRequest)].join('\n');
  const key = hmac(
    hmac(hmac(hmac(`AWS4${CREDENTIALS.secretAccessKey}`, day), region), 'execute-api'),
    'aws4_request',
  );
  expect(signature).toBe(createHmac('sha256', key).update(toSign).digest('hex'));
}

describe('mobius console --api', () => {
  it('serves the console page itself, without calling the API', async () => {
    const response = await fetch(`${console_.url}/`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/html; charset=utf-8');
    const script = /src="([^"]+\.js)"/.exec(await response.text())?.[1];
    const js = await fetch(`${console_.url}${script}`);
    expect(js.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(js.headers.get('cache-control')).toContain('immutable');
    await js.text();
    expect(received).toEqual([]);
  });

  it('forwards the page’s calls under the API’s stage, signed with SigV4, and passes the answer back', async () => {
    answer = (_, response) => {
      response.writeHead(200, {
        'content-type': 'application/json',
        'x-amzn-requestid': 'upstream-request-1',
      });
      response.end(JSON.stringify({ agents: [{ card: { agentId: 'summarizer' } }] }));
    };
    const response = await fromPage('/agents?status=healthy&limit=5', {
      headers: { accept: 'application/json', cookie: 'session=not-for-aws' },
    });
    expect(response.status).toBe(200);
    expect(response.headers.get('x-amzn-requestid')).toBe('upstream-request-1');
    expect(await response.json()).toEqual({ agents: [{ card: { agentId: 'summarizer' } }] });

    expect(received).toHaveLength(1);
    const [call] = received as [Received];
    expect(call.method).toBe('GET');
    expect(call.url).toBe(`${STAGE}/agents?status=healthy&limit=5`);
    // The page's own headers (its session, the browser's cookies) stay behind.
    expect(call.headers.cookie).toBeUndefined();
    expect(call.headers[SESSION_HEADER]).toBeUndefined();
    expectSignedByTheOperator(call);
    expect(log).toEqual([
      expect.objectContaining({
        method: 'GET',
        path: '/agents?status=healthy&limit=5',
        status: 200,
        requestId: 'upstream-request-1',
      }),
    ]);
  });

  it('signs a body too, and passes the API’s errors back as they are', async () => {
    answer = (_, response) => {
      response.writeHead(409, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ error: { code: 'CONFLICT', message: 'already finished' } }));
    };
    const response = await fromPage('/coordinations', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ pattern: 'parallel', agents: ['a', 'b'] }),
    });
    expect(response.status).toBe(409);
    expect(await response.json()).toEqual({
      error: { code: 'CONFLICT', message: 'already finished' },
    });
    const [call] = received as [Received];
    expect(call.method).toBe('POST');
    expect(JSON.parse(call.body)).toEqual({ pattern: 'parallel', agents: ['a', 'b'] });
    expect(call.headers['content-type']).toBe('application/json');
    expectSignedByTheOperator(call);
  });

  it('passes server-sent events through as they come, with Last-Event-ID', async () => {
    let sendRest: () => void = () => undefined;
    answer = (_, response) => {
      response.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8' });
      response.write('id: 4\nevent: step.started\ndata: {"id":4}\n\n');
      // The rest only once the first event has reached the page: a proxy that buffered the
      // answer would never deliver it, and the test would time out.
      sendRest = () => {
        response.write('id: 5\nevent: coordination.finished\ndata: {"id":5}\n\n');
        response.end();
      };
    };
    const response = await fromPage('/coordinations/c-1/events', {
      headers: { accept: 'text/event-stream', 'last-event-id': '3' },
    });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
    const reader = (response.body as ReadableStream<Uint8Array>)
      .pipeThrough(new TextDecoderStream())
      .getReader();
    let text = '';
    while (!text.includes('\n\n')) {
      const { value, done } = await reader.read();
      if (done) break;
      text += value;
    }
    expect(text).toBe('id: 4\nevent: step.started\ndata: {"id":4}\n\n');
    sendRest();
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      text += value;
    }
    expect(text).toContain('event: coordination.finished');
    const [call] = received as [Received];
    expect(call.headers.accept).toBe('text/event-stream');
    expect(call.headers['last-event-id']).toBe('3');
    expectSignedByTheOperator(call);
  });

  it('ends the upstream stream when the page leaves', async () => {
    let upstreamClosed: () => void = () => undefined;
    const closed = new Promise<void>((resolve) => {
      upstreamClosed = resolve;
    });
    answer = (_, response) => {
      response.writeHead(200, { 'content-type': 'text/event-stream' });
      response.write(': keep-alive\n\n');
      response.on('close', upstreamClosed);
    };
    const leaving = new AbortController();
    const response = await fromPage('/coordinations/c-2/events', {
      headers: { accept: 'text/event-stream' },
      signal: leaving.signal,
    });
    const reader = (response.body as ReadableStream<Uint8Array>).getReader();
    await reader.read();
    leaving.abort();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      closed,
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error('the upstream stream stayed open')), 5000);
      }),
    ]);
    clearTimeout(timer);
  });

  it('lets in only the page that opened its link: its token once, for a session', async () => {
    const own = await startConsoleServer({
      api: `http://127.0.0.1:${upstreamPort}${STAGE}`,
      port: 0,
      credentials: async () => CREDENTIALS,
      log: (record) => log.push(record),
    });
    answer = (_, response) => {
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end('{"agents":[]}');
    };
    const spend = (token: string) =>
      fetch(`${own.url}${SESSION_PATH}`, {
        method: 'POST',
        headers: { 'x-mobius-console-token': token },
      });
    try {
      expect(own.link).toMatch(new RegExp(`^${own.url}/\\?token=[A-Za-z0-9_-]{43}$`));
      const token = new URL(own.link).searchParams.get('token') ?? '';
      // Before the link is opened: the page loads, its calls are refused, nothing is signed.
      expect((await fetch(`${own.url}/`)).status).toBe(200);
      const before = await fetch(`${own.url}/agents`);
      expect(before.status).toBe(403);
      expect(((await before.json()) as { error: { message: string } }).error.message).toContain(
        'open the link `mobius console` printed',
      );
      // A wrong token spends nothing; loading the link's page spends nothing either.
      const wrong = await spend(`${token.slice(0, -1)}${token.endsWith('A') ? 'B' : 'A'}`);
      expect(wrong.status).toBe(403);
      await wrong.text();
      const mine = await admit(own);
      expect(mine).toMatch(/^[A-Za-z0-9_-]{43}$/);
      // The token is good once: a second page is refused, whichever way it asks.
      const again = await spend(token);
      expect(again.status).toBe(403);
      expect(((await again.json()) as { error: { message: string } }).error.message).toContain(
        'lets one browser in, once',
      );
      expect((await fetch(`${own.url}${SESSION_PATH}`, { method: 'POST' })).status).toBe(403);
      // A wrong session, another console's, or one in a cookie, is no session.
      const forged = `${mine.slice(0, -1)}${mine.endsWith('A') ? 'B' : 'A'}`;
      const wrongSessions: Record<string, string>[] = [
        { [SESSION_HEADER]: forged },
        { [SESSION_HEADER]: session },
        { cookie: `${SESSION_HEADER}=${mine}; mobius-console-session=${mine}` },
      ];
      for (const headers of wrongSessions)
        expect((await fetch(`${own.url}/agents`, { headers })).status).toBe(403);
      expect(received).toEqual([]);
      const admitted = await fetch(`${own.url}/agents`, { headers: { [SESSION_HEADER]: mine } });
      expect(admitted.status).toBe(200);
      expect(await admitted.json()).toEqual({ agents: [] });
      expect(received).toHaveLength(1);
      // The token never shows in the request log.
      expect(log.filter((r) => r.path.includes(token))).toEqual([]);
      expect(log.map((r) => r.path)).toContain('/?token=…');
    } finally {
      await own.stop();
    }
  });

  it('forwards no call a browser says another site made, session or not', async () => {
    for (const site of ['cross-site', 'same-site']) {
      const response = await fromPage('/agents/x/dead-letters?limit=10', {
        headers: { 'sec-fetch-site': site },
      });
      expect(response.status, site).toBe(403);
      await response.body?.cancel();
    }
    expect(received).toEqual([]);
    answer = (_, response) => response.end('{}');
    const own = await fromPage('/agents', { headers: { 'sec-fetch-site': 'same-origin' } });
    expect(own.status).toBe(200);
    await own.text();
    expect(received).toHaveLength(1);
  });

  it('forwards nothing for a page of another origin: no one else gets requests signed', async () => {
    const response = await fromPage('/agents/a/drain', {
      method: 'POST',
      headers: { origin: 'https://attacker.example' },
    });
    expect(response.status).toBe(403);
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe('FORBIDDEN');
    expect(received).toEqual([]);
  });

  it('forwards only paths under the API’s stage: a raw client’s `/.//` cannot reach another host or stage', async () => {
    // Another server on loopback that must hear nothing (a host an attacker would name).
    const elsewhere: string[] = [];
    const other = createServer((request, response) => {
      elsewhere.push(`${request.method} ${request.url}`);
      response.end('{}');
    });
    await new Promise<void>((resolve) => other.listen(0, '127.0.0.1', resolve));
    const otherPort = (other.address() as AddressInfo).port;
    const { port } = new URL(console_.url);
    // Sent as they are (fetch and browsers normalise their URLs first; a local program need not),
    // by the browser the console let in: even it cannot leave the stage.
    const raw = (path: string) =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        const call = httpRequest(
          {
            host: '127.0.0.1',
            port,
            path,
            method: 'POST',
            headers: { 'content-type': 'application/json', [SESSION_HEADER]: session },
          },
          (response) => {
            let body = '';
            response.setEncoding('utf8');
            response.on('data', (chunk: string) => {
              body += chunk;
            });
            response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
          },
        );
        call.on('error', reject);
        call.end('{"a":1}');
      });
    try {
      for (const path of [
        `/.///127.0.0.1:${otherPort}/_aws/execute-api/x/y`,
        '/.//other-stage/agents',
        '/./\\other-stage/agents',
      ]) {
        const answer = await raw(path);
        expect(answer.status, path).toBe(400);
        expect(JSON.parse(answer.body)).toMatchObject({ error: { code: 'VALIDATION_FAILED' } });
      }
      expect(received).toEqual([]);
      expect(elsewhere).toEqual([]);
    } finally {
      other.closeAllConnections();
      await new Promise<void>((resolve) => other.close(() => resolve()));
    }
  });

  it('joins every signed call’s path under the API’s base as text, refusing any that would leave it', async () => {
    const base = `http://127.0.0.1:${upstreamPort}${STAGE}/`;
    expect(apiTarget(base, '/agents?status=healthy').href).toBe(
      `http://127.0.0.1:${upstreamPort}${STAGE}/agents?status=healthy`,
    );
    // Scheme-relative and root-relative paths stay on the API's host, under its stage.
    expect(apiTarget(base, '//evil.example/x').href).toBe(
      `http://127.0.0.1:${upstreamPort}${STAGE}//evil.example/x`,
    );
    expect(apiTarget(`http://127.0.0.1:${upstreamPort}`, '//evil.example/x').host).toBe(
      `127.0.0.1:${upstreamPort}`,
    );
    for (const path of ['/../other/agents', '/%2e%2e/other/agents', '/\\..\\..\\other'])
      expect(() => apiTarget(base, path), path).toThrow(UsageError);
    await expect(
      openApi(base, 'GET', '/../other/agents', undefined, { credentials: async () => CREDENTIALS }),
    ).rejects.toThrow(UsageError);
    expect(received).toEqual([]);
  });

  it('signs nothing for plain http beyond this machine, naming the fix', async () => {
    const refused = openApi('http://api.example.com/prod', 'GET', '/agents', undefined, {
      credentials: async () => CREDENTIALS,
    });
    await expect(refused).rejects.toThrow(UsageError);
    await expect(refused).rejects.toThrow(/https URL/);
    const io: Io = { out: () => undefined, err: () => undefined };
    await expect(
      consoleCommand({ api: 'http://api.example.com/prod', port: 0 }, io, Promise.resolve()),
    ).rejects.toThrow(/--api http:\/\/api\.example\.com\/prod is plain http/);
  });

  it('logs a request the page left before the API answered as unanswered (status 0), not 200', async () => {
    let arrived: () => void = () => undefined;
    const upstreamHasIt = new Promise<void>((resolve) => {
      arrived = resolve;
    });
    // An API that is slow to answer: the page leaves first.
    answer = () => arrived();
    const leaving = new AbortController();
    const call = fromPage('/coordinations/c-slow/events', {
      headers: { accept: 'text/event-stream' },
      signal: leaving.signal,
    }).catch((error: unknown) => error);
    await upstreamHasIt;
    leaving.abort();
    await call;
    for (let i = 0; i < 100 && log.length === 0; i++)
      await new Promise((wait) => setTimeout(wait, 20));
    expect(log).toEqual([
      expect.objectContaining({
        method: 'GET',
        path: '/coordinations/c-slow/events',
        status: 0,
        completed: false,
      }),
    ]);
  });

  it('answers 502 with the reason when the API cannot be reached', async () => {
    const closedPort = await new Promise<number>((resolve) => {
      const probe = createServer();
      probe.listen(0, '127.0.0.1', () => {
        const { port } = probe.address() as AddressInfo;
        probe.close(() => resolve(port));
      });
    });
    const offline = await startConsoleServer({
      api: `http://127.0.0.1:${closedPort}${STAGE}`,
      port: 0,
      credentials: async () => CREDENTIALS,
    });
    try {
      const response = await fetch(`${offline.url}/health`, {
        headers: { [SESSION_HEADER]: await admit(offline) },
      });
      expect(response.status).toBe(502);
      const body = (await response.json()) as { error: { code: string; message: string } };
      expect(body.error.code).toBe('BAD_GATEWAY');
      expect(body.error.message).toContain(
        `Cannot reach the API at http://127.0.0.1:${closedPort}`,
      );
    } finally {
      await offline.stop();
    }
  });

  it('refuses an --api that is not a URL, naming the fix', async () => {
    const io: Io = { out: () => undefined, err: () => undefined };
    await expect(consoleCommand({ api: 'abc123', port: 0 }, io, Promise.resolve())).rejects.toThrow(
      UsageError,
    );
  });

  it('prints where the console is and each request, until stopped', async () => {
    const lines: string[] = [];
    const io: Io = { out: (text) => lines.push(text), err: () => undefined };
    let stop: () => void = () => undefined;
    const running = consoleCommand(
      { api: `http://127.0.0.1:${upstreamPort}${STAGE}`, port: 0 },
      io,
      new Promise<void>((resolve) => {
        stop = resolve;
      }),
      { credentials: async () => CREDENTIALS },
    );
    for (let i = 0; i < 100 && lines.length < 2; i++)
      await new Promise((wait) => setTimeout(wait, 20));
    const url = /http:\/\/127\.0\.0\.1:\d+/.exec(lines[0] ?? '')?.[0];
    // The link to open, with its token.
    expect(lines[0]).toMatch(/http:\/\/127\.0\.0\.1:\d+\/\?token=[A-Za-z0-9_-]{43} /);
    expect(lines[0]).toContain(`→ http://127.0.0.1:${upstreamPort}${STAGE}`);
    const page = await fetch(`${url}/`);
    await page.text();
    for (let i = 0; i < 100 && lines.length < 3; i++)
      await new Promise((wait) => setTimeout(wait, 20));
    expect(lines[2]).toMatch(/^GET \/ 200 \d+\.\d ms /);
    stop();
    expect(await running).toBe(0);
  });
});
