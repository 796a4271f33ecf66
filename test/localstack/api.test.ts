import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { callApi } from '../../functions/cli/signed-fetch.ts';

/**
 * End to end through API Gateway on LocalStack, against the stack localstack/deploy.sh deployed:
 * the deploy-time registrations, discovery, a direct message and an express coordination of the
 * example agents. Gated: without a reachable LocalStack and a deployed stack it is skipped, saying
 * why. (The machines this project is developed on have no Docker engine; see README.)
 */
const endpoint = process.env.AWS_ENDPOINT_URL ?? 'http://127.0.0.1:4566';
const outputsFile = join(import.meta.dirname, '..', '..', 'localstack', 'outputs.json');

async function reachable(): Promise<string | null> {
  try {
    const health = await fetch(`${endpoint}/_localstack/health`, {
      signal: AbortSignal.timeout(2_000),
    });
    if (!health.ok) return `LocalStack answered ${health.status} at ${endpoint}`;
  } catch {
    return `LocalStack is not reachable at ${endpoint} (docker compose -f localstack/docker-compose.yml up -d)`;
  }
  if (!existsSync(outputsFile)) return 'the stack is not deployed (run localstack/deploy.sh)';
  return null;
}

const reason = await reachable();
if (reason) console.warn(`LocalStack suite skipped: ${reason}`);
const apiUrl = reason
  ? ''
  : (JSON.parse(readFileSync(outputsFile, 'utf8')).MobiusCoordinator.ApiUrl as string);

describe.skipIf(reason !== null)('Mobius on LocalStack, through API Gateway', () => {
  it('lists the agents registered at deploy time', async () => {
    const { status, body } = await callApi(apiUrl, 'GET', '/agents');
    expect(status).toBe(200);
    expect(
      (body as { agents: { card: { agentId: string } }[] }).agents.map((a) => a.card.agentId),
    ).toContain('planner');
  });

  it('discovers by capability', async () => {
    const { status, body } = await callApi(apiUrl, 'POST', '/discover', {
      capability: 'fact-lookup',
      statuses: ['healthy', 'initializing'],
    });
    expect(status).toBe(200);
    expect((body as { matches: { agentId: string }[] }).matches[0]?.agentId).toBe('fact-finder');
  });

  it('runs the pipeline example as an express coordination', async () => {
    const request = JSON.parse(
      readFileSync(
        join(import.meta.dirname, '..', '..', 'examples', 'requests', 'pipeline.json'),
        'utf8',
      ),
    );
    const { status, body } = await callApi(apiUrl, 'POST', '/coordinations', request);
    expect(status).toBe(200);
    expect(body).toMatchObject({ status: 'succeeded', pattern: 'pipeline' });
  });

  it('rejects bad input with 400 and the field path', async () => {
    const { status, body } = await callApi(apiUrl, 'POST', '/coordinations', { pattern: 'swarm' });
    expect(status).toBe(400);
    expect(body).toMatchObject({ error: { code: 'VALIDATION_FAILED' } });
  });
});
