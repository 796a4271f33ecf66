import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RemoteAgent, startRemoteAgent } from '../support/a2a-remote.ts';
import { api, type CoordinationResult, coordinate, eventually } from './support.ts';

/**
 * A remote A2A agent joins the deployed stack (issue 19, import): the A2A JS SDK's own server runs
 * on the host (127.0.0.1, which the suite's deployment allows with the context
 * mobius:a2aAllowedHosts), the API imports it (POST /agents/import), and a coordination mixes it
 * with the example team: the deployed Express machine invokes the A2A proxy function for its step,
 * as it invokes a Lambda agent, and the proxy calls the remote over HTTP. A remote that fails is
 * caught as a local agent is, and its fallback answers.
 */
const TEXT =
  'Dead-letter queues keep messages that failed too often. An alarm on their depth tells an operator. Redrive moves them back.';

let remote: RemoteAgent;
let broken: RemoteAgent;

beforeAll(async () => {
  remote = await startRemoteAgent({
    name: 'LocalStack Remote',
    skills: [{ id: 'remote-summary', description: 'Summarises text, elsewhere' }],
    answer: (input) => ({ artifact: { summary: String(input).split('. ')[0], by: 'remote' } }),
  });
  broken = await startRemoteAgent({
    name: 'LocalStack Broken',
    skills: [{ id: 'remote-failure' }],
    answer: () => ({ fail: 'the remote is down for maintenance' }),
  });
});

afterAll(async () => {
  for (const agentId of ['localstack-remote', 'localstack-broken'])
    await api('DELETE', `/agents/${agentId}`).catch(() => undefined);
  await remote?.stop();
  await broken?.stop();
});

describe('an imported A2A agent on the deployed stack', () => {
  it('is imported over the API, reached through the A2A proxy function', async () => {
    const { status, body } = await api<{
      outcome: string;
      agent: {
        status: string;
        card: { agentId: string; endpoint: { lambdaArn: string; a2a: { url: string } } };
      };
    }>('POST', '/agents/import', { url: remote.url });
    expect(status).toBe(201);
    expect(body.agent.card.agentId).toBe('localstack-remote');
    expect(body.agent.card.endpoint.a2a.url).toBe(`${remote.url}/a2a/jsonrpc`);
    expect(body.agent.card.endpoint.lambdaArn).toMatch(
      /^arn:aws:lambda:us-east-1:\d{12}:function:/,
    );
    expect(body.agent.status).toBe('healthy');
    expect((await api('POST', '/agents/import', { url: broken.url })).status).toBe(201);
  });

  it('refuses a host the deployment does not allow, naming the setting', async () => {
    const { status, body } = await api('POST', '/agents/import', { url: 'http://localhost:1/' });
    expect(status).toBe(400);
    expect(JSON.stringify(body)).toContain(
      "the stack's a2aAllowedHosts (MOBIUS_A2A_ALLOWED_HOSTS)",
    );
  });

  it('runs in a scatter-gather beside the example team', async () => {
    const { status, result } = await coordinate({
      pattern: 'scatter_gather',
      steps: [
        { id: 'keywords', agent: 'keyword-extractor' },
        { id: 'remote', agent: 'localstack-remote' },
      ],
      payload: { text: TEXT },
      timeout: 60,
    });
    expect(status).toBe(200);
    expect(result.status).toBe('succeeded');
    const step = (result as CoordinationResult & { steps: { output?: unknown }[] }).steps.find(
      (s) => s.stepId.startsWith('remote'),
    );
    expect(step).toMatchObject({
      agentId: 'localstack-remote',
      status: 'succeeded',
      output: { summary: 'Dead-letter queues keep messages that failed too often', by: 'remote' },
    });
    expect(remote.received).toContain(TEXT);
  });

  it('a remote that fails is caught as a local agent is: its fallback answers, its failure is counted', async () => {
    const { result } = await coordinate({
      pattern: 'sequential',
      steps: [{ id: 'summary', agent: 'localstack-broken', fallbacks: ['summarizer'] }],
      payload: { text: TEXT },
      timeout: 60,
    });
    expect(result.status).toBe('succeeded');
    expect(result.degraded).toBe(true);
    expect(result.errors).toEqual([
      expect.objectContaining({
        agentId: 'localstack-broken',
        cause: expect.stringContaining('the remote is down for maintenance'),
      }),
    ]);
    expect(result.steps[0]).toMatchObject({ agentId: 'summarizer', attempt: 1 });
    await eventually('the failure counted', async () => {
      const { body } = await api<{ metrics: { errors: number } }>(
        'GET',
        '/agents/localstack-broken/health',
      );
      return body.metrics.errors >= 1 ? true : undefined;
    });
  });

  it('answers a request (POST /messages, wait) through the proxy', async () => {
    const { status, body } = await api<{ response: { from: string; payload: unknown } }>(
      'POST',
      '/messages',
      {
        to: 'localstack-remote',
        type: 'request',
        payload: 'One sentence. Another one.',
        wait: true,
        timeout: 20,
      },
    );
    expect(status).toBe(200);
    expect(body.response).toMatchObject({
      from: 'localstack-remote',
      payload: { summary: 'One sentence', by: 'remote' },
    });
  });
});
