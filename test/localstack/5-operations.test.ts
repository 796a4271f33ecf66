import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { join } from 'node:path';
import {
  GetQueueAttributesCommand,
  PurgeQueueCommand,
  SendMessageCommand,
} from '@aws-sdk/client-sqs';
import { afterAll, describe, expect, it } from 'vitest';
import { createMessage, serialize } from '../../functions/core/messaging/envelope.ts';
import { freePort } from '../../functions/embedded/free-port.ts';
import {
  type AgentView,
  agent,
  api,
  type CoordinationResult,
  coordinate,
  deadLetterQueueUrl,
  eventually,
  outputs,
  sqs,
} from './support.ts';

/**
 * Central management on the deployed stack: what an operator does through the API Gateway of the
 * stack in LocalStack, SigV4-signed — the fleet's health, coordinations listed (express and
 * standard) and a standard one cancelled (Step Functions StopExecution), an agent drained and
 * resumed, a breaker reset, an agent's queue read and its dead letters peeked and redriven (SQS
 * StartMessageMoveTask) — and the same through the `mobius` CLI and the web console's forwarder,
 * run as the operator runs them. LocalStack enforces no IAM: the deployment makes the unsigned
 * identity the local operator (caller.ts), so the operator checks pass as they do for an operator
 * on AWS; who else is refused is covered by the IAM template tests.
 */
const ROOT = join(import.meta.dirname, '..', '..');
const TEXT =
  'Operators drain agents before maintenance. A drained agent finishes its work in flight. Resume brings it back.';

interface CoordinationSummary {
  coordinationId: string;
  pattern: string;
  mode: 'express' | 'standard';
  status: 'running' | 'succeeded' | 'partial' | 'failed' | 'cancelled';
  startedAt: string;
  finishedAt: string | null;
  totalMs: number | null;
  steps: number;
  agents: string[];
}
interface CoordinationPage {
  coordinations: CoordinationSummary[];
  nextToken?: string;
}
interface FleetHealth {
  agents: { total: number; byStatus: Record<string, number> };
  openCircuits: { agentId: string; state: string; openedAt: string | null }[];
  inFlight: number;
  queues: { depth: number | null; deadLetters: number | null; agentsReporting: number };
  recent: { requests: number; errors: number; failureRate: number };
  truncated: boolean;
  coordinations: { inFlight: number; queued: number; maxInFlight: number | null };
  generatedAt: string;
}
interface ErrorBody {
  error: { code: string; message: string; details?: Record<string, unknown> };
}

const health = async () => {
  const { status, body } = await api<FleetHealth>('GET', '/health');
  expect(status).toBe(200);
  return body;
};

const list = async (query: Record<string, string>) => {
  const { status, body } = await api<CoordinationPage>(
    'GET',
    `/coordinations?${new URLSearchParams(query)}`,
  );
  expect(status, JSON.stringify(body)).toBe(200);
  return body;
};

/** The ids of a listing, for assertions that name what is missing. */
const ids = (page: CoordinationPage) => page.coordinations.map((c) => c.coordinationId);

describe('GET /health', () => {
  it('sums the fleet: every agent by status, circuits, queues, and the API’s coordinations', async () => {
    // Statuses move on their own (a recent-metrics window rolls over, a heartbeat turns late), so
    // the summary is compared with the listing read just before and just after it, once those two
    // agree on every agent: the fleet held still while /health read it.
    const tallyOf = (agents: AgentView[]) => {
      const byStatus: Record<string, number> = {};
      for (const a of agents) byStatus[a.status] = (byStatus[a.status] ?? 0) + 1;
      return byStatus;
    };
    /** Each agent's status, by id: the fleet held still when two readings agree on every one. */
    const statusesOf = (agents: AgentView[]) =>
      agents.map((a) => `${a.card.agentId} ${a.status}`).sort();
    const listing = async () => {
      const { status, body } = await api<{ agents: AgentView[] }>('GET', '/agents');
      expect(status).toBe(200);
      return body.agents;
    };
    let fleet: FleetHealth | undefined;
    let agents: AgentView[] = [];
    for (let attempt = 0; attempt < 5 && fleet === undefined; attempt++) {
      const before = await listing();
      const summary = await health();
      agents = await listing();
      if (JSON.stringify(statusesOf(before)) === JSON.stringify(statusesOf(agents)))
        fleet = summary;
    }
    if (fleet === undefined)
      throw new Error('five times, the fleet’s statuses changed while /health read them');
    // The example team and the suite's test agents, each counted once under its status.
    expect(fleet.agents.total).toBe(agents.length);
    expect(fleet.agents.total).toBeGreaterThanOrEqual(11);
    const sum = Object.values(fleet.agents.byStatus).reduce((a, b) => a + b, 0);
    expect(sum).toBe(fleet.agents.total);
    expect(Object.keys(fleet.agents.byStatus)).toEqual(
      expect.arrayContaining(['healthy', 'unhealthy', 'draining', 'drained', 'offline']),
    );
    for (const [status, count] of Object.entries(tallyOf(agents)))
      expect(fleet.agents.byStatus[status], status).toBe(count);
    expect(fleet.truncated).toBe(false);
    // Queue figures are the health monitor's last reading (its scheduled sweep); the sums are
    // whole numbers once one agent has reported, null before.
    expect(fleet.queues.agentsReporting).toBeGreaterThanOrEqual(0);
    for (const figure of [fleet.queues.depth, fleet.queues.deadLetters])
      if (figure !== null) expect(Number.isInteger(figure) && figure >= 0).toBe(true);
    expect(fleet.recent.failureRate).toBeGreaterThanOrEqual(0);
    expect(fleet.recent.failureRate).toBeLessThanOrEqual(1);
    // One API container's admission figures: nothing else is running at this moment.
    expect(fleet.coordinations).toMatchObject({ queued: 0 });
    expect(fleet.coordinations.inFlight).toBeGreaterThanOrEqual(0);
    expect(Date.parse(fleet.generatedAt)).not.toBeNaN();
  });
});

// Everything this file starts is listed since this instant (earlier files ran many more).
const since = new Date(Date.now() - 1_000).toISOString();
/** The runs the listing tests make: the CLI's listing is checked against them too. */
let express: CoordinationResult;
let standardId = '';

describe('coordinations listed and cancelled', () => {
  it('lists an express run just made (succeeded) and a running standard one, newest first', async () => {
    const run = await coordinate({
      pattern: 'parallel',
      steps: [
        { id: 'keywords', agent: 'keyword-extractor' },
        { id: 'tone', agent: 'sentiment-analyzer' },
      ],
      payload: { text: TEXT },
      timeout: 30,
    });
    expect(run.status, JSON.stringify(run.result)).toBe(200);
    express = run.result;
    // A standard run held by the slow test agent (test/localstack/agents/sleeper.ts): 15 s.
    const started = await api<{ coordinationId: string; status: string }>(
      'POST',
      '/coordinations',
      {
        pattern: 'sequential',
        steps: [{ id: 'nap', agent: 'sleeper', input: { ms: 15_000 } }],
        payload: {},
        mode: 'standard',
        timeout: 120,
      },
    );
    expect(started.status, JSON.stringify(started.body)).toBe(202);
    standardId = started.body.coordinationId;

    const page = await eventually('both runs listed, the express one finished', async () => {
      const found = await list({ since });
      const mine = found.coordinations.filter((c) =>
        [express.coordinationId, standardId].includes(c.coordinationId),
      );
      return mine.length === 2 && mine.some((c) => c.status === 'succeeded') ? found : undefined;
    });
    const byId = new Map(page.coordinations.map((c) => [c.coordinationId, c]));
    expect(byId.get(express.coordinationId)).toMatchObject({
      pattern: 'parallel',
      mode: 'express',
      status: 'succeeded',
      steps: 2,
      agents: ['keyword-extractor', 'sentiment-analyzer'],
    });
    expect(byId.get(express.coordinationId)?.finishedAt).not.toBeNull();
    expect(byId.get(express.coordinationId)?.totalMs).toBeGreaterThan(0);
    expect(byId.get(standardId)).toMatchObject({
      pattern: 'sequential',
      mode: 'standard',
      status: 'running',
      finishedAt: null,
      totalMs: null,
      steps: 1,
      agents: ['sleeper'],
    });
    // Newest first: the standard run started after the express one.
    const order = ids(page);
    expect(order.indexOf(standardId)).toBeLessThan(order.indexOf(express.coordinationId));
    const starts = page.coordinations.map((c) => Date.parse(c.startedAt));
    expect(starts).toEqual([...starts].sort((a, b) => b - a));
  });

  it('filters by pattern and status, and pages with nextToken', async () => {
    const parallel = await list({ since, pattern: 'parallel' });
    expect(ids(parallel)).toContain(express.coordinationId);
    expect(ids(parallel)).not.toContain(standardId);
    expect(parallel.coordinations.every((c) => c.pattern === 'parallel')).toBe(true);

    const running = await list({ since, status: 'running' });
    expect(ids(running)).toContain(standardId);
    expect(ids(running)).not.toContain(express.coordinationId);
    expect(running.coordinations.every((c) => c.status === 'running')).toBe(true);

    // One at a time: every run since `since`, each once, the same order as one page.
    const whole = ids(await list({ since }));
    const paged: string[] = [];
    let nextToken: string | undefined;
    for (let page = 0; page < 20; page++) {
      const next = await list({ since, limit: '1', ...(nextToken ? { nextToken } : {}) });
      expect(next.coordinations.length).toBeLessThanOrEqual(1);
      paged.push(...ids(next));
      nextToken = next.nextToken;
      if (nextToken === undefined) break;
    }
    expect(nextToken).toBeUndefined();
    expect(paged.length).toBeGreaterThanOrEqual(2);
    expect(paged).toEqual(whole.slice(0, paged.length));
    expect(new Set(paged).size).toBe(paged.length);

    const bad = await api<ErrorBody>('GET', '/coordinations?status=asleep');
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe('VALIDATION_FAILED');
  });

  it('cancels the running standard run (StopExecution): 200, then GET and the list say cancelled', async () => {
    const cancelled = await api('DELETE', `/coordinations/${standardId}`);
    expect(cancelled.status, JSON.stringify(cancelled.body)).toBe(200);
    expect(cancelled.body).toEqual({ coordinationId: standardId, status: 'cancelled' });

    // On AWS, StopExecution ends the run ABORTED at once. LocalStack 2026.3 answers it (200) but a
    // task waiting on its token (sqs:sendMessage.waitForTaskToken) goes on waiting until the agent
    // calls about it: the answer (SendTaskSuccess, which it accepts where AWS says TaskTimedOut)
    // then ends the run ABORTED — a heartbeat first would end it FAILED with States.Timeout, which
    // is why the nap (15 s) ends before the SDK's first heartbeat (20 s in: a third of the task's
    // 60 s HeartbeatSeconds).
    const ended = await eventually(
      'the stopped run to end',
      async () => {
        const poll = await api<CoordinationResult & { status: string }>(
          'GET',
          `/coordinations/${standardId}`,
        );
        expect(poll.status).toBe(200);
        return poll.body.status === 'running' ? undefined : poll.body;
      },
      { timeoutMs: 60_000, intervalMs: 1_000 },
    );
    // Described from the ABORTED execution: cancelled, and the agent's late answer is not its
    // output. (On AWS the error also names the step the run stopped in, from the history's task
    // still running, and the cause says who cancelled it; LocalStack's history ends the task with
    // the answer it accepted, TaskSucceeded, and its DescribeExecution keeps no error or cause.)
    expect(ended).toMatchObject({
      coordinationId: standardId,
      mode: 'standard',
      status: 'cancelled',
      output: null,
    });
    expect(ended.errors).toContainEqual(
      expect.objectContaining({ error: 'Mobius.CoordinationCancelled' }),
    );
    expect(ended.steps.filter((s) => s.status === 'succeeded')).toEqual([]);

    // Step Functions' status-change event reaches the monitor through EventBridge, which logs
    // coordination.finished: the list follows GET.
    const listed = await eventually(
      'the list to show how the run ended',
      async () => {
        const page = await list({ since, status: 'cancelled' });
        return page.coordinations.find((c) => c.coordinationId === standardId);
      },
      { timeoutMs: 30_000, intervalMs: 1_000 },
    );
    expect(listed).toMatchObject({ mode: 'standard', status: 'cancelled', agents: ['sleeper'] });
    expect(listed.finishedAt).not.toBeNull();
  }, 90_000);

  it('refuses to cancel a run that ended (409 naming how), an express run (409) and an unknown one (404)', async () => {
    const again = await api<ErrorBody>('DELETE', `/coordinations/${standardId}`);
    expect(again.status).toBe(409);
    expect(again.body.error.details).toMatchObject({ status: 'cancelled' });
    const expressRun = await api<ErrorBody>('DELETE', `/coordinations/${express.coordinationId}`);
    expect(expressRun.status).toBe(409);
    expect(expressRun.body.error.message).toContain('express');
    const unknown = await api<ErrorBody>('DELETE', '/coordinations/no-such-run-0000');
    expect(unknown.status).toBe(404);
  });
});

describe('drain and resume', () => {
  // flaky-summarizer outranks summarizer for extractive-summarization (priority 20 vs 5).
  const SUMMARY = {
    pattern: 'sequential',
    steps: [{ id: 'summary', capability: 'extractive-summarization' }],
    payload: { text: TEXT },
    timeout: 30,
    failure_mode: 'retry',
  };
  const holders = async (statuses?: string[]) => {
    const { body } = await api<{ matches: { agentId: string }[] }>('POST', '/discover', {
      capability: 'extractive-summarization',
      ...(statuses === undefined ? {} : { statuses }),
    });
    return body.matches.map((m) => m.agentId);
  };
  let drained = false;

  afterAll(async () => {
    // Whatever failed above, leave the agent in service for the files after this one.
    if (drained) await api('POST', '/agents/flaky-summarizer/resume');
  });

  it('a drained agent shows as drained through heartbeats, and its capability goes elsewhere', async () => {
    const first = await api<{
      agentId: string;
      status: string;
      drainedAt: string;
      drainedBy: string;
    }>('POST', '/agents/flaky-summarizer/drain');
    drained = true;
    expect(first.status, JSON.stringify(first.body)).toBe(200);
    expect(first.body).toMatchObject({ agentId: 'flaky-summarizer', status: 'drained' });
    expect(Date.parse(first.body.drainedAt)).not.toBeNaN();
    expect(first.body.drainedBy.length).toBeGreaterThan(0);
    // Idempotent: the first drain's mark stands.
    const second = await api<{ drainedAt: string }>('POST', '/agents/flaky-summarizer/drain');
    expect(second.status).toBe(200);
    expect(second.body.drainedAt).toBe(first.body.drainedAt);

    // The agent's own heartbeat does not undo an operator's drain.
    expect((await api('POST', '/agents/flaky-summarizer/heartbeat', {})).status).toBe(200);
    expect((await agent('flaky-summarizer')).status).toBe('drained');
    expect((await health()).agents.byStatus.drained).toBe(1);

    // No new work: discovery and planning pass it over once the API's agent cache refreshes.
    await eventually('discovery to pass over the drained agent', async () => {
      const found = await holders();
      return found.includes('flaky-summarizer') ? undefined : found;
    });
    expect(await holders()).toEqual(['summarizer']);
    const run = await eventually('a run to plan the summary elsewhere', async () => {
      const attempt = await coordinate(SUMMARY);
      expect(attempt.status, JSON.stringify(attempt.result)).toBe(200);
      return attempt.result.steps[0]?.agentId === 'summarizer' ? attempt.result : undefined;
    });
    expect(run.status).toBe('succeeded');
  });

  it('resume gives the agent work again', async () => {
    const resumed = await api<{ agentId: string; status: string }>(
      'POST',
      '/agents/flaky-summarizer/resume',
    );
    expect(resumed.status, JSON.stringify(resumed.body)).toBe(200);
    // Its status is its own again: healthy, or degraded while the failures earlier files had it
    // make (flaky-summarizer fails every other call) are still in its recent window.
    expect(resumed.body.agentId).toBe('flaky-summarizer');
    expect(['healthy', 'degraded']).toContain(resumed.body.status);
    drained = false;
    expect(['healthy', 'degraded']).toContain((await agent('flaky-summarizer')).status);
    expect((await health()).agents.byStatus.drained).toBe(0);
    await eventually('discovery to offer the resumed agent again', async () => {
      const found = await holders(['healthy', 'degraded']);
      return found.includes('flaky-summarizer') ? found : undefined;
    });
  });
});

describe('POST /agents/{id}/circuit/reset', () => {
  const FAILING = {
    pattern: 'sequential',
    steps: [{ id: 'lookup', agent: 'fact-finder' }],
    // fact-finder refuses a query with no content word (FatalAgentError).
    payload: { query: 'the of and' },
    timeout: 30,
    failure_mode: 'fail_fast',
  };
  const GOOD_LOOKUP = { ...FAILING, payload: { query: 'circuit breaker reset by an operator' } };

  it('closes an open breaker at once: the registry, /health and planning see it closed', async () => {
    for (let run = 0; run < 5; run++) expect((await coordinate(FAILING)).status).toBe(502);
    // Outcomes reach the registry in the background: five failures in a row open the breaker.
    await eventually('fact-finder’s breaker to open', async () =>
      (await agent('fact-finder')).circuit.state === 'open' ? true : undefined,
    );
    expect((await health()).openCircuits).toContainEqual(
      expect.objectContaining({ agentId: 'fact-finder', state: 'open' }),
    );

    const reset = await api('POST', '/agents/fact-finder/circuit/reset');
    expect(reset.status, JSON.stringify(reset.body)).toBe(200);
    expect(reset.body).toEqual({
      agentId: 'fact-finder',
      circuit: { state: 'closed', consecutiveFailures: 0, openedAt: null },
    });
    expect((await agent('fact-finder')).circuit.state).toBe('closed');
    expect((await health()).openCircuits.map((c) => c.agentId)).not.toContain('fact-finder');
    // The API plans from a short-lived cache of agent states: a lookup goes through once it
    // refreshes, without a probe after the breaker's cool-down.
    const probe = await eventually('a lookup to be planned again', async () => {
      const attempt = await coordinate(GOOD_LOOKUP);
      return attempt.status === 503 ? undefined : attempt;
    });
    expect(probe.status, JSON.stringify(probe.result)).toBe(200);
    expect((await agent('fact-finder')).circuit.state).toBe('closed');
  }, 90_000);

  it('answers 404 for an agent it does not know', async () => {
    expect((await api('POST', '/agents/nobody-here/circuit/reset')).status).toBe(404);
  });
});

describe('queues and dead letters', () => {
  const AGENT = 'keyword-extractor';
  let queueUrl = '';
  let dlqUrl = '';

  const depth = async (url: string) => {
    const { Attributes } = await sqs.send(
      new GetQueueAttributesCommand({
        QueueUrl: url,
        AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
      }),
    );
    return (
      Number(Attributes?.ApproximateNumberOfMessages ?? 0) +
      Number(Attributes?.ApproximateNumberOfMessagesNotVisible ?? 0)
    );
  };

  it('GET /agents/{id}/queue reads the agent’s queue and its dead-letter queue', async () => {
    queueUrl = (await agent(AGENT)).card.endpoint.queueUrl ?? '';
    expect(queueUrl).not.toBe('');
    dlqUrl = deadLetterQueueUrl(queueUrl);
    const { status, body } = await api<{
      agentId: string;
      queueUrl: string;
      fifo: boolean;
      depth: number;
      inFlight: number;
      delayed: number;
      oldestMessageAgeSeconds: number | null;
      deadLetter: { queueUrl: string; depth: number } | null;
      readAt: string;
    }>('GET', `/agents/${AGENT}/queue`);
    expect(status, JSON.stringify(body)).toBe(200);
    expect(body).toMatchObject({ agentId: AGENT, queueUrl, fifo: false, delayed: 0 });
    expect(body.depth).toBeGreaterThanOrEqual(0);
    expect(body.inFlight).toBeGreaterThanOrEqual(0);
    expect(body.deadLetter?.queueUrl).toBe(dlqUrl);
    // From CloudWatch's ApproximateAgeOfOldestMessage: null without a recent datapoint.
    if (body.oldestMessageAgeSeconds !== null)
      expect(body.oldestMessageAgeSeconds).toBeGreaterThanOrEqual(0);
    expect(Date.parse(body.readAt)).not.toBeNaN();
    expect((await api('GET', '/agents/nobody-here/queue')).status).toBe(404);
  });

  it('peeks at a parked message without consuming it, and redrive hands it back to the agent', async () => {
    // Start from an empty dead-letter queue so the depths below are this test's alone.
    await sqs.send(new PurgeQueueCommand({ QueueUrl: dlqUrl }));
    await eventually('the purged dead-letter queue to read empty', async () =>
      (await depth(dlqUrl)) === 0 ? true : undefined,
    );
    const before = (await agent(AGENT)).metrics.requestsProcessed;
    // A message as the SDK parks one (its reason in mobius-* attributes), straight into the DLQ.
    const envelope = createMessage({
      from: 'api',
      to: AGENT,
      type: 'request',
      payload: { text: 'Redrive moves dead letters back to the queue they came from.' },
    });
    await sqs.send(
      new SendMessageCommand({
        QueueUrl: dlqUrl,
        MessageBody: serialize(envelope),
        MessageAttributes: {
          'mobius-agent': { DataType: 'String', StringValue: AGENT },
          'mobius-error': { DataType: 'String', StringValue: 'parked by the operations test' },
        },
      }),
    );

    interface Peek {
      agentId: string;
      deadLetterQueueUrl: string;
      depth: number;
      messages: {
        messageId: string;
        sentAt: string | null;
        receiveCount: number;
        body: unknown;
        attributes: Record<string, string>;
      }[];
    }
    const peek = async () => {
      const { status, body } = await api<Peek>('GET', `/agents/${AGENT}/dead-letters?limit=5`);
      expect(status, JSON.stringify(body)).toBe(200);
      return body;
    };
    // Twice: a look consumes nothing, the message is there the second time too.
    for (let look = 0; look < 2; look++) {
      const seen = await eventually('the parked message to be seen', async () => {
        const body = await peek();
        return body.messages.length > 0 ? body : undefined;
      });
      expect(seen).toMatchObject({ agentId: AGENT, deadLetterQueueUrl: dlqUrl, depth: 1 });
      expect(seen.messages).toHaveLength(1);
      expect(seen.messages[0]?.body).toMatchObject({
        messageId: envelope.messageId,
        to: AGENT,
        type: 'request',
      });
      expect(seen.messages[0]?.attributes).toMatchObject({
        'mobius-agent': AGENT,
        'mobius-error': 'parked by the operations test',
      });
      expect(seen.messages[0]?.receiveCount).toBeGreaterThanOrEqual(1);
      expect(Date.parse(seen.messages[0]?.sentAt ?? '')).not.toBeNaN();
    }
    const limited = await api<ErrorBody>('GET', `/agents/${AGENT}/dead-letters?limit=11`);
    expect(limited.status).toBe(400);

    const redrive = await api<{
      agentId: string;
      taskHandle: string | null;
      source: string;
      destination: string;
      approximateMessagesToMove: number | null;
    }>('POST', `/agents/${AGENT}/dead-letters/redrive`);
    expect(redrive.status, JSON.stringify(redrive.body)).toBe(202);
    expect(redrive.body.agentId).toBe(AGENT);
    expect(redrive.body.source).toMatch(/^arn:aws:sqs:[a-z0-9-]+:\d{12}:.*-dlq$/);
    expect(redrive.body.destination).toBe(redrive.body.source.replace(/-dlq$/, ''));

    // SQS moves it in the background; the queue's event source mapping delivers it to the agent.
    await eventually('the dead-letter queue to empty', async () =>
      (await depth(dlqUrl)) === 0 ? true : undefined,
    );
    await eventually('the agent to handle the redriven message', async () =>
      (await agent(AGENT)).metrics.requestsProcessed > before ? true : undefined,
    );
    const after = await peek();
    expect(after).toMatchObject({ depth: 0, messages: [] });
  }, 90_000);
});

/** The `mobius` command as an operator runs it, Node 22 from this repository. */
function mobius(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [join(ROOT, 'bin', 'mobius.mjs'), ...args],
      { cwd: ROOT, timeout: 60_000, env: { ...process.env, NO_COLOR: '1' } },
      (error, stdout, stderr) =>
        resolve({
          code: error ? Number((error as { code?: number }).code ?? 1) : 0,
          stdout,
          stderr,
        }),
    );
  });
}

describe('the mobius CLI against the deployed stack (--api, SigV4)', () => {
  it('mobius health --json prints the fleet summary the API answers', async () => {
    const run = await mobius('health', '--api', outputs.GatewayApiUrl, '--json');
    expect(run.code, run.stderr).toBe(0);
    const printed = JSON.parse(run.stdout) as FleetHealth;
    const fleet = await health();
    expect(printed.agents).toEqual(fleet.agents);
    expect(printed.coordinations).toMatchObject({ queued: 0 });
    expect(Date.parse(printed.generatedAt)).not.toBeNaN();
  });

  it('mobius coordinations --json lists the runs as the API does, filters included', async () => {
    const run = await mobius(
      'coordinations',
      '--api',
      outputs.GatewayApiUrl,
      '--since',
      since,
      '--pattern',
      'parallel',
      '--json',
    );
    expect(run.code, run.stderr).toBe(0);
    const printed = JSON.parse(run.stdout) as CoordinationPage;
    expect(ids(printed)).toContain(express.coordinationId);
    expect(ids(printed)).not.toContain(standardId);
    expect(printed).toEqual(await list({ since, pattern: 'parallel' }));
    // A filter the API refuses is the CLI's usage error, before any request.
    const bad = await mobius('coordinations', '--api', outputs.GatewayApiUrl, '--status', 'asleep');
    expect(bad.code).not.toBe(0);
  });
});

describe('mobius console --api <deployed URL>', () => {
  let child: ChildProcess | undefined;

  afterAll(async () => {
    if (child?.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child?.once('exit', resolve));
    process.kill(child.pid, 'SIGTERM');
    await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 10_000))]);
    if (child.exitCode === null && child.signalCode === null) process.kill(child.pid, 'SIGKILL');
  });

  it('serves the page on 127.0.0.1 and forwards its API calls, signed, to the stack', async () => {
    const port = await freePort();
    child = spawn(
      process.execPath,
      [
        join(ROOT, 'bin', 'mobius.mjs'),
        'console',
        '--api',
        outputs.GatewayApiUrl,
        '--port',
        String(port),
      ],
      { cwd: ROOT, env: { ...process.env, NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const url = `http://127.0.0.1:${port}`;
    await eventually(
      'mobius console to listen',
      async () => {
        if (child?.exitCode !== null) throw new Error(`mobius console exited: ${stderr}`);
        // Its first line, whole: the link with its token (43 characters).
        return new RegExp(`${url}/\\?token=[A-Za-z0-9_-]{43}`).test(stdout) ? true : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 250 },
    );

    const page = await fetch(`${url}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    expect(await page.text()).toMatch(/<script[^>]+src=/);

    // The link it printed lets one page in: its token, spent once for the session the page's
    // calls carry (console/src/session.ts). Without it nothing is signed.
    const link = new RegExp(`${url}/\\?token=[A-Za-z0-9_-]{43}`).exec(stdout)?.[0];
    expect(link, stdout).toBeDefined();
    const refused = await fetch(`${url}/health`, { headers: { accept: 'application/json' } });
    expect(refused.status).toBe(403);
    await refused.text();
    const spent = await fetch(`${url}/console/session`, {
      method: 'POST',
      headers: { 'x-mobius-console-token': new URL(link ?? url).searchParams.get('token') ?? '' },
    });
    expect(spent.status).toBe(200);
    const { session } = (await spent.json()) as { session: string };

    // The page's call, as the browser makes it: relative, unsigned; the console signs it.
    const forwarded = await fetch(`${url}/health`, {
      headers: { accept: 'application/json', 'x-mobius-console-session': session },
    });
    expect(forwarded.status).toBe(200);
    const fleet = (await forwarded.json()) as FleetHealth;
    // The stack's own summary (statuses move between two reads, an open breaker turns half-open:
    // the agents and the breakers not closed do not).
    const direct = await health();
    const circuits = (h: FleetHealth) => h.openCircuits.map((c) => c.agentId);
    expect(fleet.agents.total).toBe(direct.agents.total);
    expect(circuits(fleet)).toEqual(circuits(direct));
    // One line per request: method, path, status.
    await eventually('the request line for /health', async () =>
      /GET \/health 200/.test(stdout) ? true : undefined,
    );
  }, 90_000);
});
