import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApi } from '../../functions/api/app.ts';
import type { AccessSettings } from '../../functions/api/caller.ts';
import { buffered } from '../../functions/api/http.ts';
import type { AgentDefinition } from '../../functions/core/sdk/define-agent.ts';
import { lambdaContext } from '../../functions/embedded/lambda-context.ts';
import { EmbeddedRuntime } from '../../functions/embedded/runtime.ts';
import { type Answer, gatewayEvent, requestJson } from '../support/api-json.ts';
import { card } from '../support/cards.ts';
import { eventually as poll } from '../support/poll.ts';

/**
 * The operator actions on agents — POST /agents/{id}/drain, /resume, /circuit/reset — through the
 * embedded runtime's HTTP API, with real agents, real coordinations and real health sweeps (whose
 * pings make the agents heartbeat); then the same API under IAM access settings, as API Gateway
 * calls it, for who may use them.
 */
let runtime: EmbeddedRuntime;

const echo = (agentId: string, extra: Partial<AgentDefinition> = {}): AgentDefinition => ({
  agentId,
  agentType: 'echo',
  description: 'echoes its input',
  capabilities: [{ name: 'echoing', version: '1.0.0' }],
  handler: async (message) => ({ from: agentId, input: message.input }),
  ...extra,
});

const http = (method: string, path: string, body?: unknown) =>
  requestJson(runtime.apiUrl ?? '', method, path, body);

/** Up to 15 s: queue moves and receives take seconds on the emulator. */
const eventually = <T>(read: () => Promise<T>, ok: (value: T) => boolean) => poll(read, ok, 150);

/** An A2A SendMessage to the agent's JSON-RPC endpoint (HTTP 200 either way: see body.error). */
async function sendA2a(agentId: string): Promise<Answer> {
  const response = await fetch(`${runtime.apiUrl}/a2a/${agentId}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'A2A-Version': '1.0' },
    body: JSON.stringify({
      jsonrpc: '2.0',
      id: 1,
      method: 'SendMessage',
      params: { message: { messageId: `m-${Date.now()}`, parts: [{ data: { q: 3 } }] } },
    }),
  });
  return { status: response.status, body: (await response.json()) as Answer['body'] };
}

/** Planning reuses registry lookups for a second (the runtime's planning cache): let them expire. */
const pastPlanningCache = () => new Promise((resolve) => setTimeout(resolve, 1100));

const coordinate = (request: Record<string, unknown>) =>
  http('POST', '/coordinations', { pattern: 'sequential', payload: { q: 1 }, ...request });
const ranOn = (answer: Answer) => answer.body.steps?.map((s: { agentId: string }) => s.agentId);

beforeAll(async () => {
  runtime = await EmbeddedRuntime.start({
    agents: [
      echo('echo-a'),
      // Ranked first for the capability whenever it can take work.
      echo('echo-b', { capabilities: [{ name: 'echoing', version: '1.0.0', priority: 10 }] }),
      // Planned with only in the breaker's test: the runtime records coordinations' outcomes in
      // the background, and a success recorded late would restart another agent's failure count.
      echo('echo-c', { capabilities: [{ name: 'tripping', version: '1.0.0' }] }),
    ],
    port: 0,
    sweepSeconds: 1,
  });
}, 60_000);

afterAll(async () => {
  await runtime?.stop();
});

describe('drain and resume through the API', () => {
  let drainedAt: string;

  it('drains: the agent shows as drained in GET /agents, its health and the fleet summary', async () => {
    const drained = await http('POST', '/agents/echo-b/drain');
    expect(drained.status).toBe(200);
    expect(drained.body).toEqual({
      agentId: 'echo-b',
      status: 'drained',
      drainedAt: expect.any(String),
      drainedBy: 'local',
    });
    drainedAt = drained.body.drainedAt;
    expect(Date.parse(drainedAt)).not.toBeNaN();

    const listed = await http('GET', '/agents?status=drained');
    expect(listed.body.agents.map((a: { card: { agentId: string } }) => a.card.agentId)).toEqual([
      'echo-b',
    ]);
    expect((await http('GET', '/agents/echo-b/health')).body.status).toBe('drained');
    expect((await http('GET', '/health')).body.agents.byStatus.drained).toBe(1);
  });

  it('shows who drained it and when in its record, without draining it again', async () => {
    const record = await http('GET', '/agents/echo-b');
    expect(record.body).toMatchObject({
      status: 'drained',
      drained: { at: drainedAt, by: 'local' },
    });
    const listed = await http('GET', '/agents?status=drained');
    expect(listed.body.agents[0].drained).toEqual({ at: drainedAt, by: 'local' });
    // Agents nobody drained carry no such field.
    expect((await http('GET', '/agents/echo-a')).body).not.toHaveProperty('drained');
  });

  it('is skipped by discovery and by a coordination naming its capability', async () => {
    const usable = await http('POST', '/discover', {
      capability: 'echoing',
      statuses: ['healthy', 'degraded', 'initializing', 'unhealthy', 'draining'],
    });
    expect(usable.body.matches.map((m: { agentId: string }) => m.agentId)).toEqual(['echo-a']);

    const run = await coordinate({ steps: [{ id: 'only', capability: 'echoing' }] });
    expect(run.status, JSON.stringify(run.body)).toBe(200);
    expect(ranOn(run)).toEqual(['echo-a']);
  });

  it('is passed over when named by id: its fallback stands in, saying why; alone, 503', async () => {
    const standIn = await coordinate({
      steps: [{ id: 'only', agent: 'echo-b', fallbacks: ['echo-a'] }],
    });
    expect(standIn.status, JSON.stringify(standIn.body)).toBe(200);
    expect(ranOn(standIn)).toEqual(['echo-a']);
    expect(standIn.body.degraded).toBe(true);
    expect(standIn.body.standIns).toEqual([
      expect.objectContaining({
        stepId: 'only',
        requested: 'echo-b',
        agentId: 'echo-a',
        reason: 'drained',
      }),
    ]);
    expect(standIn.body.standIns[0].detail).toMatch(/operator drained it/);

    const alone = await coordinate({ agents: ['echo-b'] });
    expect(alone.status).toBe(503);
    expect(alone.body.error).toMatchObject({
      code: 'NO_AGENT_AVAILABLE',
      details: { agentId: 'echo-b', status: 'drained' },
    });
  });

  it('refuses messages and A2A requests addressed to it (503 naming the drain), where an open breaker would too', async () => {
    for (const body of [
      { to: 'echo-b', payload: { q: 1 } },
      { to: 'echo-b', payload: { q: 1 }, wait: true },
      { to: 'echo-b', payload: { q: 1 }, stream: true },
    ]) {
      const refused = await http('POST', '/messages', body);
      expect(refused.status, JSON.stringify(body)).toBe(503);
      expect(refused.body.error).toMatchObject({
        code: 'NO_AGENT_AVAILABLE',
        details: { agentId: 'echo-b', status: 'drained', drainedAt, drainedBy: 'local' },
      });
      expect(refused.body.error.message).toMatch(/drained.*POST \/agents\/echo-b\/resume/);
    }
    // The A2A endpoint answers a refused message as a failed task saying why (functions/a2a).
    const a2a = await sendA2a('echo-b');
    expect(a2a.body.result?.task?.status, JSON.stringify(a2a.body)).toMatchObject({
      state: 'TASK_STATE_FAILED',
      message: {
        parts: [{ text: expect.stringMatching(/echo-b is drained/) }],
        metadata: { code: 'NO_AGENT_AVAILABLE' },
      },
    });
  });

  it('stays drained through its heartbeats, and a second drain keeps the first one’s mark', async () => {
    const before = (await http('GET', '/agents/echo-b/health')).body.lastSeen;
    const pinged = await eventually(
      () => http('GET', '/agents/echo-b/health'),
      ({ body }) => body.lastSeen !== before,
    );
    expect(pinged.body.status).toBe('drained');
    const beat = await http('POST', '/agents/echo-b/heartbeat', { status: 'healthy' });
    expect(beat.body.status).toBe('drained');

    const again = await http('POST', '/agents/echo-b/drain');
    expect(again).toEqual({
      status: 200,
      body: { agentId: 'echo-b', status: 'drained', drainedAt, drainedBy: 'local' },
    });
  });

  it('resumes: its status is derived again, and it takes work again', async () => {
    const resumed = await http('POST', '/agents/echo-b/resume');
    expect(resumed.status).toBe(200);
    expect(resumed.body).toEqual({ agentId: 'echo-b', status: expect.any(String) });
    expect(['healthy', 'degraded']).toContain(resumed.body.status);
    expect((await http('GET', '/health')).body.agents.byStatus.drained).toBe(0);
    expect((await http('GET', '/agents/echo-b')).body).not.toHaveProperty('drained');

    await pastPlanningCache();
    const run = await coordinate({ steps: [{ id: 'only', capability: 'echoing' }] });
    expect(ranOn(run)).toEqual(['echo-b']);
    const named = await coordinate({ agents: ['echo-b'] });
    expect(named.status).toBe(200);
    expect(named.body.standIns).toEqual([]);

    expect((await http('POST', '/messages', { to: 'echo-b', payload: { q: 1 } })).status).toBe(202);
    const answered = await http('POST', '/messages', {
      to: 'echo-b',
      payload: { q: 2 },
      wait: true,
    });
    expect(answered.status).toBe(200);
    expect(answered.body.response.payload).toEqual({ from: 'echo-b', input: { q: 2 } });
    expect((await sendA2a('echo-b')).body.result?.task?.status?.state).toBe('TASK_STATE_COMPLETED');
  });
});

describe('circuit reset through the API', () => {
  it('closes a breaker that recorded failures opened, and the agent takes work again at once', async () => {
    // Five failures in a row (the default threshold) open echo-c's breaker for 30 s.
    for (let i = 0; i < 5; i++)
      await runtime.registry.recordOutcome('echo-c', { ok: false, latencyMs: 3 });
    const open = await http('GET', '/agents/echo-c/health');
    expect(open.body.circuit).toMatchObject({ state: 'open', consecutiveFailures: 5 });
    expect(open.body.circuit.openedAt).not.toBeNull();
    expect((await coordinate({ agents: ['echo-c'] })).status).toBe(503);

    const reset = await http('POST', '/agents/echo-c/circuit/reset');
    expect(reset).toEqual({
      status: 200,
      body: {
        agentId: 'echo-c',
        circuit: { state: 'closed', consecutiveFailures: 0, openedAt: null },
      },
    });
    expect((await http('GET', '/agents/echo-c/health')).body.circuit).toEqual({
      state: 'closed',
      consecutiveFailures: 0,
      openedAt: null,
    });
    await pastPlanningCache();
    const run = await coordinate({ agents: ['echo-c'] });
    expect(run.status, JSON.stringify(run.body)).toBe(200);
    expect(ranOn(run)).toEqual(['echo-c']);
  });

  it('answers 404 for an agent nobody registered, on every operator route', async () => {
    for (const action of ['drain', 'resume', 'circuit/reset']) {
      const answer = await http('POST', `/agents/nobody-here/${action}`);
      expect(answer.status, action).toBe(404);
      expect(answer.body.error).toMatchObject({
        code: 'NOT_FOUND',
        details: { agentId: 'nobody-here' },
      });
    }
  });
});

describe('who may drain, resume and reset (IAM access settings)', () => {
  const ACCOUNT = '123456789012';
  const session = (role: string) => `arn:aws:sts::${ACCOUNT}:assumed-role/${role}/session-1`;
  const OPERATOR_ROLE = `arn:aws:iam::${ACCOUNT}:role/MobiusOperator`;
  const OWNER = session('AgentOwner');
  const ACCESS: AccessSettings = { mode: 'iam', operators: [OPERATOR_ROLE] };

  /** The API as API Gateway calls it: the signer's identity in the request context. */
  async function as(principal: string, method: string, path: string): Promise<Answer> {
    const api = createApi({
      registry: runtime.registry,
      router: runtime.router,
      coordinations: runtime.coordinations,
      access: ACCESS,
    });
    const event = gatewayEvent(method, path, { caller: principal });
    const response = buffered(await api(event, lambdaContext('mobius-api')));
    return { status: response.statusCode, body: JSON.parse(response.body) };
  }

  beforeAll(async () => {
    // The card's owner is no operator: owning an agent does not make its drain theirs to decide.
    // Reached through echo-a's function: an endpoint of the runtime's own account.
    const lambdaArn = runtime.agents.find((a) => a.agentId === 'echo-a')?.lambdaArn;
    await runtime.registry.register(card('owned', { endpoint: { lambdaArn } }), {
      caller: { principal: `arn:aws:iam::${ACCOUNT}:role/AgentOwner`, operator: false },
    });
  });

  it('refuses callers who are not operators (the agent’s owner included), before anything changes', async () => {
    for (const action of ['drain', 'resume', 'circuit/reset']) {
      const refused = await as(OWNER, 'POST', `/agents/owned/${action}`);
      expect(refused.status, action).toBe(403);
      expect(refused.body.error.code).toBe('FORBIDDEN');
      expect(refused.body.error.message).toMatch(/only operators may/);
      // Nor does a refusal tell a stranger which agents exist.
      expect((await as(OWNER, 'POST', `/agents/nobody-here/${action}`)).status).toBe(403);
    }
    expect((await runtime.registry.get('owned')).status).toBe('initializing');
  });

  it('lets an operator drain, naming the operator’s role as drainedBy, and resume', async () => {
    const drained = await as(session('MobiusOperator'), 'POST', '/agents/owned/drain');
    expect(drained.status).toBe(200);
    expect(drained.body).toMatchObject({ status: 'drained', drainedBy: OPERATOR_ROLE });
    expect((await runtime.registry.get('owned')).status).toBe('drained');
    const resumed = await as(session('MobiusOperator'), 'POST', '/agents/owned/resume');
    expect(resumed.body).toEqual({ agentId: 'owned', status: 'initializing' });
  });
});
