/**
 * LocalStack on this machine without Docker: installs localstack-core and the project's plugins
 * (localstack/plugins) into .localstack/venv, then runs LocalStack as a host process on a
 * 127.0.0.1 port with the settings the Mobius stack needs. The test suite uses it
 * (test/localstack/global-setup.ts); `npm run localstack` starts it for a person.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
} from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, waitUntil } from '../functions/embedded/free-port.ts';
import { ensureVirtualenv } from '../scripts/python-venv.ts';

const HERE = import.meta.dirname;
export const PROJECT_ROOT = join(HERE, '..');
const STATE_DIR = join(PROJECT_ROOT, '.localstack');
const VENV = join(STATE_DIR, 'venv');
const REQUIREMENTS = join(HERE, 'requirements.txt');
const PLUGINS = join(HERE, 'plugins');

/** What the stack deploys, plus what `cdklocal bootstrap` needs. */
const SERVICES = [
  'apigateway',
  'cloudformation',
  'cloudwatch',
  'dynamodb',
  'dynamodbstreams',
  'events',
  'iam',
  'lambda',
  'logs',
  's3',
  'sqs',
  'ssm',
  'stepfunctions',
  'sts',
];

const MINIMUM_PYTHON: readonly [number, number] = [3, 13];

function pythonVersion(binary: string): [number, number] | undefined {
  const result = spawnSync(binary, ['-c', 'import sys; print(*sys.version_info[:2])'], {
    encoding: 'utf8',
  });
  if (result.status !== 0) return undefined;
  const [major, minor] = result.stdout.trim().split(' ').map(Number);
  return major === undefined || minor === undefined ? undefined : [major, minor];
}

function recentEnough(version: [number, number] | undefined): boolean {
  if (!version) return false;
  return (
    version[0] > MINIMUM_PYTHON[0] ||
    (version[0] === MINIMUM_PYTHON[0] && version[1] >= MINIMUM_PYTHON[1])
  );
}

/**
 * A Python for LocalStack: $MOBIUS_LOCALSTACK_PYTHON, then python3.13+ on PATH, then pyenv's
 * versions. localstack-core 2026.3 imports `warnings.deprecated`, which Python 3.12 lacks.
 */
export function findPython(): string {
  const explicit = process.env.MOBIUS_LOCALSTACK_PYTHON;
  if (explicit) {
    if (recentEnough(pythonVersion(explicit))) return explicit;
    throw new Error(`MOBIUS_LOCALSTACK_PYTHON=${explicit} is not Python 3.13 or newer.`);
  }
  const candidates = ['python3.14', 'python3.13', 'python3'];
  const pyenvRoot = process.env.PYENV_ROOT ?? join(homedir(), '.pyenv');
  const versions = join(pyenvRoot, 'versions');
  if (existsSync(versions)) {
    for (const version of readdirSync(versions).sort().reverse())
      candidates.push(join(versions, version, 'bin', 'python3'));
  }
  const found = candidates.find((candidate) => recentEnough(pythonVersion(candidate)));
  if (found) return found;
  throw new Error(
    'LocalStack needs Python 3.13 or newer: install it (e.g. `pyenv install 3.13`) or point ' +
      'MOBIUS_LOCALSTACK_PYTHON at one.',
  );
}

/** Hash of everything the virtualenv is built from: the pins and the plugins' sources. */
function requirementsDigest(): string {
  const hash = createHash('sha256').update(readFileSync(REQUIREMENTS));
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) =>
      a.name.localeCompare(b.name),
    )) {
      if (
        entry.name === '__pycache__' ||
        entry.name === 'build' ||
        entry.name.endsWith('.egg-info')
      )
        continue;
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else hash.update(entry.name).update(readFileSync(path));
    }
  };
  walk(PLUGINS);
  return hash.digest('hex');
}

/**
 * Makes sure .localstack/venv holds localstack-core and the plugins as requirements.txt says.
 * A no-op when nothing changed since the last install.
 */
export function ensureLocalStackInstalled(log: (line: string) => void = console.log): void {
  const installed = ensureVirtualenv({
    venv: VENV,
    digest: requirementsDigest(),
    python: () => {
      const python = findPython();
      log(
        `LocalStack: installing localstack-core and the project's plugins into ${VENV} (${python})`,
      );
      return python;
    },
    installs: [
      ['-r', REQUIREMENTS],
      // Same version, new sources: reinstall the plugins themselves every time they change.
      ['--force-reinstall', '--no-deps', './plugins'],
    ],
    cwd: HERE,
    hint: 'LocalStack needs Python 3.13 or newer with venv support (MOBIUS_LOCALSTACK_PYTHON names one).',
    log,
  });
  if (!installed) return;
  // setuptools leaves its build folders beside the sources.
  rmSync(join(PLUGINS, 'build'), { recursive: true, force: true });
  for (const entry of readdirSync(PLUGINS))
    if (entry.endsWith('.egg-info')) rmSync(join(PLUGINS, entry), { recursive: true, force: true });
}

export interface RunningLocalStack {
  /** http://127.0.0.1:<port> — the gateway every service and the API answer on. */
  readonly endpoint: string;
  readonly pid: number;
  readonly logFile: string;
  stop(): Promise<void>;
}

/**
 * A node_modules folder holding only what the Lambda runtime provides (the AWS SDK v3 packages),
 * as links to the project's: the packages' own dependencies still resolve from their real paths.
 */
function runtimeModules(root: string): string {
  const modules = join(root, 'runtime', 'node_modules');
  mkdirSync(modules, { recursive: true });
  for (const scope of ['@aws-sdk', '@smithy'])
    symlinkSync(join(PROJECT_ROOT, 'node_modules', scope), join(modules, scope), 'dir');
  return modules;
}

/** The Node.js binary Lambda functions run on: the project's Node 22 (the `node` dev dependency). */
function lambdaNode(): string {
  const local = join(PROJECT_ROOT, 'node_modules', '.bin', 'node');
  return existsSync(local) ? local : process.execPath;
}

/**
 * Starts LocalStack on a free 127.0.0.1 port (or `port`) and waits until every service the stack
 * uses is available. Its state lives in a temporary folder that stop() removes; its log goes to
 * .localstack/localstack.log.
 */
export async function startLocalStack(options: { port?: number } = {}): Promise<RunningLocalStack> {
  const port = options.port ?? (await freePort());
  const root = mkdtempSync(join(tmpdir(), 'mobius-localstack-'));
  // LocalStack unzips function code under the temp folder, not FILESYSTEM_ROOT: both in `root`,
  // which stop() removes.
  const temp = join(root, 'tmp');
  mkdirSync(temp);
  mkdirSync(STATE_DIR, { recursive: true });
  const logFile = join(STATE_DIR, 'localstack.log');
  const log = openSync(logFile, 'w');
  const gateway = `127.0.0.1:${port}`;
  const child: ChildProcess = spawn(
    join(VENV, 'bin', 'python'),
    ['-m', 'localstack.runtime.main'],
    {
      cwd: root,
      stdio: ['ignore', log, log],
      env: {
        ...process.env,
        TMPDIR: temp,
        // The machines carry Docker's marker file at /; without this LocalStack thinks it runs in a
        // container and ignores FILESYSTEM_ROOT.
        OVERRIDE_IN_DOCKER: '0',
        FILESYSTEM_ROOT: root,
        GATEWAY_LISTEN: gateway,
        LOCALSTACK_HOST: gateway,
        // Queue URLs on the gateway (http://127.0.0.1:<port>/<account>/<queue>), no DNS needed.
        SQS_ENDPOINT_STRATEGY: 'off',
        DNS_ADDRESS: '0',
        SKIP_SSL_CERT_DOWNLOAD: '1',
        DISABLE_EVENTS: '1',
        SERVICES: SERVICES.join(','),
        // The project's plugins (localstack/plugins): Lambda functions as host processes on Node 22,
        // DynamoDB and its streams served by moto.
        LAMBDA_RUNTIME_EXECUTOR: 'mobius-host',
        MOBIUS_LAMBDA_NODE: lambdaNode(),
        // What the nodejs22.x runtime provides every function (the AWS SDK v3, which the bundles
        // leave out): the project's copy of it, and nothing else, so that a bundle missing
        // anything but the SDK fails here as it would on Lambda.
        MOBIUS_LAMBDA_RUNTIME_MODULES: runtimeModules(root),
        PROVIDER_OVERRIDE_DYNAMODB: 'moto',
        PROVIDER_OVERRIDE_DYNAMODBSTREAMS: 'moto',
        // The functions are arm64 on AWS but plain JavaScript: run them on the host's architecture.
        LAMBDA_IGNORE_ARCHITECTURE: '1',
      },
    },
  );
  closeSync(log); // the child has its own copy of the descriptor
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  const endpoint = `http://${gateway}`;
  const stop = async () => {
    process.off('exit', killOnExit);
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(root, { recursive: true, force: true });
  };
  try {
    await waitUntil(
      'LocalStack',
      async () => {
        if (child.exitCode !== null)
          throw new Error(`LocalStack exited with code ${child.exitCode}`);
        const response = await fetch(`${endpoint}/_localstack/health`);
        const { services } = (await response.json()) as { services: Record<string, string> };
        const missing = SERVICES.filter(
          (s) => !['available', 'running'].includes(services[s] ?? ''),
        );
        if (missing.length > 0) throw new Error(`not available yet: ${missing.join(', ')}`);
      },
      { timeoutMs: 120_000, intervalMs: 250 },
    );
  } catch (error) {
    await stop();
    const tail = existsSync(logFile) ? readFileSync(logFile, 'utf8').slice(-2_000) : '';
    throw new Error(`LocalStack failed to start (log: ${logFile}):\n${tail}`, { cause: error });
  }
  if (child.pid === undefined) throw new Error('LocalStack has no PID');
  return { endpoint, pid: child.pid, logFile, stop };
}

/** `npm run localstack`: install if needed, start, print the endpoint, stop on Ctrl-C. */
if (process.argv[1] && import.meta.filename === process.argv[1]) {
  ensureLocalStackInstalled();
  const port = Number(process.env.LOCALSTACK_PORT ?? 4566);
  const localstack = await startLocalStack({ port });
  console.log(
    `LocalStack ready at ${localstack.endpoint} (PID ${localstack.pid}; log ${localstack.logFile}).\n` +
      `Deploy with:  AWS_ENDPOINT_URL=${localstack.endpoint} localstack/deploy.sh\nCtrl-C stops it.`,
  );
  for (const signal of ['SIGINT', 'SIGTERM'] as const)
    process.once(signal, () => {
      localstack.stop().then(() => process.exit(0));
    });
}
