import type { AddressInfo } from 'node:net';
import { createSqsServer } from 'local-aws-sqs';

export interface SqsServer {
  readonly endpoint: string;
  stop(): Promise<void>;
}

/**
 * An SQS emulator in this process (local-aws-sqs, which speaks the JSON protocol current SDK v3
 * clients use) on a free 127.0.0.1 port. The router and the agent SDK talk to it through their
 * ordinary SQS clients.
 */
export async function startSqsServer(): Promise<SqsServer> {
  const server = await createSqsServer({
    port: 0,
    hostname: '127.0.0.1',
    region: 'us-east-1',
    accountId: '000000000000',
    // Local queues are created and dropped freely; AWS's 60 s name cool-down would only get in the way.
    emulateQueueCreationLifecycle: false,
  });
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    stop: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections?.();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
}
