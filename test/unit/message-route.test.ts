import type { APIGatewayProxyEvent } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import type { ApiDependencies } from '../../functions/api/dependencies.ts';
import { isStreaming } from '../../functions/api/http.ts';
import { sendMessage } from '../../functions/api/routes/messages.ts';
import type { StreamedReply } from '../../functions/core/messaging/direct.ts';

/**
 * POST /messages with streaming, at the route: what happens to the agent's reply when the client
 * is gone before its stream has begun (it left during the wait for the agent's first frame).
 */
describe('a streamed message whose client left before the stream began', () => {
  it('closes the agent’s reply (its timer, its breaker outcome) and aborts the invocation', async () => {
    let closed = false;
    let invocationAborted = false;
    const frames = (async function* (): AsyncGenerator<StreamedReply> {
      try {
        yield { chunk: { seq: 0, text: 'a' } };
        yield { chunk: { seq: 1, text: 'b' } };
      } finally {
        closed = true;
      }
    })();
    const deps = {
      router: {
        requestStream: async (_message: unknown, options: { signal?: AbortSignal }) => {
          options.signal?.addEventListener('abort', () => {
            invocationAborted = true;
          });
          return { agentId: 'w', messageId: 'm', frames };
        },
      },
    } as unknown as ApiDependencies;
    const event = {
      httpMethod: 'POST',
      path: '/messages',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ to: 'w', payload: {}, stream: true }),
      isBase64Encoded: false,
      requestContext: { requestId: 'r-1' },
    } as unknown as APIGatewayProxyEvent;
    const result = await sendMessage(deps, { firstFrameWaitMs: 1_000 })(event);
    if (!isStreaming(result)) throw new Error('expected a streamed answer');
    // The server found its client gone: it stops the body without ever reading from it.
    await result.stream[Symbol.asyncIterator]().return?.(undefined);
    await new Promise((resolve) => setImmediate(resolve));
    expect(invocationAborted).toBe(true);
    expect(closed).toBe(true);
  });
});
