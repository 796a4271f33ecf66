import { InvokeCommand, InvokeWithResponseStreamCommand } from '@aws-sdk/client-lambda';
import { describe, expect, it } from 'vitest';
import { openApi } from '../../functions/cli/signed-fetch.ts';
import { createMessage, serialize } from '../../functions/core/messaging/envelope.ts';
import type { CoordinationEvent } from '../../functions/core/streaming/events.ts';
import { readFrames } from '../../functions/core/streaming/frames.ts';
import { type ReceivedSse, readSse } from '../../functions/core/streaming/sse.ts';
import {
  type AgentView,
  agent,
  api,
  type CoordinationResult,
  coordinate,
  eventually,
  lambda,
  outputs,
} from './support.ts';

/**
 * Streaming on the deployed stack: the streaming test agent (test/localstack/agents/streamer.ts,
 * deployed with `streaming: true`) answers `POST /messages` with `"stream": true` in chunks, and
 * agents, the API and the outcome recorder write each coordination's live events into the
 * deployed events table, which `GET /coordinations/{id}/events` replays.
 *
 * What LocalStack 2026.3 does differently from AWS (docs/localstack.md): its API
 * Gateway takes buffered integrations only, so the stack is deployed with
 * `mobius:apiTransferMode=BUFFERED` and an SSE answer arrives whole when the API function ends,
 * not event by event; and its Lambda has no InvokeWithResponseStream, so the router invokes an
 * agent's streaming function with Invoke and reads the frames from the whole payload.
 */
const TEXT = 'Chunks travel in order from the agent to whoever watches';
const WORDS = TEXT.match(/\S+\s*/g) ?? [];

/** An SSE answer read to its end, within `timeoutMs` (the answer arrives whole on LocalStack). */
async function sse(
  method: 'GET' | 'POST',
  path: string,
  body?: unknown,
  { timeoutMs = 90_000, headers = {} as Record<string, string> } = {},
): Promise<{ status: number; contentType: string | null; events: ReceivedSse[] }> {
  const response = await openApi(outputs.GatewayApiUrl, method, path, body, {
    headers: { accept: 'text/event-stream', ...headers },
    signal: AbortSignal.timeout(timeoutMs),
  });
  const events: ReceivedSse[] = [];
  if (response.body !== null)
    for await (const event of readSse(response.body as unknown as AsyncIterable<Uint8Array>))
      events.push(event);
  return { status: response.status, contentType: response.headers.get('content-type'), events };
}

const dataOf = (events: readonly ReceivedSse[]) => events.map((e) => e.data as CoordinationEvent);

/** What a coordination's log must show of the streamer's step: its chunks, in order, whole. */
function expectStreamedStep(events: readonly CoordinationEvent[], stepId: string): void {
  const chunks = events.filter(
    (e): e is Extract<CoordinationEvent, { type: 'step.chunk' }> =>
      e.type === 'step.chunk' && e.stepId === stepId,
  );
  expect(chunks.map((e) => e.agentId)).toEqual(WORDS.map(() => 'streamer'));
  expect(chunks.map((e) => e.chunk.seq)).toEqual(WORDS.map((_, i) => i));
  expect(chunks.map((e) => ('text' in e.chunk ? e.chunk.text : ''))).toEqual(WORDS);
  const types = events.filter((e) => 'stepId' in e && e.stepId === stepId).map((e) => e.type);
  expect(types[0]).toBe('step.started');
  expect(types.at(-1)).toBe('step.succeeded');
}

describe('the streaming agent as deployed', () => {
  it('has a response-streaming function, named in its card, beside its main one', async () => {
    const view: AgentView & { card: { endpoint: { streamArn?: string } } } =
      await agent('streamer');
    expect(view.status).toBe('healthy');
    const { lambdaArn, streamArn } = view.card.endpoint;
    expect(streamArn).toMatch(/^arn:aws:lambda:[a-z0-9-]+:\d{12}:function:/);
    expect(streamArn).not.toBe(lambdaArn);
  });

  it('is invoked with Invoke by the router: LocalStack has no InvokeWithResponseStream (501)', async () => {
    const { card } = (await agent('streamer')) as AgentView & {
      card: { endpoint: { streamArn: string } };
    };
    const envelope = serialize(
      createMessage({ from: 'api', to: 'streamer', type: 'request', payload: { text: TEXT } }),
    );
    // What the router's fallback rests on: the exact answer LocalStack gives the streaming API.
    const refused = await lambda
      .send(
        new InvokeWithResponseStreamCommand({
          FunctionName: card.endpoint.streamArn,
          Payload: Buffer.from(envelope),
        }),
      )
      .then(
        () => undefined,
        (error: { name: string; $metadata?: { httpStatusCode?: number } }) => error,
      );
    expect(refused?.name).toBe('InternalFailure');
    expect(refused?.$metadata?.httpStatusCode).toBe(501);
    // Invoke answers with the stream the function wrote, whole: its NDJSON frames.
    const invoked = await lambda.send(
      new InvokeCommand({
        FunctionName: card.endpoint.streamArn,
        Payload: Buffer.from(envelope),
      }),
    );
    expect(invoked.FunctionError).toBeUndefined();
    const frames = [];
    const payload = async function* () {
      yield new Uint8Array(invoked.Payload ?? []);
    };
    for await (const frame of readFrames('streamer', payload())) frames.push(frame);
    expect(frames.filter((f) => 'chunk' in f)).toHaveLength(WORDS.length);
    expect(frames.at(-1)).toMatchObject({ response: { from: 'streamer' } });
  });
});

describe('POST /messages with "stream": true', () => {
  it('answers with SSE: the agent’s chunks in order, then its response', async () => {
    const { status, contentType, events } = await sse('POST', '/messages', {
      to: 'streamer',
      payload: { text: TEXT },
      stream: true,
      timeout: 60,
    });
    expect(status, JSON.stringify(events)).toBe(200);
    expect(contentType).toMatch(/^text\/event-stream/);
    const chunks = events.filter((e) => e.event === 'chunk');
    expect(chunks.map((e) => e.data)).toEqual(WORDS.map((text, seq) => ({ seq, text })));
    expect(chunks.map((e) => e.id)).toEqual(WORDS.map((_, seq) => String(seq)));
    expect(events.at(-1)).toMatchObject({
      event: 'response',
      data: { type: 'response', from: 'streamer', payload: { words: WORDS.length } },
    });
    expect(events.filter((e) => e.event === 'response')).toHaveLength(1);
  });

  it('refuses a stream from an unknown agent with a plain JSON error, as without streaming', async () => {
    const { status, body } = await api('POST', '/messages', {
      to: 'nobody-streams-here',
      payload: {},
      stream: true,
    });
    expect(status).toBe(404);
    expect(body).toMatchObject({ error: { code: 'NOT_FOUND' } });
  });
});

describe('a coordination’s live events', () => {
  const request = {
    pattern: 'sequential',
    steps: [
      { id: 'words', agent: 'streamer' },
      { id: 'keywords', agent: 'keyword-extractor' },
    ],
    payload: { text: TEXT },
    timeout: 60,
  };

  it('replays an express run from the start: started, the agents’ steps and chunks, finished', async () => {
    const { status, result } = await coordinate(request);
    expect(status, JSON.stringify(result)).toBe(200);
    expect(result.status).toBe('succeeded');
    const answer = await sse('GET', `/coordinations/${result.coordinationId}/events`);
    expect(answer.status, JSON.stringify(answer.events)).toBe(200);
    expect(answer.contentType).toMatch(/^text\/event-stream/);
    const events = dataOf(answer.events);
    // SSE event name and id are the event's type and id; ids run 1, 2, 3… with no gap.
    expect(answer.events.map((e) => e.event)).toEqual(events.map((e) => e.type));
    expect(answer.events.map((e) => e.id)).toEqual(events.map((e) => String(e.id)));
    expect(events.map((e) => e.id)).toEqual(events.map((_, i) => i + 1));
    expect(events[0]).toMatchObject({
      type: 'coordination.started',
      coordinationId: result.coordinationId,
      mode: 'express',
      steps: [
        { stepId: 'words', agentId: 'streamer' },
        { stepId: 'keywords', agentId: 'keyword-extractor' },
      ],
    });
    // Written by the agents' Lambdas into the deployed events table while Step Functions ran them.
    expectStreamedStep(events, 'words');
    expect(events.filter((e) => e.type === 'step.succeeded').map((e) => e.stepId)).toEqual([
      'words',
      'keywords',
    ]);
    expect(events.at(-1)).toMatchObject({
      type: 'coordination.finished',
      status: 'succeeded',
      result: { coordinationId: result.coordinationId, status: 'succeeded' },
    });
    expect(events.filter((e) => e.type === 'coordination.finished')).toHaveLength(1);

    // Resuming after an event replays only what came after it.
    const after = events[2]?.id ?? 0;
    const resumed = await sse('GET', `/coordinations/${result.coordinationId}/events`, undefined, {
      headers: { 'last-event-id': String(after) },
    });
    expect(dataOf(resumed.events).map((e) => e.id)).toEqual(
      events.filter((e) => e.id > after).map((e) => e.id),
    );
  });

  // The fan-out patterns run their steps in a Map, the pipeline hands each output on: the agents
  // write their events from inside each the same way (hierarchical runs the same SDK path; it is
  // covered on the embedded runtime, test/integration/live-coordinations.test.ts).
  for (const [pattern, extra] of [
    ['pipeline', [{ id: 'again', agent: 'streamer' }]],
    ['parallel', [{ id: 'keywords', agent: 'keyword-extractor' }]],
    ['scatter_gather', [{ id: 'keywords', agent: 'keyword-extractor' }]],
  ] as const) {
    it(`streams a ${pattern} step's chunks into the run's events`, async () => {
      const { status, result } = await coordinate({
        pattern,
        steps: [{ id: 'words', agent: 'streamer' }, ...extra],
        payload: { text: TEXT },
        timeout: 60,
      });
      expect(status, JSON.stringify(result)).toBe(200);
      expect(result.status).toBe('succeeded');
      const answer = await sse('GET', `/coordinations/${result.coordinationId}/events`);
      const events = dataOf(answer.events);
      expect(events[0]).toMatchObject({ type: 'coordination.started', pattern });
      expectStreamedStep(events, 'words');
      expect(events.at(-1)).toMatchObject({ type: 'coordination.finished', status: 'succeeded' });
    });
  }

  it('streams a run it starts (POST /coordinations, Accept: text/event-stream) until it finishes', async () => {
    const answer = await sse('POST', '/coordinations', request);
    expect(answer.status, JSON.stringify(answer.events)).toBe(200);
    const events = dataOf(answer.events);
    expect(events[0]?.type).toBe('coordination.started');
    expectStreamedStep(events, 'words');
    expect(events.at(-1)).toMatchObject({ type: 'coordination.finished', status: 'succeeded' });
  });

  it('ends a standard run’s events with coordination.finished, appended by the outcome recorder', async () => {
    const { status, body } = await api<{ coordinationId: string; status: string }>(
      'POST',
      '/coordinations',
      // Through SQS task tokens: more than the express run's 60 s on a loaded machine.
      { ...request, mode: 'standard', timeout: 120 },
    );
    expect(status).toBe(202);
    const done = await eventually(
      'the standard coordination to finish',
      async () => {
        const poll = await api<CoordinationResult>('GET', `/coordinations/${body.coordinationId}`);
        return poll.body.status === 'running' ? undefined : poll.body;
      },
      { timeoutMs: 150_000, intervalMs: 1_000 },
    );
    expect(done.status, JSON.stringify(done.errors)).toBe('succeeded');
    // Step Functions' status change reaches the recorder through EventBridge within seconds; the
    // route follows the log until coordination.finished, and the request gives up after 60 s.
    const answer = await sse('GET', `/coordinations/${body.coordinationId}/events`, undefined, {
      timeoutMs: 60_000,
    });
    const events = dataOf(answer.events);
    expect(events[0]).toMatchObject({ type: 'coordination.started', mode: 'standard' });
    expectStreamedStep(events, 'words');
    expect(events.at(-1)).toMatchObject({
      type: 'coordination.finished',
      status: 'succeeded',
      result: { coordinationId: body.coordinationId, mode: 'standard', status: 'succeeded' },
    });
  }, 240_000);
});
