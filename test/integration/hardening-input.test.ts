import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AgentDefinition } from '../../functions/core/sdk/define-agent.ts';
import { type ApiServer, startApiServer } from '../../functions/embedded/api-server.ts';
import { waitUntil } from '../../functions/embedded/free-port.ts';
import { EmbeddedRuntime } from '../../functions/embedded/runtime.ts';

/**
 * Hostile and malformed input on the embedded runtime's HTTP API (issue 15, items 1, 3, 4, 11, 16):
 * every request is answered — 400 naming what is wrong, 431, or a 500 with a request id — and none
 * takes the process down or reaches an agent.
 */
let runtime: EmbeddedRuntime;
let base: string;
const heard: { kind: string; input: unknown }[] = [];

const recorder: AgentDefinition = {
  agentId: 'recorder',
  agentType: 'test',
  description: 'records what it is given',
  capabilities: [{ name: 'recording', version: '1.0.0' }],
  handler: (message) => {
    heard.push({ kind: message.kind, input: message.input });
    return { ok: true };
  },
};
const other: AgentDefinition = { ...recorder, agentId: 'other', agentType: 'other-test' };

beforeAll(async () => {
  runtime = await EmbeddedRuntime.start({ agents: [recorder, other], port: 0 });
  base = runtime.apiUrl as string;
}, 60_000);

afterAll(async () => {
  await runtime.stop();
});

interface Answer {
  status: number;
  headers: Headers;
  body: { error?: { code: string; message: string; details: Record<string, unknown> } } & Record<
    string,
    unknown
  >;
}

async function http(method: string, path: string, body?: unknown): Promise<Answer> {
  const response = await fetch(`${base}${path}`, {
    method,
    headers: { 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
  return {
    status: response.status,
    headers: response.headers,
    body: (await response.json()) as Answer['body'],
  };
}

/** Sends bytes as they are (fetch would normalise the request target) and reads the whole answer. */
function rawHttp(
  url: string,
  request: string,
): Promise<{ status: number; head: string; body: string }> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    // Written, not ended: the server closes the connection (connection: close) once it has answered.
    const socket = connect(Number(port), hostname, () => socket.write(request));
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', reject);
    socket.on('close', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const [head = '', body = ''] = text.split('\r\n\r\n', 2);
      resolve({ status: Number(head.split(' ')[1]), head, body });
    });
  });
}

const issuesOf = (answer: Answer) =>
  (answer.body.error?.details.issues ?? []) as { path: string; message: string }[];

async function stillServing(): Promise<void> {
  const { status } = await http('GET', '/agents');
  expect(status).toBe(200);
}

/** `depth` arrays inside each other: `[[[…]]]`, as text (JSON.stringify itself would overflow). */
const nestedArrays = (depth: number) => `${'['.repeat(depth)}${']'.repeat(depth)}`;
/** An object `depth` levels deep: { d: { d: … { leaf: true } } }. */
function nestedObject(depth: number): Record<string, unknown> {
  let value: Record<string, unknown> = { leaf: true };
  for (let i = 1; i < depth; i++) value = { d: value };
  return value;
}

describe('request targets and transport (item 1)', () => {
  it('answers an absolute-form target that is not a URL with 400, and keeps serving', async () => {
    const answer = await rawHttp(
      base,
      'GET http://%zz/agents HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n\r\n',
    );
    expect(answer.status).toBe(400);
    const body = JSON.parse(answer.body) as Answer['body'];
    expect(body.error?.code).toBe('VALIDATION_FAILED');
    expect(body.error?.message).toContain('url: "http://%zz/agents" is not a valid request target');
    await stillServing();
  });

  it('refuses web pages and rebound DNS names: every caller here is the local operator', async () => {
    const port = new URL(base).port;
    const crossSite = await rawHttp(
      base,
      `POST /agents HTTP/1.1\r\nhost: 127.0.0.1:${port}\r\norigin: https://evil.example\r\ncontent-type: text/plain\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}`,
    );
    expect(crossSite.status).toBe(403);
    expect(JSON.parse(crossSite.body)).toMatchObject({ error: { code: 'FORBIDDEN' } });
    const rebound = await rawHttp(
      base,
      `GET /agents HTTP/1.1\r\nhost: rebound.example:${port}\r\nconnection: close\r\n\r\n`,
    );
    expect(rebound.status).toBe(403);
    // Its own pages and programs on this machine are welcome.
    const own = await rawHttp(
      base,
      `GET /agents HTTP/1.1\r\nhost: localhost:${port}\r\norigin: http://127.0.0.1:${port}\r\nconnection: close\r\n\r\n`,
    );
    expect(own.status).toBe(200);
    await stillServing();
  });

  it('serves a valid absolute-form target by its path', async () => {
    const answer = await rawHttp(
      base,
      `GET ${base}/agents?limit=1 HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n\r\n`,
    );
    expect(answer.status).toBe(200);
    expect((JSON.parse(answer.body) as { agents: unknown[] }).agents).toHaveLength(1);
  });

  it('answers oversized headers with 431 and malformed HTTP with 400, both as JSON errors', async () => {
    const big = await rawHttp(
      base,
      `GET /agents?nextToken=${'a'.repeat(20_000)} HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n`,
    );
    expect(big.status).toBe(431);
    expect(big.head.toLowerCase()).toContain('content-type: application/json');
    expect(JSON.parse(big.body)).toMatchObject({ error: { code: 'HEADERS_TOO_LARGE' } });

    const broken = await rawHttp(base, 'GET /agents HTTP/1.1\r\nhost 127.0.0.1\r\n\r\n');
    expect(broken.status).toBe(400);
    expect(JSON.parse(broken.body)).toMatchObject({ error: { code: 'BAD_REQUEST' } });
    await stillServing();
  });

  describe('a handler that fails unexpectedly', () => {
    let server: ApiServer;
    const logged: unknown[] = [];
    let behaviour: 'throw' | 'bad header' = 'throw';
    beforeAll(async () => {
      server = await startApiServer(
        async () => {
          if (behaviour === 'throw') throw new TypeError('a bug in a route');
          return { statusCode: 200, headers: { 'x-bad': 'line\nbreak' }, body: '{}' };
        },
        { port: 0, logger: { error: (...args: unknown[]) => logged.push(args) } },
      );
    });
    afterAll(() => server.stop());

    it.each(['throw', 'bad header'] as const)(
      'becomes a 500 with a request id, logged under that id (%s)',
      async (what) => {
        behaviour = what;
        logged.length = 0;
        const response = await fetch(`${server.url}/agents`);
        expect(response.status).toBe(500);
        const requestId = response.headers.get('x-amzn-requestid');
        expect(requestId).toMatch(/^[0-9a-f-]{36}$/);
        expect(await response.json()).toEqual({
          error: {
            code: 'INTERNAL',
            message: `Internal error; quote request ${requestId} when reporting it.`,
            details: { requestId },
          },
        });
        expect(logged).toEqual([['unexpected error', expect.objectContaining({ requestId })]]);
        // The process and the server are still there.
        expect((await fetch(`${server.url}/agents`)).status).toBe(500);
      },
    );
  });
});

describe('nesting depth (item 3)', () => {
  const deep = nestedArrays(3000);
  it.each([
    [
      '/coordinations',
      `{"pattern":"parallel","agents":["recorder"],"payload":{"x":${deep}}}`,
      'payload.x.0.0',
    ],
    ['/messages', `{"to":"recorder","payload":${deep}}`, 'payload.0.0'],
    ['/broadcasts', `{"payload":${deep}}`, 'payload.0.0'],
    [
      '/agents',
      `{"agentId":"deep","agentType":"t","description":"d","capabilities":[{"name":"c","version":"1.0.0","metadata":{"m":${deep}}}],"endpoint":{"lambdaArn":"arn:aws:lambda:us-east-1:000000000000:function:deep"}}`,
      'capabilities.0.metadata.m.0',
    ],
  ])(
    'POST %s with a payload 3,000 levels deep: 400 naming the limit and the path',
    async (path, body, at) => {
      const answer = await http('POST', path, body);
      expect(answer.status).toBe(400);
      const [issue] = issuesOf(answer);
      expect(issue?.message).toContain('nested deeper than 64 levels');
      expect(issue?.path.startsWith(at)).toBe(true);
      // The path names the first level past the limit: 64 keys down from the body.
      expect(issue?.path.split('.')).toHaveLength(64);
      expect(heard).toEqual([]);
    },
  );

  it('refuses the deepest body the size limit allows (≈6 MB of brackets) without overflowing', async () => {
    const answer = await http(
      'POST',
      '/messages',
      `{"to":"recorder","payload":${nestedArrays(3_000_000)}}`,
    );
    expect(answer.status).toBe(400);
    expect(issuesOf(answer)[0]?.message).toContain('nested deeper than 64 levels');
    await stillServing();
  });

  it('carries a payload at the limit to the agent intact: coordinations (express, standard), message, broadcast', async () => {
    // The body is level 1 and `payload` level 2, so the payload itself may be 63 levels deep.
    const payload = nestedObject(63);
    const ran = await http('POST', '/coordinations', {
      pattern: 'parallel',
      agents: ['recorder'],
      payload,
    });
    expect(ran.status).toBe(200);
    expect(heard.at(-1)?.input).toEqual(payload);

    // Standard mode: the task travels in an SQS envelope with its task token.
    const started = await http('POST', '/coordinations', {
      pattern: 'parallel',
      agents: ['recorder'],
      mode: 'standard',
      payload,
    });
    expect(started.status).toBe(202);
    await waitUntil('the standard coordination', async () => {
      const polled = await http('GET', `/coordinations/${started.body.coordinationId}`);
      if (polled.body.status !== 'succeeded') throw new Error(`status ${polled.body.status}`);
    });

    expect((await http('POST', '/messages', { to: 'recorder', payload })).status).toBe(202);
    expect((await http('POST', '/broadcasts', { payload })).status).toBe(202);
    // Express, standard, the message, and the broadcast to both agents (they share the recording
    // handler): five arrivals in all, each the payload as sent.
    await waitUntil('the message and the broadcast', async () => {
      const intact = heard.filter((h) => JSON.stringify(h.input) === JSON.stringify(payload));
      if (intact.length < 5) throw new Error(`${intact.length} of 5 arrived`);
    });
    heard.length = 0;

    const tooDeep = await http('POST', '/coordinations', {
      pattern: 'parallel',
      agents: ['recorder'],
      payload: nestedObject(64),
    });
    expect(tooDeep.status).toBe(400);
    expect(issuesOf(tooDeep)[0]?.path).toBe(`payload.${Array(63).fill('d').join('.')}`);
  });
});

describe('page tokens (item 4)', () => {
  it('refuses a forged token with 400 naming nextToken', async () => {
    const answer = await http('GET', '/agents?nextToken=e30');
    expect(answer.status).toBe(400);
    expect(issuesOf(answer)).toEqual([
      { path: 'nextToken', message: expect.stringContaining('not a token this API returned') },
    ]);
  });

  it('follows its own tokens, and refuses one used for another listing or altered to pass its checks', async () => {
    const first = await http('GET', '/agents?limit=1');
    const token = first.body.nextToken as string;
    expect(token).toEqual(expect.any(String));
    const second = await http('GET', `/agents?limit=1&nextToken=${token}`);
    expect(second.status).toBe(200);
    const ids = [first, second].flatMap((page) =>
      (page.body.agents as { card: { agentId: string } }[]).map((a) => a.card.agentId),
    );
    expect(ids.sort()).toEqual(['other', 'recorder']);

    const elsewhere = await http('GET', `/agents?agentType=test&nextToken=${token}`);
    expect(elsewhere.status).toBe(400);
    expect(issuesOf(elsewhere)[0]?.path).toBe('nextToken');

    // Forged with knowledge of the format: the right listing, a key DynamoDB refuses.
    const decoded = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as {
      k: Record<string, unknown>;
    };
    const forged = Buffer.from(
      JSON.stringify({ ...decoded, k: { pk: 'AGENT#x', sk: 'AGENT' } }),
      'utf8',
    ).toString('base64url');
    const refused = await http('GET', `/agents?limit=1&nextToken=${forged}`);
    expect(refused.status).toBe(400);
    expect(issuesOf(refused)[0]?.path).toBe('nextToken');
  });
});

describe('timeouts (item 11)', () => {
  it('refuses a stepTimeout longer than the coordination timeout, naming stepTimeout', async () => {
    const answer = await http('POST', '/coordinations', {
      pattern: 'parallel',
      agents: ['recorder'],
      timeout: 5,
      stepTimeout: 10,
    });
    expect(answer.status).toBe(400);
    expect(issuesOf(answer).map((i) => i.path)).toEqual(['stepTimeout']);
    expect(heard).toEqual([]);
  });
});

describe('__proto__ keys (item 16)', () => {
  it.each([
    [
      '/coordinations',
      'payload.__proto__',
      '{"pattern":"parallel","agents":["recorder"],"payload":{"__proto__":{"x":1},"text":"hi"}}',
    ],
    [
      '/coordinations',
      'payload.a.0.__proto__',
      '{"pattern":"parallel","agents":["recorder"],"payload":{"a":[{"__proto__":1}]}}',
    ],
    ['/messages', 'payload.__proto__', '{"to":"recorder","payload":{"__proto__":null}}'],
    ['/broadcasts', 'payload.b.__proto__', '{"payload":{"b":{"__proto__":"x"}}}'],
  ])('POST %s: refused with 400 naming %s, never silently dropped', async (path, at, body) => {
    const answer = await http('POST', path, body);
    expect(answer.status).toBe(400);
    expect(issuesOf(answer)).toEqual([
      { path: at, message: expect.stringContaining('"__proto__" cannot be used as a key') },
    ]);
    expect(heard).toEqual([]);
  });

  it('passes the other keys JavaScript treats specially through intact', async () => {
    const payload = { constructor: { prototype: 1 }, toString: 'x', hasOwnProperty: [1] };
    const ran = await http('POST', '/coordinations', {
      pattern: 'parallel',
      agents: ['recorder'],
      payload,
    });
    expect(ran.status).toBe(200);
    expect(heard.at(-1)?.input).toEqual(payload);
    heard.length = 0;
  });
});
