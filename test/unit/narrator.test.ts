import { Logger } from '@aws-lambda-powertools/logger';
import {
  AccessDeniedException,
  BedrockRuntimeClient,
  BedrockRuntimeServiceException,
  ConverseStreamCommand,
  type ConverseStreamCommandOutput,
  type ConverseStreamOutput,
  ModelStreamErrorException,
  ThrottlingException,
  ValidationException,
} from '@aws-sdk/client-bedrock-runtime';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  createNarrator,
  DEFAULT_BEDROCK_MODEL_ID,
  type Narration,
  narrate,
  useBedrockClient,
} from '../../examples/agents/narrator.ts';
import { AGENT_ERROR_NAMES } from '../../functions/core/messaging/agent-errors.ts';
import type { AgentContext, AgentMessage } from '../../functions/core/sdk/define-agent.ts';

/**
 * The streaming example agent's own logic, called as the SDK calls it: its handler is an async
 * generator whose yields are the chunks and whose return value is the final output. Offline it is
 * deterministic; the Bedrock path runs against a mocked ConverseStream whose stream is an async
 * iterable of events, as the SDK delivers it.
 */
const context: AgentContext = {
  agentId: 'narrator',
  logger: new Logger({ logLevel: 'SILENT' }),
  remainingTimeMs: () => 30_000,
  // The narrator yields its chunks; it never calls stream().
  stream: () => Promise.reject(new Error('the narrator yields instead')),
};
const SUMMARY =
  'The circuit breaker opens after repeated failures. A half-open breaker lets one trial request through. SQS keeps dead letters for later.';
const narrator = createNarrator({ delayMs: 0 });

/** Runs the handler to its end: the chunks it yielded, in order, and what it returned. */
async function run(input: unknown): Promise<{ chunks: string[]; output: Narration }> {
  const message: AgentMessage = { kind: 'task', input };
  const generator = narrator.handler(message, context) as AsyncGenerator<string, Narration>;
  const chunks: string[] = [];
  for (;;) {
    const next = await generator.next();
    if (next.done) return { chunks, output: next.value };
    chunks.push(next.value);
  }
}

const bedrock = mockClient(BedrockRuntimeClient);

/** ConverseStream's answer: `events` delivered one by one, then `thrown` if given. */
function streamOf(
  events: ConverseStreamOutput[],
  thrown?: Error,
): Partial<ConverseStreamCommandOutput> {
  return {
    stream: (async function* () {
      for (const event of events) yield event;
      if (thrown) throw thrown;
    })(),
  };
}
const delta = (text: string): ConverseStreamOutput => ({
  contentBlockDelta: { contentBlockIndex: 0, delta: { text } },
});

beforeEach(() => {
  bedrock.reset();
  useBedrockClient(new BedrockRuntimeClient({ region: 'eu-west-1' }));
  vi.stubEnv('MOBIUS_BEDROCK_MODEL_ID', '');
});
afterEach(() => {
  useBedrockClient(undefined);
  vi.unstubAllEnvs();
});

describe('narrator, offline', () => {
  it('streams word by word, in order, and returns the joined chunks as its narration', async () => {
    const { chunks, output } = await run({ summary: SUMMARY, sentences: 3, of: 7 });
    expect(chunks.length).toBeGreaterThan(20);
    for (const chunk of chunks) expect(chunk).toMatch(/^\S+\s*$/);
    expect(chunks.join('')).toBe(output.narration);
    expect(output).toEqual({
      narration: narrate(SUMMARY),
      words: chunks.length,
      source: 'offline',
    });
    expect(output.narration).toMatch(/^Here is the story in brief; its key words are /);
    expect(output.narration).toContain(
      'It starts here: The circuit breaker opens after repeated failures. Next: A half-open breaker',
    );
    expect(output.narration).toContain('Beyond that: SQS keeps dead letters for later.');
    expect(bedrock.calls()).toHaveLength(0);
  });

  it('is deterministic: the same input reads the same, chunk for chunk', async () => {
    const first = await run(SUMMARY);
    const second = await run(SUMMARY);
    expect(second.chunks).toEqual(first.chunks);
    expect(
      (await run({ text: 'Something else entirely. Quite different.' })).output.narration,
    ).not.toBe(first.output.narration);
  });

  it('pauses before each word when paced, so a watcher sees the text arrive', async () => {
    vi.useFakeTimers();
    try {
      const paced = createNarrator({ delayMs: 10 }).handler(
        { kind: 'task', input: SUMMARY },
        context,
      ) as AsyncGenerator<string>;
      let settled = false;
      const first = paced.next().then((next) => {
        settled = true;
        return next;
      });
      await vi.advanceTimersByTimeAsync(9);
      expect(settled).toBe(false);
      await vi.advanceTimersByTimeAsync(1);
      expect((await first).value).toBe('Here ');
    } finally {
      vi.useRealTimers();
    }
  });

  it.each([
    ['an empty summary', { summary: '' }],
    ['a shape that is not prose', { scores: [1, 2, 3] }],
  ])('refuses %s, fatally and before any chunk', async (_, input) => {
    const generator = narrator.handler({ kind: 'task', input }, context) as AsyncGenerator<string>;
    await expect(generator.next()).rejects.toMatchObject({
      name: AGENT_ERROR_NAMES.fatal,
      message: expect.stringContaining('narrator needs text to narrate'),
    });
  });
});

describe('narrator, with Bedrock (MOBIUS_BEDROCK_MODEL_ID set)', () => {
  beforeEach(() => {
    vi.stubEnv('MOBIUS_BEDROCK_MODEL_ID', DEFAULT_BEDROCK_MODEL_ID);
  });

  it("yields ConverseStream's text deltas in order and returns them joined", async () => {
    bedrock
      .on(ConverseStreamCommand)
      .resolves(
        streamOf([
          { messageStart: { role: 'assistant' } },
          delta('A breaker '),
          delta('opens, '),
          { contentBlockDelta: { contentBlockIndex: 0, delta: { text: '' } } },
          delta('then it tries again.'),
          { messageStop: { stopReason: 'end_turn' } },
        ]) as ConverseStreamCommandOutput,
      );
    const { chunks, output } = await run({ summary: SUMMARY });
    expect(chunks).toEqual(['A breaker ', 'opens, ', 'then it tries again.']);
    expect(output).toEqual({
      narration: 'A breaker opens, then it tries again.',
      words: 7,
      source: `bedrock:${DEFAULT_BEDROCK_MODEL_ID}`,
    });
    const input = bedrock.commandCalls(ConverseStreamCommand)[0]?.args[0].input;
    expect(input?.modelId).toBe(DEFAULT_BEDROCK_MODEL_ID);
    expect(JSON.stringify(input?.messages)).toContain('half-open breaker');
  });

  it('makes throttling retryable, whether the call or the stream is throttled', async () => {
    const throttled = new ThrottlingException({ message: 'slow down', $metadata: {} });
    bedrock.on(ConverseStreamCommand).rejectsOnce(throttled);
    await expect(run(SUMMARY)).rejects.toMatchObject({
      name: AGENT_ERROR_NAMES.retryable,
      message: expect.stringContaining('ThrottlingException'),
    });
    bedrock
      .on(ConverseStreamCommand)
      .resolves(
        streamOf([
          delta('Half a '),
          { throttlingException: throttled },
        ]) as ConverseStreamCommandOutput,
      );
    await expect(run(SUMMARY)).rejects.toMatchObject({ name: AGENT_ERROR_NAMES.retryable });
  });

  it('makes a stream the model broke off retryable, and a refused request fatal', async () => {
    bedrock
      .on(ConverseStreamCommand)
      .resolvesOnce(
        streamOf(
          [delta('Half a ')],
          new ModelStreamErrorException({ message: 'stream broke', $metadata: {} }),
        ) as ConverseStreamCommandOutput,
      )
      .rejectsOnce(new AccessDeniedException({ message: 'no model access', $metadata: {} }));
    await expect(run(SUMMARY)).rejects.toMatchObject({ name: AGENT_ERROR_NAMES.retryable });
    await expect(run(SUMMARY)).rejects.toMatchObject({
      name: AGENT_ERROR_NAMES.fatal,
      message: expect.stringContaining('no model access'),
    });
  });
});

describe('narrator, with Bedrock: what the network and the SDK throw', () => {
  beforeEach(() => {
    vi.stubEnv('MOBIUS_BEDROCK_MODEL_ID', DEFAULT_BEDROCK_MODEL_ID);
  });

  /** A socket error as Node's HTTP client reports it, and as the SDK passes it on. */
  const socketError = (code: string, message: string) =>
    Object.assign(new Error(message), { code, syscall: 'read' });
  /** An error the SDK does not model, as it builds one from the HTTP answer. */
  const unmodelled = (status: number, fault: 'client' | 'server') =>
    new BedrockRuntimeServiceException({
      name: 'UnknownError',
      message: `answered ${status}`,
      $fault: fault,
      $metadata: { httpStatusCode: status },
    });

  it.each([
    ['a connection reset by the peer', socketError('ECONNRESET', 'read ECONNRESET')],
    ['a connection refused', socketError('ECONNREFUSED', 'connect ECONNREFUSED 52.1.2.3:443')],
    ['a connection that timed out', socketError('ETIMEDOUT', 'connect ETIMEDOUT 52.1.2.3:443')],
    [
      "the SDK's own timeout (TimeoutError)",
      Object.assign(new Error('Connection timed out after 1000 ms'), { name: 'TimeoutError' }),
    ],
    [
      'an exception the model marks retryable ($retryable)',
      Object.assign(unmodelled(400, 'client'), { name: 'SomethingBusyException', $retryable: {} }),
    ],
    ['a 502 the SDK does not model ($metadata.httpStatusCode)', unmodelled(502, 'server')],
    [
      'a 503 from a proxy on the way, with no fault recorded',
      Object.assign(new Error('Service Unavailable'), { $metadata: { httpStatusCode: 503 } }),
    ],
    [
      'a socket reset wrapped in another error (cause)',
      new Error('request failed', { cause: socketError('ECONNRESET', 'socket hang up') }),
    ],
  ])('makes %s retryable, not a refused request', async (_, thrown) => {
    bedrock.on(ConverseStreamCommand).rejectsOnce(thrown);
    const failure = (await run(SUMMARY).then(
      () => new Error('the narrator did not fail'),
      (error: unknown) => error,
    )) as Error;
    expect(failure).toMatchObject({
      name: AGENT_ERROR_NAMES.retryable,
      message: expect.stringContaining('Bedrock could not answer now'),
    });
    expect(failure.message).not.toContain('refused');
  });

  it('makes a connection reset in the middle of the stream retryable', async () => {
    bedrock
      .on(ConverseStreamCommand)
      .resolves(
        streamOf(
          [delta('Half a ')],
          socketError('ECONNRESET', 'aborted'),
        ) as ConverseStreamCommandOutput,
      );
    await expect(run(SUMMARY)).rejects.toMatchObject({ name: AGENT_ERROR_NAMES.retryable });
  });

  it.each([
    [
      'a request the model refuses (ValidationException, 400)',
      new ValidationException({ message: 'too many tokens', $metadata: { httpStatusCode: 400 } }),
    ],
    ['a 4xx the SDK does not model', unmodelled(404, 'client')],
    ['a plain error with no sign of the network', new Error('unexpected')],
  ])('still makes %s fatal', async (_, thrown) => {
    bedrock.on(ConverseStreamCommand).rejectsOnce(thrown);
    await expect(run(SUMMARY)).rejects.toMatchObject({
      name: AGENT_ERROR_NAMES.fatal,
      message: expect.stringContaining('Bedrock refused the request'),
    });
  });
});
