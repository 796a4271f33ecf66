import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { DynamoDBClient, ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { freePort, waitUntil } from './free-port.ts';

/**
 * A DynamoDB-compatible engine on 127.0.0.1 for the embedded runtime and the tests:
 * - `dynamodb-local`: AWS's own engine (DynamoDB Local), shipped as a jar inside the npm package
 *   amplify-dynamodb-simulator and run with the machine's Java;
 * - `dynalite`: a pure-npm engine for machines without Java. It lacks transactions and
 *   UpdateTimeToLive, which is why the registry never uses transactions (see registry/table.ts).
 */
export type DynamoEngineKind = 'dynamodb-local' | 'dynalite';

export interface DynamoEngine {
  readonly kind: DynamoEngineKind;
  readonly endpoint: string;
  stop(): Promise<void>;
}

/** Credentials the local engines accept; they never leave this machine. */
export const LOCAL_CREDENTIALS = { accessKeyId: 'local', secretAccessKey: 'local' } as const;
export const LOCAL_REGION = 'us-east-1';

const require = createRequire(import.meta.url);

export function javaAvailable(): boolean {
  return spawnSync('java', ['-version'], { stdio: 'ignore' }).status === 0;
}

function dynamoDbLocalJarDir(): string {
  const packageJson = require.resolve('amplify-dynamodb-simulator/package.json');
  const dir = join(dirname(packageJson), 'emulator');
  if (!existsSync(join(dir, 'DynamoDBLocal.jar'))) {
    throw new Error(`DynamoDBLocal.jar not found in ${dir}; reinstall with "npm install"`);
  }
  return dir;
}

async function waitReady(endpoint: string): Promise<void> {
  const client = new DynamoDBClient({
    endpoint,
    region: LOCAL_REGION,
    credentials: LOCAL_CREDENTIALS,
    maxAttempts: 1,
  });
  try {
    await waitUntil(`DynamoDB engine at ${endpoint}`, () =>
      client.send(new ListTablesCommand({ Limit: 1 })),
    );
  } finally {
    client.destroy();
  }
}

export async function startDynamoDbLocal(): Promise<DynamoEngine> {
  const dir = dynamoDbLocalJarDir();
  const port = await freePort();
  const child: ChildProcess = spawn(
    'java',
    [
      `-Djava.library.path=${join(dir, 'DynamoDBLocal_lib')}`,
      '-jar',
      join(dir, 'DynamoDBLocal.jar'),
      '-inMemory',
      '-sharedDb',
      '-port',
      String(port),
    ],
    // DynamoDB Local writes a metadata file into its working directory: keep it out of the project.
    { stdio: ['ignore', 'ignore', 'pipe'], cwd: tmpdir() },
  );
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  const endpoint = `http://127.0.0.1:${port}`;
  try {
    await waitReady(endpoint);
  } catch (error) {
    child.kill('SIGKILL');
    throw new Error(`DynamoDB Local failed to start: ${stderr.trim() || String(error)}`, {
      cause: error,
    });
  }
  return {
    kind: 'dynamodb-local',
    endpoint,
    async stop() {
      process.off('exit', killOnExit);
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

export async function startDynalite(): Promise<DynamoEngine> {
  const { default: dynalite } = await import('dynalite');
  const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const endpoint = `http://127.0.0.1:${port}`;
  await waitReady(endpoint);
  return {
    kind: 'dynalite',
    endpoint,
    stop: () =>
      new Promise<void>((resolve, reject) =>
        server.close((error) => (error ? reject(error) : resolve())),
      ),
  };
}

/** DynamoDB Local when Java is present, dynalite otherwise (or as `prefer` says). */
export function startDynamoEngine(prefer?: DynamoEngineKind): Promise<DynamoEngine> {
  const kind = prefer ?? (javaAvailable() ? 'dynamodb-local' : 'dynalite');
  return kind === 'dynamodb-local' ? startDynamoDbLocal() : startDynalite();
}
