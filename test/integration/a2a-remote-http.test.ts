import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RemoteCallError, remoteCall, textOf } from '../../functions/a2a/remote-http.ts';
import type { RemoteHostPolicy } from '../../functions/core/model/remote-hosts.ts';

/**
 * The calls to imported agents held to the allow-list where a call could be turned elsewhere
 * (core/model/remote-hosts.ts, functions/a2a/remote-http.ts), against a server on 127.0.0.1: a
 * name that resolves to a private address, a redirect to another host, an answer too large, a
 * remote that does not answer.
 */
let server: Server;
let port: number;

beforeAll(async () => {
  server = createServer((request, response) => {
    if (request.url === '/hello') return void response.end('hello');
    if (request.url === '/same-host')
      return void response.writeHead(302, { location: '/hello' }).end();
    if (request.url === '/other-host')
      return void response.writeHead(302, { location: `http://localhost:${port}/hello` }).end();
    if (request.url === '/bad-redirect')
      return void response.writeHead(302, { location: 'http://[' }).end();
    if (request.url === '/large') return void response.end('x'.repeat(10_000));
    if (request.url === '/silent') return; // never answers
    response.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

const policy = (allowedHosts: string[]): RemoteHostPolicy => ({
  allowedHosts,
  allowHttp: true,
  setting: 'the test setting',
});

const get = async (
  url: string,
  hosts: RemoteHostPolicy,
  maxBytes = 1000,
  signal = AbortSignal.timeout(5000),
) => textOf(await remoteCall({ method: 'GET', url, signal, maxBytes }, hosts));

const failure = async (work: Promise<unknown>) => {
  try {
    await work;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected a failure');
};

describe('calls to remote agents', () => {
  it('reach an allowed address', async () => {
    expect(await get(`http://127.0.0.1:${port}/hello`, policy(['127.0.0.1']))).toBe('hello');
  });

  it('refuse a name the list allows when it resolves to a loopback address no entry names, at connect time', async () => {
    const error = await failure(get(`http://localhost:${port}/hello`, policy(['localhost'])));
    expect(error).toBeInstanceOf(RemoteCallError);
    expect(error.message).toMatch(
      /localhost:\d+ resolves to (127\.0\.0\.1|::1), a private, loopback, link-local or reserved address; calls go there only when an address entry allows it on port \d+ \(the test setting\)/,
    );
    expect((error as RemoteCallError).retryable).toBe(false);
    // Naming the addresses lets it through.
    expect(
      await get(`http://localhost:${port}/hello`, policy(['localhost', '127.0.0.1', '::1'])),
    ).toBe('hello');
  });

  it('refuse a name resolving to an address whose entry names another port, at connect time', async () => {
    const elsewhere = port === 65535 ? port - 1 : port + 1;
    const error = await failure(
      get(
        `http://localhost:${port}/hello`,
        policy(['localhost', `127.0.0.1:${elsewhere}`, `[::1]:${elsewhere}`]),
      ),
    );
    expect(error).toMatchObject({ name: 'RemoteCallError', retryable: false });
    expect(error.message).toMatch(
      new RegExp(`resolves to (127\\.0\\.0\\.1|::1), .* allows it on port ${port} `),
    );
    // The same entries on the port called let it through.
    expect(
      await get(
        `http://localhost:${port}/hello`,
        policy(['localhost', `127.0.0.1:${port}`, `[::1]:${port}`]),
      ),
    ).toBe('hello');
  });

  it('follow a redirect on the same host, and refuse one to another host', async () => {
    const hosts = policy(['127.0.0.1', 'localhost', '::1']);
    expect(await get(`http://127.0.0.1:${port}/same-host`, hosts)).toBe('hello');
    const error = await failure(get(`http://127.0.0.1:${port}/other-host`, hosts));
    expect(error.message).toMatch(
      /redirected to http:\/\/localhost:\d+, another host: redirects are followed to the same host only/,
    );
  });

  it('refuse a redirect to something that is no URL, as an answer asking again will not change', async () => {
    const error = await failure(
      get(`http://127.0.0.1:${port}/bad-redirect`, policy(['127.0.0.1'])),
    );
    expect(error).toMatchObject({ name: 'RemoteCallError', retryable: false, status: 302 });
    expect(error.message).toMatch(/redirected to "http:\/\/\[", which is no URL/);
  });

  it('refuse an answer larger than the bound', async () => {
    const error = await failure(get(`http://127.0.0.1:${port}/large`, policy(['127.0.0.1']), 1000));
    expect(error.message).toMatch(/answered more than 1000 bytes; the answer is refused/);
  });

  it('end at the deadline', async () => {
    const controller = new AbortController();
    const reason = new Error('the deadline passed');
    setTimeout(() => controller.abort(reason), 200);
    const error = await failure(
      get(`http://127.0.0.1:${port}/silent`, policy(['127.0.0.1']), 1000, controller.signal),
    );
    expect(error).toBe(reason);
  });

  it('report a refused connection as retryable', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const free = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const error = await failure(get(`http://127.0.0.1:${free}/`, policy(['127.0.0.1'])));
    expect(error).toMatchObject({ name: 'RemoteCallError', retryable: true });
  });
});
