import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, waitUntil } from '../../functions/embedded/free-port.ts';

export interface MotoServer {
  readonly endpoint: string;
  readonly port: number;
  stop(): Promise<void>;
}

const PYTHON = join(import.meta.dirname, '..', '..', '.venv', 'bin', 'python');
/** moto's server with DynamoDB requests serialised, as DynamoDB's own item writes are (see there). */
const SERVER = join(import.meta.dirname, 'moto_server.py');

/**
 * Starts moto server on a free 127.0.0.1 port with Step Functions execution enabled. MOTO_PORT
 * tells moto's Step Functions where its sibling services (SQS) are.
 */
export async function startMoto(): Promise<MotoServer> {
  if (!existsSync(PYTHON)) {
    throw new Error(
      'moto is missing from .venv: run `npm test` (it installs requirements-dev.txt) or `node scripts/python-tools.ts`.',
    );
  }
  const port = await freePort();
  const child: ChildProcess = spawn(PYTHON, [SERVER, '-H', '127.0.0.1', '-p', String(port)], {
    env: { ...process.env, MOTO_PORT: String(port) },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const endpoint = `http://127.0.0.1:${port}`;
  try {
    await waitUntil('moto server', async () => {
      const response = await fetch(`${endpoint}/moto-api/config`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ stepfunctions: { execute_state_machine: true } }),
      });
      if (!response.ok) throw new Error(`moto config answered ${response.status}`);
    });
  } catch (error) {
    child.kill('SIGKILL');
    throw new Error(`moto server failed to start: ${stderr.trim() || String(error)}`, {
      cause: error,
    });
  }
  return {
    endpoint,
    port,
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}
