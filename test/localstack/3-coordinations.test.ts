import { afterEach, describe, expect, it } from 'vitest';
import {
  agent,
  api,
  type CoordinationResult,
  coordinate,
  eventually,
  exampleRequest,
} from './support.ts';

/**
 * Every coordination pattern, in express mode, under every failure mode, on the example team in
 * the deployed stack: API Gateway → API function → StartSyncExecution of the deployed Express
 * machine → lambda:invoke of each agent's function. Failures are real agent failures:
 * - fact-finder refuses a query with no content word (FatalAgentError: never retried);
 * - flaky-summarizer fails every other call in its process (RetryableAgentError).
 * Each failure counts towards fact-finder's circuit breaker (open after 5 in a row); a good lookup
 * after each test keeps the count down, and the last test walks the breaker through its cycle.
 */
const FAILING_LOOKUP = { query: 'the of and' };
const TEXT =
  'Dead-letter queues keep messages that failed too often. An alarm on their depth tells an operator. Redrive moves them back.';

const LOOKUP_FAILS = { id: 'lookup', agent: 'fact-finder', input: FAILING_LOOKUP };
const KEYWORDS = { id: 'keywords', agent: 'keyword-extractor' };
const TONE = { id: 'tone', agent: 'sentiment-analyzer' };
const FLAKY_SUMMARY = { id: 'summary', agent: 'flaky-summarizer' };

const request = (pattern: string, steps: object[], extra: object = {}) => ({
  pattern,
  steps,
  payload: { text: TEXT },
  timeout: 30,
  ...extra,
});
const merge = { gather: { strategy: 'merge' } };

interface Scenario {
  readonly failing: object;
  readonly failingStep: string;
  readonly failure?: { error: string; cause: string };
  readonly flaky: object;
}

/** Per pattern: a request with a step that fails for good, and one that leans on flaky-summarizer. */
const SCENARIOS = {
  sequential: {
    failing: request('sequential', [LOOKUP_FAILS, KEYWORDS]),
    failingStep: 'lookup',
    flaky: request('sequential', [FLAKY_SUMMARY]),
  },
  pipeline: {
    failing: request('pipeline', [LOOKUP_FAILS, KEYWORDS]),
    failingStep: 'lookup',
    flaky: request('pipeline', [FLAKY_SUMMARY, KEYWORDS]),
  },
  parallel: {
    failing: request('parallel', [LOOKUP_FAILS, KEYWORDS, TONE]),
    failingStep: 'lookup',
    flaky: request('parallel', [FLAKY_SUMMARY, TONE]),
  },
  scatter_gather: {
    failing: request('scatter_gather', [LOOKUP_FAILS, KEYWORDS, TONE], merge),
    failingStep: 'lookup',
    // A scatter-gather fails as a whole when too few items succeed: the gather names the quorum.
    failure: { error: 'Mobius.QuorumNotMet', cause: 'fewer than 3 of 3 agents succeeded' },
    flaky: request('scatter_gather', [FLAKY_SUMMARY, KEYWORDS], merge),
  },
  hierarchical: {
    // The planner's first round looks the question up; a question of stopwords fails the lookup.
    failing: { ...exampleRequest('hierarchical'), payload: { question: 'what is it about?' } },
    failingStep: 'r1-t1',
    flaky: {
      ...exampleRequest('hierarchical'),
      workers: [
        { capability: 'fact-lookup' },
        { capability: 'keyword-extraction' },
        { capability: 'extractive-summarization', version: '^2' },
        { capability: 'sentiment-analysis' },
      ],
    },
  },
} satisfies Record<string, Scenario>;

const FACT_FINDER_FAILURE = {
  agentId: 'fact-finder',
  error: 'FatalAgentError',
  cause: 'fact-finder needs a query with at least one content word',
};

const expectFailureNamed = (result: CoordinationResult, scenario: Scenario) => {
  expect(result.status).toBe('failed');
  expect(result.errors).toContainEqual(
    expect.objectContaining(
      scenario.failure ?? { ...FACT_FINDER_FAILURE, stepId: scenario.failingStep },
    ),
  );
};

/** A lookup fact-finder can answer: resets its run of consecutive failures. */
const GOOD_LOOKUP = {
  pattern: 'sequential',
  steps: [{ id: 'lookup', agent: 'fact-finder' }],
  payload: { query: 'circuit breaker half-open trial request' },
  timeout: 30,
};

afterEach(async () => {
  const { status } = await coordinate(GOOD_LOOKUP);
  if (status !== 200) throw new Error(`the reset lookup answered ${status}`);
});

describe.each(Object.entries(SCENARIOS))('%s (express)', (pattern, scenario) => {
  it('fail_fast: the first failure fails the run with 502, naming the agent, step and cause', async () => {
    const { status, result } = await coordinate({ ...scenario.failing, failure_mode: 'fail_fast' });
    expect(status).toBe(502);
    expect(result).toMatchObject({ pattern, mode: 'express' });
    expectFailureNamed(result, scenario);
  });

  it('best_effort: the failed step is recorded, the rest runs, the result is partial', async () => {
    const { status, result } = await coordinate({
      ...scenario.failing,
      failure_mode: 'best_effort',
    });
    expect(status).toBe(200);
    expect(result.status).toBe('partial');
    expect(result.degraded).toBe(true);
    expect(result.errors).toContainEqual(
      expect.objectContaining({ agentId: 'fact-finder', stepId: scenario.failingStep }),
    );
    expect(result.steps.filter((s) => s.status === 'succeeded').length).toBeGreaterThan(0);
    expect(result.timings.totalMs).toBeGreaterThan(0);
  });

  it('retry: retryable failures are retried until they pass; fatal ones are not retried', async () => {
    // Two runs back to back: flaky-summarizer fails one call in two, so at least one run meets a
    // failure, and retry must carry both through. (Retried attempts leave no trace in an express
    // result; "without retry" below shows the same pair of runs failing once.)
    for (let run = 0; run < 2; run++) {
      const { status, result } = await coordinate({ ...scenario.flaky, failure_mode: 'retry' });
      expect(status, JSON.stringify(result.errors)).toBe(200);
      expect(result.status).toBe('succeeded');
      expect(result.steps.some((s) => s.agentId === 'flaky-summarizer')).toBe(true);
    }
    const fatal = await coordinate({ ...scenario.failing, failure_mode: 'retry' });
    expect(fatal.status).toBe(502);
    expectFailureNamed(fatal.result, scenario);
  });
});

describe('without retry', () => {
  it('flaky-summarizer fails one of two back-to-back fail_fast runs (what retry recovers)', async () => {
    const statuses: number[] = [];
    for (let run = 0; run < 2; run++) {
      const { status } = await coordinate({
        ...SCENARIOS.sequential.flaky,
        failure_mode: 'fail_fast',
      });
      statuses.push(status);
    }
    expect(statuses.sort()).toEqual([200, 502]);
  });
});

describe('fallbacks', () => {
  it('a failing agent falls back to the next one, and the result says degraded', async () => {
    const { status, result } = await coordinate(
      request('sequential', [{ ...LOOKUP_FAILS, fallbacks: ['keyword-extractor'] }], {
        failure_mode: 'fail_fast',
      }),
    );
    expect(status).toBe(200);
    expect(result.status).toBe('succeeded');
    expect(result.degraded).toBe(true);
    expect(result.steps).toContainEqual(
      expect.objectContaining({ stepId: 'lookup', agentId: 'keyword-extractor', attempt: 1 }),
    );
  });
});

describe('crash recovery', () => {
  it('an agent whose process dies mid-task hands the task to the fallback, and reads unhealthy until it heartbeats', async () => {
    const { status, result } = await coordinate(
      request(
        'sequential',
        [
          {
            id: 'fragile',
            agent: 'crasher',
            input: { crash: true, text: TEXT },
            fallbacks: ['summarizer'],
          },
        ],
        { failure_mode: 'fail_fast' },
      ),
    );
    expect(status, JSON.stringify(result)).toBe(200);
    expect(result).toMatchObject({ status: 'succeeded', degraded: true });
    expect(result.steps).toEqual([
      expect.objectContaining({ stepId: 'fragile', agentId: 'summarizer', attempt: 1 }),
    ]);
    // Lambda's answer for a process that exits mid-invocation, naming the agent and the step.
    expect(result.errors).toEqual([
      expect.objectContaining({
        agentId: 'crasher',
        stepId: 'fragile',
        error: 'Runtime.ExitError',
      }),
    ]);
    // The registry learns of the crash from the outcome the API records after the run.
    await eventually('crasher to read unhealthy', async () =>
      (await agent('crasher')).status === 'unhealthy' ? true : undefined,
    );
    // Its next heartbeat (the health monitor's ping, here sent straight away) brings it back.
    expect((await api('POST', '/agents/crasher/heartbeat', {})).status).toBe(200);
    expect((await agent('crasher')).status).toBe('healthy');
  }, 120_000);
});

describe('standard mode', () => {
  it('runs through SQS task tokens to the agents’ queues and is polled to the end', async () => {
    const { status, body } = await api<{ coordinationId: string; status: string }>(
      'POST',
      '/coordinations',
      // Three hops through SQS event source mappings: give the run more than the example's 30 s,
      // which a loaded machine can use up polling.
      { ...exampleRequest('sequential'), mode: 'standard', timeout: 120 },
    );
    expect(status).toBe(202);
    expect(body.status).toBe('running');
    const done = await eventually(
      'the standard coordination to finish',
      async () => {
        const poll = await api<CoordinationResult>('GET', `/coordinations/${body.coordinationId}`);
        expect(poll.status).toBe(200);
        return poll.body.status === 'running' ? undefined : poll.body;
      },
      { timeoutMs: 150_000, intervalMs: 1_000 },
    );
    expect(done, JSON.stringify(done.errors)).toMatchObject({
      status: 'succeeded',
      mode: 'standard',
      pattern: 'sequential',
    });
    expect(done.steps.map((s) => s.stepId)).toEqual(['lookup', 'keywords', 'report']);
  }, 180_000);
});

describe('the circuit breaker, end to end', () => {
  it('opens after five failures in a row (503), half-opens after the cool-down, and a success closes it', async () => {
    const failing = { ...SCENARIOS.sequential.failing, failure_mode: 'fail_fast' };
    for (let run = 0; run < 5; run++) expect((await coordinate(failing)).status).toBe(502);
    // Outcomes reach the registry in the background (coalesced writes) and the API plans from a
    // short-lived cache of agent states: keep failing until the API refuses with 503.
    const refused = await eventually('the API to refuse fact-finder', async () => {
      const attempt = await api<{ error: { code: string } }>('POST', '/coordinations', failing);
      return attempt.status === 503 ? attempt : undefined;
    });
    expect(refused.body.error.code).toBe('NO_AGENT_AVAILABLE');
    expect((await agent('fact-finder')).circuit.state).toBe('open');
    // After the 30 s cool-down one request is let through as the probe; its success closes it.
    const probe = await eventually(
      'the probe to be let through',
      async () => {
        const attempt = await coordinate(GOOD_LOOKUP);
        return attempt.status === 503 ? undefined : attempt;
      },
      { timeoutMs: 60_000, intervalMs: 2_000 },
    );
    expect(probe.status).toBe(200);
    await eventually('the circuit to close', async () =>
      (await agent('fact-finder')).circuit.state === 'closed' ? true : undefined,
    );
  }, 300_000);
});
