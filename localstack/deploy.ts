/**
 * Deploys the Mobius stack into a running LocalStack with cdklocal (bootstrap, then deploy) and
 * writes the stack outputs to localstack/outputs.json, adding `GatewayApiUrl`: the API on
 * LocalStack's gateway (`<endpoint>/_aws/execute-api/<id>/<stage>/`), which needs no DNS — the
 * `ApiUrl` CloudFormation reports names `<id>.execute-api.<host>`, which an offline machine
 * cannot resolve.
 *
 *   npx tsx localstack/deploy.ts      (AWS_ENDPOINT_URL defaults to http://127.0.0.1:4566)
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { API_TRANSFER_MODE_CONTEXT } from '../lib/api.ts';

const ROOT = join(import.meta.dirname, '..');
export const OUTPUTS_FILE = join(import.meta.dirname, 'outputs.json');
export const STACK_NAME = 'MobiusCoordinator';

/**
 * CDK context every LocalStack deployment gets. LocalStack 2026.3's API Gateway refuses the
 * response-streaming integration (PutIntegration: "Integrations of type 'AWS_PROXY' currently
 * only supports Lambda function and Firehose stream invocations" for the 2021-11-15
 * …/response-streaming-invocations URI, and it drops responseTransferMode), so the API's methods
 * keep buffered integrations; the same streaming API function answers through the host runtime,
 * which turns its streamed answer into the proxy result (localstack/plugins/…/runtime.mjs).
 */
export const LOCALSTACK_CONTEXT: Readonly<Record<string, string>> = {
  [API_TRANSFER_MODE_CONTEXT]: 'BUFFERED',
};

export interface StackOutputs {
  readonly ApiUrl: string;
  readonly GatewayApiUrl: string;
  readonly RegistryTableName: string;
  readonly EventsTableName: string;
  readonly EventBusName: string;
  readonly DashboardName: string;
  /** The region the stack was deployed into. */
  readonly Region: string;
  readonly [key: string]: string;
}

/** The environment cdklocal and every SDK client need to talk to LocalStack at `endpoint`. */
export function localStackEnvironment(endpoint: string, region: string): Record<string, string> {
  return {
    AWS_ACCESS_KEY_ID: 'test',
    AWS_SECRET_ACCESS_KEY: 'test',
    AWS_REGION: region,
    AWS_DEFAULT_REGION: region,
    AWS_ENDPOINT_URL: endpoint,
    // aws-cdk-local 3 refuses AWS_ENDPOINT_URL without an S3 endpoint of its own.
    AWS_ENDPOINT_URL_S3: endpoint,
    CDK_DISABLE_CLI_TELEMETRY: 'true',
  };
}

/** `https://<id>.execute-api.<host>/<stage>/` → `<endpoint>/_aws/execute-api/<id>/<stage>/`. */
export function gatewayApiUrl(apiUrl: string, endpoint: string): string {
  // A regular expression, not URL: LocalStack's host part (`<id>.execute-api.127.0.0.1:4566`)
  // ends in digits, which WHATWG URL parsing refuses as a malformed IPv4 address.
  const match = /^https?:\/\/([^./]+)\.execute-api\.[^/]+(\/.*)$/.exec(apiUrl);
  if (!match) throw new Error(`Not an API Gateway URL: ${apiUrl}`);
  const [, apiId, path] = match;
  return `${endpoint.replace(/\/$/, '')}/_aws/execute-api/${apiId}${path}`;
}

function cdklocal(args: string[], env: Record<string, string>): Promise<void> {
  return new Promise((resolve, reject) => {
    const bin = join(ROOT, 'node_modules', '.bin');
    const child = spawn(join(bin, 'cdklocal'), args, {
      cwd: ROOT,
      // The project's Node 22 first on PATH: cdklocal and the CDK app it runs start with `node`.
      env: { ...process.env, ...env, PATH: `${bin}${delimiter}${process.env.PATH ?? ''}` },
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    child.once('error', reject);
    child.once('exit', (code) =>
      code === 0 ? resolve() : reject(new Error(`cdklocal ${args[0]} exited with code ${code}`)),
    );
  });
}

/**
 * Bootstraps and deploys into LocalStack at `endpoint`, in `region` (default: AWS_REGION, else
 * us-east-1); returns the outputs (also on disk). The cloud assembly goes to a temporary folder,
 * so a deploy never disturbs a `cdk synth` of the same project.
 */
export async function deployToLocalStack(
  endpoint: string,
  options: {
    region?: string;
    /** CDK context for the app (`-c key=value`), e.g. `mobius:agents` for extra agents. */
    context?: Readonly<Record<string, string>>;
  } = {},
): Promise<StackOutputs> {
  const region = options.region ?? process.env.AWS_REGION ?? 'us-east-1';
  const env = localStackEnvironment(endpoint, region);
  const assembly = mkdtempSync(join(tmpdir(), 'mobius-cdklocal-'));
  try {
    await cdklocal(
      ['bootstrap', '--no-notices', '--progress', 'events', '--output', assembly],
      env,
    );
    await cdklocal(
      [
        'deploy',
        STACK_NAME,
        '--output',
        assembly,
        '--require-approval',
        'never',
        '--no-notices',
        '--progress',
        'events',
        '--outputs-file',
        OUTPUTS_FILE,
        ...Object.entries({ ...LOCALSTACK_CONTEXT, ...options.context }).flatMap(([key, value]) => [
          '-c',
          `${key}=${value}`,
        ]),
      ],
      env,
    );
  } finally {
    rmSync(assembly, { recursive: true, force: true });
  }
  const all = JSON.parse(readFileSync(OUTPUTS_FILE, 'utf8')) as Record<
    string,
    Record<string, string>
  >;
  const stack = all[STACK_NAME];
  if (!stack?.ApiUrl) throw new Error(`${OUTPUTS_FILE} has no ApiUrl for ${STACK_NAME}`);
  const outputs = {
    ...stack,
    GatewayApiUrl: gatewayApiUrl(stack.ApiUrl, endpoint),
    Region: region,
  } as StackOutputs;
  writeFileSync(OUTPUTS_FILE, `${JSON.stringify({ [STACK_NAME]: outputs }, null, 2)}\n`);
  return outputs;
}

if (process.argv[1] && import.meta.filename === process.argv[1]) {
  const endpoint = process.env.AWS_ENDPOINT_URL ?? 'http://127.0.0.1:4566';
  try {
    const health = await fetch(`${endpoint}/_localstack/health`);
    if (!health.ok) throw new Error(`answered ${health.status}`);
  } catch (error) {
    console.error(
      `LocalStack is not reachable at ${endpoint} (${error instanceof Error ? error.message : error}).\n` +
        'Start it with `npm run localstack` (no Docker) or `docker compose -f localstack/docker-compose.yml up -d`.',
    );
    process.exit(1);
  }
  const outputs = await deployToLocalStack(endpoint);
  console.log(
    `Deployed. API: ${outputs.GatewayApiUrl}\nOutputs in ${OUTPUTS_FILE}; run: npm run test:localstack`,
  );
}
