import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { createApi } from '../../functions/api/app.ts';
import {
  type AdmissionOptions,
  DEFAULT_ADMISSION,
} from '../../functions/coordination/admission.ts';
import { CoordinationService } from '../../functions/coordination/service.ts';
import type { AgentDefinition } from '../../functions/core/sdk/define-agent.ts';
import { type ApiServer, startApiServer } from '../../functions/embedded/api-server.ts';
import { waitUntil } from '../../functions/embedded/free-port.ts';
import { EmbeddedRuntime } from '../../functions/embedded/runtime.ts';
import { emf, metricsFor } from '../support/emf.ts';

/**
 * Admission control on the embedded runtime, through its HTTP API: a flood past the bound is
 * answered 503 CAPACITY_EXCEEDED with Retry-After for the excess and 200 for the rest, and every
 * admitted coordination finishes. The agent holds each task until the test opens its gate, so
 * which requests are in flight is decided by the test, never by timing.
 */
let runtime: EmbeddedRuntime;
let gate: { promise: Promise<void>; open: () => void };
let invocations = 0;

function closeGate(): void {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => {
    open = resolve;
  });
  gate = { promise, open };
}

const held: AgentDefinition = {
  agentId: 'held',
  agentType: 'test',
  description: 'answers when the test opens its gate',
  capabilities: [{ name: 'holding', version: '1.0.0' }],
  handler: async () => {
    invocations++;
    await gate.promise;
    return { released: true };
  },
};

const REQUEST = { pattern: 'sequential', agents: ['held'] };

let api: ApiServer | undefined;
let coordinations: CoordinationService | undefined;

async function serve(admission: AdmissionOptions) {
  coordinations = new CoordinationService({
    registry: runtime.registry,
    engine: runtime.engine,
    recordOutcomes: 'background',
    admission,
  });
  const metrics = metricsFor('mobius-api');
  api = await startApiServer(
    createApi({ registry: runtime.registry, router: runtime.router, coordinations, metrics }),
    { port: 0 },
  );
  return { service: coordinations, metrics, url: `${api.url}/coordinations` };
}

interface Answer {
  status: number;
  retryAfter: string | null;
  body: { status?: string; error?: { code: string; message: string } };
}

async function post(url: string, body: unknown): Promise<Answer> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return {
    status: response.status,
    retryAfter: response.headers.get('retry-after'),
    body: (await response.json()) as Answer['body'],
  };
}

/** Sends `n` requests at once; `answered` lists the answers as they come. */
function flood(url: string, n: number) {
  const answered: Answer[] = [];
  const all = Promise.all(
    Array.from({ length: n }, () =>
      post(url, REQUEST).then((answer) => {
        answered.push(answer);
        return answer;
      }),
    ),
  );
  return { answered, all };
}

const until = (what: string, check: () => boolean) =>
  waitUntil(what, async () => {
    if (!check()) throw new Error(`not yet: ${what}`);
  });

/** A metric's total in EMF: Powertools prints repeated values of one metric as an array. */
const total = (value: unknown) =>
  Array.isArray(value) ? value.reduce((a: number, b) => a + Number(b), 0) : Number(value ?? 0);

beforeAll(async () => {
  closeGate();
  runtime = await EmbeddedRuntime.start({ agents: [held] });
});

afterEach(async () => {
  gate.open();
  await api?.stop();
  await coordinations?.close();
  api = undefined;
  coordinations = undefined;
  invocations = 0;
  closeGate();
  vi.unstubAllEnvs();
});

afterAll(async () => {
  gate.open();
  await runtime?.stop();
});

describe('admission control on the embedded runtime', () => {
  it('answers the excess of a flood 503 with Retry-After, the rest 200, and loses none', async () => {
    const { service, metrics, url } = await serve({ maxInFlight: 4 });
    const { result: answers } = await emf(async () => {
      const { answered, all } = flood(url, 12);
      // The 4 admitted hold their slots inside the agent; the 8 others are refused meanwhile.
      await until('4 coordinations inside the agent and 8 refused', () => {
        return invocations === 4 && answered.length === 8;
      });
      expect(answered.map((a) => a.status)).toEqual(Array(8).fill(503));
      expect(service.load).toEqual({ inFlight: 4, queued: 0, maxInFlight: 4 });
      // A bad request at full load is still the caller's mistake: 400, not 503.
      expect((await post(url, { pattern: 'swarm' })).status).toBe(400);
      gate.open();
      return all;
    }, metrics);

    const ok = answers.filter((a) => a.status === 200);
    const shed = answers.filter((a) => a.status === 503);
    expect(ok).toHaveLength(4);
    for (const answer of ok) expect(answer.body.status).toBe('succeeded');
    expect(shed).toHaveLength(8);
    for (const answer of shed) {
      expect(answer.retryAfter).toBe('1');
      expect(answer.body.error?.code).toBe('CAPACITY_EXCEEDED');
      expect(answer.body.error?.message).toContain('at most 4 at once');
    }
    // Nothing lost, nothing extra: the agent ran exactly the admitted ones, and every slot is back.
    expect(invocations).toBe(4);
    expect(service.load.inFlight).toBe(0);
    await expect(post(url, REQUEST)).resolves.toMatchObject({ status: 200 });
  });

  it('counts the shed requests as CoordinationsShed, not as started or failed coordinations', async () => {
    const { metrics, url } = await serve({ maxInFlight: 1 });
    const emitted = await emf(async () => {
      const { answered, all } = flood(url, 3);
      await until(
        '1 inside the agent and 2 refused',
        () => invocations === 1 && answered.length === 2,
      );
      gate.open();
      return all;
    }, metrics);
    expect(emitted.result.map((a) => a.status).sort()).toEqual([200, 503, 503]);
    expect(total(emitted.values.CoordinationsShed)).toBe(2);
    expect(total(emitted.values.CoordinationsStarted)).toBe(1);
    expect(emitted.values).not.toHaveProperty('CoordinationsFailed');
    expect(emitted.values).not.toHaveProperty('CoordinationsThrottled');
  });

  it('with a wait, queues the excess up to its bound and serves it when slots come free', async () => {
    const { service, url } = await serve({ maxInFlight: 2, maxWaitMs: 60_000, maxQueued: 2 });
    const { answered, all } = flood(url, 6);
    await until('2 inside the agent, 2 waiting and 2 refused', () => {
      return invocations === 2 && service.load.queued === 2 && answered.length === 2;
    });
    expect(answered.map((a) => a.status)).toEqual([503, 503]);
    gate.open();
    const answers = await all;
    expect(answers.filter((a) => a.status === 200)).toHaveLength(4);
    expect(invocations).toBe(4);
    expect(service.load).toEqual({ inFlight: 0, queued: 0, maxInFlight: 2 });
  });

  it("bounds the runtime's own coordination service by default", () => {
    expect(runtime.coordinations.load.maxInFlight).toBe(DEFAULT_ADMISSION.maxInFlight);
    expect(Number.isFinite(runtime.coordinations.load.maxInFlight)).toBe(true);
  });

  it('takes its bound from the runtime option (mobius dev --max-in-flight)', async () => {
    const own = await EmbeddedRuntime.start({ agents: [held], admission: { maxInFlight: 3 } });
    try {
      expect(own.coordinations.load.maxInFlight).toBe(3);
    } finally {
      await own.stop();
    }
  });
});
