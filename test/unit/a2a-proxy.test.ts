import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createA2aProxy } from '../../functions/a2a/proxy.ts';
import type {
  A2aRemoteClient,
  RemoteStreamEvent,
  RemoteTask,
} from '../../functions/a2a/remote-client.ts';
import type { A2aEndpoint } from '../../functions/core/model/agent-card.ts';
import type { AgentRegistry } from '../../functions/core/registry/agent-registry.ts';
import { lambdaContext } from '../../functions/embedded/lambda-context.ts';

/**
 * The A2A proxy's own work on what a remote answers, with the remote client faked: how a stream's
 * events become the step's output.
 */
const ENDPOINT: A2aEndpoint = {
  url: 'https://agents.example.com/a2a',
  cardUrl: 'https://agents.example.com/.well-known/agent-card.json',
  streaming: true,
};

/** A registry that knows one imported agent, `remote`. */
const registry = {
  get: async () => ({ card: { endpoint: { a2a: ENDPOINT } } }),
} as unknown as AgentRegistry;

/** A client whose stream yields `events`, and whose other calls are not expected. */
function streamingClient(events: () => AsyncGenerator<RemoteStreamEvent>): A2aRemoteClient {
  return {
    stream: events,
    send: () => Promise.reject(new Error('SendMessage was not expected')),
  } as unknown as A2aRemoteClient;
}

/** A coordination step for the remote agent, as the state machine invokes the proxy with it. */
function task() {
  return {
    kind: 'mobius.task',
    coordinationId: randomUUID(),
    stepId: 'write',
    agentId: 'remote',
    pattern: 'sequential',
    input: { text: 'write at length' },
  };
}

const working = (id: string): RemoteTask => ({
  id,
  status: { state: 'TASK_STATE_WORKING' },
  artifacts: [],
});

describe('a streamed answer', () => {
  it('appends every artifact update to its artifact, each as it comes, however many there are', async () => {
    // One token per event, as LLM agents stream: 100 000 of them. Copying the parts so far on
    // every append (what the proxy did) is 5·10⁹ copies, close to a minute of CPU here; appending
    // in place takes about a tenth of a second. The bound sits a hundredfold above the second.
    const TOKENS = 100_000;
    const client = streamingClient(async function* () {
      yield { kind: 'task', task: working('t1') };
      for (let n = 0; n < TOKENS; n++)
        yield {
          kind: 'artifact',
          artifact: { artifactId: 'out', parts: [{ text: 't' }] },
          append: n > 0,
        };
      yield { kind: 'status', status: { state: 'TASK_STATE_COMPLETED' } };
    });
    const proxy = createA2aProxy({ registry, client, events: false });
    const started = performance.now();
    const result = (await proxy.handler(task(), lambdaContext('mobius-a2a-proxy'))) as {
      output: unknown;
    };
    const seconds = (performance.now() - started) / 1000;
    expect(result.output).toBe('t'.repeat(TOKENS));
    expect(seconds).toBeLessThan(10);
  }, 60_000);

  it('keeps artifacts in the order they first came, a replaced one in its place', async () => {
    const client = streamingClient(async function* () {
      yield {
        kind: 'task',
        task: {
          ...working('t2'),
          artifacts: [{ artifactId: 'a', name: 'a', parts: [{ text: 'x' }] }],
        },
      };
      yield {
        kind: 'artifact',
        artifact: { artifactId: 'b', name: 'b', parts: [{ text: 'b1' }] },
        append: false,
      };
      yield {
        kind: 'artifact',
        artifact: { artifactId: 'a', name: 'a', parts: [{ text: 'a1' }] },
        append: false,
      };
      yield {
        kind: 'artifact',
        artifact: { artifactId: 'b', name: 'b', parts: [{ text: 'b2' }] },
        append: true,
      };
      yield {
        kind: 'artifact',
        artifact: { artifactId: 'a', name: 'a', parts: [{ text: 'a2' }] },
        append: true,
      };
      yield { kind: 'status', status: { state: 'TASK_STATE_COMPLETED' } };
    });
    const proxy = createA2aProxy({ registry, client, events: false });
    const result = (await proxy.handler(task(), lambdaContext('mobius-a2a-proxy'))) as {
      output: unknown;
    };
    expect(result.output).toEqual({ a: 'a1a2', b: 'b1b2' });
    expect(Object.keys(result.output as object)).toEqual(['a', 'b']);
  });
});
