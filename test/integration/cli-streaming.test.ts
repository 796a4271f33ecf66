import { readFileSync } from 'node:fs';
import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { EXAMPLE_AGENTS } from '../../examples/agents/index.ts';
import type { ApiDependencies } from '../../functions/api/dependencies.ts';
import type { ApiEvent } from '../../functions/api/http.ts';
import { errorResponse } from '../../functions/api/http-errors.ts';
import { coordinationEventStream } from '../../functions/api/routes/coordinations.ts';
import { runCommand } from '../../functions/cli/commands.ts';
import type { Io } from '../../functions/cli/io.ts';
import { sendCommand, watchCommand } from '../../functions/cli/stream-commands.ts';
import { UsageError } from '../../functions/cli/usage-error.ts';
import type {
  CoordinationEvent,
  CoordinationEventInput,
} from '../../functions/core/streaming/events.ts';
import { formatSse, SSE_HEADERS } from '../../functions/core/streaming/sse.ts';
import { EmbeddedRuntime } from '../../functions/embedded/runtime.ts';

/**
 * What a person watching the CLI sees while a coordination runs: `mobius run` prints each step and
 * each streamed chunk on stderr as it happens, before the result on stdout; `mobius watch` follows
 * a run of a running `mobius dev` (here: an embedded runtime with its API on a loopback port) over
 * GET /coordinations/{id}/events; `mobius send --stream` prints an agent's chunks as they arrive.
 * Commands run in this process with a captured Io, which records every write in order.
 */
const ROOT = join(import.meta.dirname, '..', '..');
const STREAMING = join(ROOT, 'examples', 'requests', 'streaming.json');

type Write = { readonly to: 'out' | 'err'; readonly text: string; readonly part: boolean };

/** An Io that keeps every write, in order, with whether it ended a line. */
function capture(): { io: Io; writes: Write[]; stderr(): string; stdout(): string } {
  const writes: Write[] = [];
  const text = (to: 'out' | 'err') =>
    writes
      .filter((w) => w.to === to)
      .map((w) => (w.part ? w.text : `${w.text}\n`))
      .join('')
      // biome-ignore lint/suspicious/noControlCharactersInRegex: the CLI may colour its output
      .replace(/\u001b\[[0-9;]*m/g, '');
  return {
    writes,
    io: {
      out: (t) => writes.push({ to: 'out', text: t, part: false }),
      err: (t) => writes.push({ to: 'err', text: t, part: false }),
      outPart: (t) => writes.push({ to: 'out', text: t, part: true }),
      errPart: (t) => writes.push({ to: 'err', text: t, part: true }),
    },
    stderr: () => text('err'),
    stdout: () => text('out'),
  };
}

/** The narration a run returned, from the output printed after the timing tree. */
function narrationIn(stdout: string): string {
  const output = JSON.parse(stdout.slice(stdout.indexOf('\n{') + 1)) as { narration?: unknown };
  expect(typeof output.narration).toBe('string');
  return output.narration as string;
}

/** Positions of `needles` in `haystack`, each searched after the one before. */
function inOrder(haystack: string, needles: readonly string[]): number[] {
  let from = 0;
  return needles.map((needle) => {
    const at = haystack.indexOf(needle, from);
    from = at < 0 ? from : at + needle.length;
    return at;
  });
}

describe('mobius run', () => {
  it('shows each step and the narrator’s chunks on stderr as they arrive, then the result', async () => {
    const { io, writes, stderr, stdout } = capture();
    const code = await runCommand(STREAMING, {}, io);
    expect(code, stderr()).toBe(0);

    const narration = narrationIn(stdout());
    // Every word arrived as its own write, in order, in the narrate step's margin.
    const chunkWrites = writes.filter(
      (w) => w.to === 'err' && w.part && !w.text.includes('│') && w.text !== '\n',
    );
    expect(chunkWrites.map((w) => w.text).join('')).toBe(narration);
    expect(chunkWrites.length).toBe(narration.split(' ').length);
    expect(stderr()).toContain(`    narrate │ ${narration}\n`);

    // The steps in the order they ran, the chunks between the narrator's start and its success.
    const positions = inOrder(stderr(), [
      'pipeline coordination',
      '→ fact-finder find',
      '✔ fact-finder find',
      '→ summarizer summarize',
      '✔ summarizer summarize',
      '→ narrator narrate',
      narration,
      '✔ narrator narrate',
    ]);
    expect(
      positions.every((at) => at >= 0),
      stderr(),
    ).toBe(true);

    // Nothing of the result is printed before the last chunk.
    const lastChunk = writes.lastIndexOf(chunkWrites.at(-1) as Write);
    const firstOut = writes.findIndex((w) => w.to === 'out');
    expect(lastChunk).toBeLessThan(firstOut);
    expect(stdout()).toMatch(/^pipeline coordination ✔ succeeded/);
    expect(stdout()).toMatch(/└─ ✔ narrate +narrator/);
  });

  it('keeps stdout pure JSON with --json, and prints no progress', async () => {
    const { io, stderr, stdout } = capture();
    expect(await runCommand(STREAMING, { json: true }, io)).toBe(0);
    expect(JSON.parse(stdout())).toMatchObject({
      pattern: 'pipeline',
      status: 'succeeded',
      output: { source: 'offline' },
    });
    expect(stderr()).not.toContain('│');
    expect(stderr()).not.toContain('→');
  });
});

describe('mobius watch and mobius send, against a running API', () => {
  let runtime: EmbeddedRuntime;
  const request = JSON.parse(readFileSync(STREAMING, 'utf8')) as Record<string, unknown>;

  beforeAll(async () => {
    runtime = await EmbeddedRuntime.start({
      agents: EXAMPLE_AGENTS.map((a) => a.definition),
      port: 0,
    });
  }, 60_000);

  afterAll(async () => {
    await runtime?.stop();
  });

  async function start(body: Record<string, unknown>): Promise<string> {
    const response = await fetch(`${runtime.apiUrl}/coordinations`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    expect(response.status).toBe(202);
    return ((await response.json()) as { coordinationId: string }).coordinationId;
  }

  it('follows a standard run to its end: steps, chunks, then the result; exit 0', async () => {
    const coordinationId = await start({ ...request, mode: 'standard' });
    const { io, stderr, stdout } = capture();
    const code = await watchCommand(coordinationId, { api: runtime.apiUrl ?? '' }, io);
    expect(code, stderr()).toBe(0);
    const narration = narrationIn(stdout());
    expect(stderr()).toContain(`    narrate │ ${narration}\n`);
    const positions = inOrder(stderr(), [
      `pipeline coordination ${coordinationId} (standard)`,
      '→ fact-finder find',
      '✔ fact-finder find',
      '→ narrator narrate',
      narration,
      '✔ narrator narrate',
    ]);
    expect(
      positions.every((at) => at >= 0),
      stderr(),
    ).toBe(true);
    expect(stdout()).toMatch(/^pipeline coordination ✔ succeeded/);
  });

  it('replays a finished run as JSON lines with --json, ending with coordination.finished', async () => {
    const coordinationId = await start({ ...request, mode: 'standard' });
    // Watch it once to its end, then again: the second watcher gets the replay.
    await watchCommand(coordinationId, { api: runtime.apiUrl ?? '' }, capture().io);
    const { io, stdout } = capture();
    expect(await watchCommand(coordinationId, { api: runtime.apiUrl ?? '', json: true }, io)).toBe(
      0,
    );
    const events = stdout()
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { id: number; type: string; coordinationId: string });
    expect(events[0]?.type).toBe('coordination.started');
    expect(events.at(-1)?.type).toBe('coordination.finished');
    expect(events.map((e) => e.id)).toEqual(events.map((_, i) => i + 1));
    expect(new Set(events.map((e) => e.coordinationId))).toEqual(new Set([coordinationId]));
    expect(events.filter((e) => e.type === 'step.chunk').length).toBeGreaterThan(10);
  });

  it('exits 1 when the watched coordination failed', async () => {
    // fact-finder refuses a query without a content word (FatalAgentError): the run fails.
    const coordinationId = await start({
      ...request,
      payload: { query: 'the of' },
      mode: 'standard',
    });
    const { io, stderr } = capture();
    expect(await watchCommand(coordinationId, { api: runtime.apiUrl ?? '' }, io)).toBe(1);
    expect(stderr()).toContain('✘ fact-finder find');
  });

  it('names the fix for an unknown coordination and for an API it cannot reach', async () => {
    const unknown = await watchCommand('no-such-run', { api: runtime.apiUrl ?? '' }, capture().io)
      .then(() => undefined)
      .catch((error: unknown) => error);
    expect(unknown).toBeInstanceOf(UsageError);
    expect((unknown as Error).message).toMatch(
      /No coordination no-such-run at http:\/\/127\.0\.0\.1:\d+\. Check the id/,
    );

    const port = await freePort();
    const unreachable = await watchCommand('c-1', { api: `http://127.0.0.1:${port}` }, capture().io)
      .then(() => undefined)
      .catch((error: unknown) => error);
    expect(unreachable).toBeInstanceOf(UsageError);
    expect((unreachable as Error).message).toMatch(
      /Cannot reach the Mobius API at http:\/\/127\.0\.0\.1:\d+ .*Start it with `mobius dev`, or pass --api <url>\./,
    );
  });

  it('`mobius send --stream` prints the agent’s chunks on stdout as they arrive', async () => {
    const summary =
      'A circuit breaker stops calls to a failing agent. After a pause it lets one trial request through.';
    const { io, writes, stdout, stderr } = capture();
    const code = await sendCommand(
      'narrator',
      JSON.stringify({ summary }),
      { api: runtime.apiUrl ?? '', stream: true },
      io,
    );
    expect(code, stderr()).toBe(0);
    const pieces = writes.filter((w) => w.to === 'out' && w.part && w.text !== '\n');
    expect(pieces.length).toBeGreaterThan(10);
    const text = pieces.map((w) => w.text).join('');
    expect(text).toMatch(/^Here is the story in brief; /);
    expect(text).toContain('It starts here: A circuit breaker stops calls to a failing agent.');
    expect(stdout()).toBe(`${text}\n`);
    expect(stderr()).toContain('✔ narrator answered');
  });
});

describe('mobius send without streaming', () => {
  let runtime: EmbeddedRuntime;

  beforeAll(async () => {
    runtime = await EmbeddedRuntime.start({
      agents: EXAMPLE_AGENTS.map((a) => a.definition),
      port: 0,
    });
  }, 60_000);

  afterAll(async () => {
    await runtime?.stop();
  });

  it('queues by default, prints the response payload with --wait, and takes text as a string', async () => {
    const api = runtime.apiUrl ?? '';
    const queued = capture();
    expect(await sendCommand('summarizer', '{"text":"Queues decouple."}', { api }, queued.io)).toBe(
      0,
    );
    expect(queued.stdout()).toMatch(/^queued [\w-]+ for summarizer \(conversation [\w-]+\)\n$/);

    const answered = capture();
    const text = 'Queues decouple producers from consumers. Dead letters keep what failed.';
    expect(await sendCommand('summarizer', text, { api, wait: true }, answered.io)).toBe(0);
    expect(JSON.parse(answered.stdout())).toMatchObject({
      summary: expect.stringContaining('Queues'),
    });
  });
});

describe('mobius watch, when the stream does not end with coordination.finished', () => {
  // An API on the loopback address whose answers each test scripts: the endings a running
  // embedded runtime does not produce on demand (a log that fails under a reader, a result the
  // log could not keep, an API without an event log).
  type Script = (request: IncomingMessage, response: ServerResponse) => void;
  let server: Server;
  let api: string;
  let script: Script;
  let requests: IncomingMessage['headers'][];
  const ID = 'c-watched';
  const inputs: CoordinationEventInput[] = [
    {
      type: 'coordination.started',
      pattern: 'sequential',
      mode: 'standard',
      steps: [{ stepId: 'narrate', agentId: 'narrator' }],
    },
    { type: 'step.started', stepId: 'narrate', agentId: 'narrator', candidate: 0, attempt: 1 },
    { type: 'step.chunk', stepId: 'narrate', agentId: 'narrator', chunk: { seq: 0, text: 'Once' } },
    {
      type: 'step.succeeded',
      stepId: 'narrate',
      agentId: 'narrator',
      output: 'Once',
      durationMs: 3,
    },
    { type: 'coordination.finished', status: 'succeeded', result: { coordinationId: ID } },
  ];
  const events: CoordinationEvent[] = inputs.map((input, i) => ({
    ...input,
    id: i + 1,
    coordinationId: ID,
    time: '2026-12-01T00:00:00.000Z',
  }));
  const sse = (event: CoordinationEvent) =>
    formatSse({ event: event.type, id: event.id, data: event });
  const errorEvent = (code: string, message: string) =>
    formatSse({ event: 'error', data: { error: { code, message, details: {} } } });

  beforeAll(async () => {
    server = createHttpServer((request, response) => {
      requests.push(request.headers);
      script(request, response);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    api = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  });

  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  beforeEach(() => {
    requests = [];
  });

  it('prints the result of a coordination.finished without id (one the log could not keep)', async () => {
    const { id: _id, ...finished } = events.at(-1) as CoordinationEvent;
    script = (_, response) => {
      response.writeHead(200, SSE_HEADERS);
      for (const event of events.slice(0, -1)) response.write(sse(event));
      response.end(formatSse({ event: 'coordination.finished', data: finished }));
    };
    const { io, stdout, stderr } = capture();
    expect(await watchCommand(ID, { api, json: true }, io), stderr()).toBe(0);
    const lines = stdout().trim().split('\n');
    expect(lines).toHaveLength(events.length);
    expect(JSON.parse(lines.at(-1) ?? '')).toEqual(finished);
  });

  it('prints a cancelled run as cancelled, and exits 1: the work was not done', async () => {
    const cause =
      'the coordination was cancelled by arn:aws:iam::1:role/Ops while narrator was still working on step narrate; its answer is dropped';
    const result = {
      coordinationId: ID,
      pattern: 'sequential',
      mode: 'standard',
      status: 'cancelled',
      output: null,
      steps: [{ stepId: 'narrate', agentId: 'narrator', status: 'failed', attempt: 0 }],
      errors: [
        { agentId: 'narrator', stepId: 'narrate', error: 'Mobius.CoordinationCancelled', cause },
      ],
      degraded: false,
      standIns: [],
      timings: { totalMs: 40, agentMs: 0, overheadMs: 40, steps: [] },
    };
    const cancelled: CoordinationEvent = {
      type: 'coordination.finished',
      status: 'cancelled',
      result,
      id: 4,
      coordinationId: ID,
      time: '2026-12-01T00:00:01.000Z',
    };
    script = (_, response) => {
      response.writeHead(200, SSE_HEADERS);
      for (const event of [...events.slice(0, 3), cancelled]) response.write(sse(event));
      response.end();
    };
    const { io, stdout, stderr } = capture();
    expect(await watchCommand(ID, { api }, io), stderr()).toBe(1);
    expect(stderr()).toContain(`⊘ cancelled — ${cause}\n`);
    expect(stdout()).toContain('Mobius.CoordinationCancelled');
  });

  it('resumes after an error event of the API (5xx), and follows the run to its end', async () => {
    script = (request, response) => {
      response.writeHead(200, SSE_HEADERS);
      const after = Number(request.headers['last-event-id'] ?? 0);
      if (after === 0) {
        for (const event of events.slice(0, 2)) response.write(sse(event));
        response.end(
          errorEvent('INTERNAL', 'Internal error; quote request r-7 when reporting it.'),
        );
        return;
      }
      for (const event of events.filter((e) => e.id > after)) response.write(sse(event));
      response.end();
    };
    const { io, stderr } = capture();
    expect(await watchCommand(ID, { api }, io), stderr()).toBe(0);
    expect(requests.map((headers) => headers['last-event-id'])).toEqual([undefined, '2']);
    expect(stderr()).toContain('✔ narrator narrate');
    expect(stderr()).not.toContain('✘');
  });

  it('prints an error event the API ends the stream with for good (4xx), and what to do; exit 1', async () => {
    script = (_, response) => {
      response.writeHead(200, SSE_HEADERS);
      response.write(sse(events[0] as CoordinationEvent));
      response.end(errorEvent('FORBIDDEN', 'Only its owner may watch this coordination.'));
    };
    const { io, stderr } = capture();
    expect(await watchCommand(ID, { api }, io)).toBe(1);
    expect(requests).toHaveLength(1);
    expect(stderr()).toContain('✘ FORBIDDEN: Only its owner may watch this coordination.\n');
    expect(stderr()).toContain(`GET ${api}/coordinations/${ID} answers its status or result`);
  });

  it('says what to do when the API keeps no event log (503 EVENTS_NOT_CONFIGURED); exit 1', async () => {
    // Exactly what the route answers without an event log (its error, as the API maps it).
    const answer = await coordinationEventStream({
      events: undefined,
    } as unknown as ApiDependencies)({
      pathParameters: { id: ID },
      headers: {},
      queryStringParameters: null,
    } as unknown as ApiEvent).catch((error: unknown) => errorResponse(error, 'r-1'));
    expect(answer.statusCode).toBe(503);
    script = (_, response) => {
      response.writeHead(answer.statusCode, { 'content-type': 'application/json' });
      response.end((answer as { body: string }).body);
    };
    const { io, stderr } = capture();
    expect(await watchCommand(ID, { api }, io)).toBe(1);
    expect(requests).toHaveLength(1);
    expect(stderr()).toMatch(
      /✘ EVENTS_NOT_CONFIGURED: Live coordination events are not available here/,
    );
    expect(stderr()).toContain(
      'Watch runs of `mobius dev`, or of a stack deployed with the Mobius CDK construct',
    );
    expect(stderr()).toContain(`GET ${api}/coordinations/${ID}`);
  });
});

/** A loopback port nothing listens on. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}
