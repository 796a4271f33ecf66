import type { AddressInfo } from 'node:net';

/**
 * The embedded runtime's DynamoDB: dynalite, a pure-npm engine served in this process on
 * 127.0.0.1, so `npm start` needs nothing but Node. It lacks transactions, UpdateTimeToLive and
 * streams, which is why the registry never uses transactions (see registry/table.ts) and never
 * depends on TTL deletion: reads judge expiry themselves, and TTL and the stream are garbage
 * collection on AWS.
 */
export interface DynamoEngine {
  readonly endpoint: string;
  stop(): Promise<void>;
}

/** Credentials the local engines accept; they never leave this machine. */
export const LOCAL_CREDENTIALS = { accessKeyId: 'local', secretAccessKey: 'local' } as const;
export const LOCAL_REGION = 'us-east-1';

export async function startDynalite(): Promise<DynamoEngine> {
  const { default: dynalite } = await import('dynalite');
  const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    // Listening means serving: dynalite answers from the moment its socket is bound.
    endpoint: `http://127.0.0.1:${port}`,
    stop: () =>
      new Promise<void>((resolve, reject) =>
        server.close((error) => (error ? reject(error) : resolve())),
      ),
  };
}
