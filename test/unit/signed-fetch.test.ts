import { createHash, createHmac } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { callApi } from '../../functions/cli/signed-fetch.ts';
import { UsageError } from '../../functions/cli/usage-error.ts';

/**
 * The CLI's calls to a deployed (IAM-auth) API: signed with SigV4 for execute-api. fetch is
 * replaced, so nothing leaves the process; the signature is checked against the algorithm as AWS
 * documents it, computed here independently of the signer.
 */
const ACCESS_KEY = 'AKIDEXAMPLE';
const SECRET = 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY';
const API = 'https://abc123.execute-api.eu-west-2.amazonaws.com/v1/';

let requests: { url: string; init: RequestInit }[];

beforeEach(() => {
  requests = [];
  vi.stubGlobal(
    'fetch',
    vi.fn(async (url: URL | string, init: RequestInit) => {
      requests.push({ url: String(url), init });
      return new Response(JSON.stringify({ ok: true }), { status: 200 });
    }),
  );
  // Credentials from the environment only: no profile files, no instance metadata lookups.
  vi.stubEnv('AWS_ACCESS_KEY_ID', ACCESS_KEY);
  vi.stubEnv('AWS_SECRET_ACCESS_KEY', SECRET);
  vi.stubEnv('AWS_SESSION_TOKEN', '');
  vi.stubEnv('AWS_PROFILE', '');
  vi.stubEnv('AWS_CONFIG_FILE', '/nonexistent/mobius-config');
  vi.stubEnv('AWS_SHARED_CREDENTIALS_FILE', '/nonexistent/mobius-credentials');
  vi.stubEnv('AWS_EC2_METADATA_DISABLED', 'true');
});

afterEach(() => {
  vi.unstubAllGlobals();
  vi.unstubAllEnvs();
});

const sha256 = (data: string) => createHash('sha256').update(data).digest('hex');
const hmac = (key: Buffer | string, data: string) =>
  createHmac('sha256', key).update(data).digest();

/** The SigV4 signature of a request, from AWS's published algorithm. */
function expectedSignature(
  method: string,
  url: URL,
  headers: Record<string, string>,
  signedHeaders: string[],
  body: string,
  region: string,
): string {
  const amzDate = headers['x-amz-date'] ?? '';
  const day = amzDate.slice(0, 8);
  const canonicalRequest = [
    method,
    url.pathname,
    '',
    ...signedHeaders.map((name) => `${name}:${(headers[name] ?? '').trim()}`),
    '',
    signedHeaders.join(';'),
    sha256(body),
  ].join('\n');
  const scope = `${day}/${region}/execute-api/aws4_request`;
  const toSign = ['AWS4-HMAC-SHA256', amzDate, scope, sha256(canonicalRequest)].join('\n');
  const key = hmac(hmac(hmac(hmac(`AWS4${SECRET}`, day), region), 'execute-api'), 'aws4_request');
  return createHmac('sha256', key).update(toSign).digest('hex');
}

describe('callApi', () => {
  it('signs requests to a deployed API with SigV4 for execute-api, in the region of its host', async () => {
    const body = { pattern: 'sequential', agents: ['echo'] };
    const response = await callApi(API, 'POST', '/coordinations', body);
    expect(response).toEqual({ status: 200, body: { ok: true } });
    const [request] = requests;
    expect(request?.url).toBe(`${API}coordinations`);
    const headers = Object.fromEntries(
      Object.entries(request?.init.headers as Record<string, string>).map(([k, v]) => [
        k.toLowerCase(),
        v,
      ]),
    );
    const authorization = headers.authorization ?? '';
    const match =
      /^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE\/(\d{8})\/eu-west-2\/execute-api\/aws4_request, SignedHeaders=([a-z0-9;-]+), Signature=([0-9a-f]{64})$/.exec(
        authorization,
      );
    expect(match, authorization).not.toBeNull();
    const signedHeaders = (match?.[2] ?? '').split(';');
    expect(signedHeaders).toEqual(expect.arrayContaining(['host', 'x-amz-date', 'content-type']));
    expect(match?.[3]).toBe(
      expectedSignature(
        'POST',
        new URL(`${API}coordinations`),
        headers,
        signedHeaders,
        JSON.stringify(body),
        'eu-west-2',
      ),
    );
  });

  it('sends requests to the embedded runtime on loopback unsigned', async () => {
    await callApi('http://127.0.0.1:4000', 'GET', '/agents');
    const headers = requests[0]?.init.headers as Record<string, string>;
    expect(Object.keys(headers).map((k) => k.toLowerCase())).not.toContain('authorization');
  });

  it("signs requests to LocalStack's API Gateway on loopback, which is API Gateway all the same", async () => {
    vi.stubEnv('AWS_REGION', 'us-east-1');
    await callApi('http://127.0.0.1:4566/_aws/execute-api/abc123/v1/', 'GET', '/agents');
    expect(requests[0]?.url).toBe('http://127.0.0.1:4566/_aws/execute-api/abc123/v1/agents');
    const headers = requests[0]?.init.headers as Record<string, string>;
    expect(headers.authorization).toMatch(
      /^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE\/\d{8}\/us-east-1\/execute-api\/aws4_request, /,
    );
  });

  it('says how to configure credentials when there are none, and sends nothing', async () => {
    vi.stubEnv('AWS_ACCESS_KEY_ID', '');
    vi.stubEnv('AWS_SECRET_ACCESS_KEY', '');
    const error = await callApi(API, 'GET', '/agents').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UsageError);
    expect((error as Error).message).toMatch(/Configure AWS credentials: AWS_PROFILE/);
    expect(requests).toEqual([]);
  });
});
