import type { TestProject } from 'vitest/node';
import { deployToLocalStack, type StackOutputs } from '../../localstack/deploy.ts';
import { ensureLocalStackInstalled, startLocalStack } from '../../localstack/host.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    /** The LocalStack gateway the stack was deployed into, and the stack's outputs. */
    localstack: { endpoint: string; outputs: StackOutputs };
  }
}

const seconds = (since: number) => `${((performance.now() - since) / 1000).toFixed(1)} s`;
const say = (line: string) => console.log(`[localstack] ${line}`);

/**
 * Runs the end-to-end suite against the real stack in LocalStack. Without
 * MOBIUS_LOCALSTACK_ENDPOINT it installs LocalStack (once; cached in .localstack/venv), starts it
 * as a host process on a free 127.0.0.1 port, deploys, and stops it by PID at the end. With
 * MOBIUS_LOCALSTACK_ENDPOINT (a LocalStack you run, e.g. the Docker compose file) it deploys into
 * that one and leaves it running. Each phase's time is printed.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const external = process.env.MOBIUS_LOCALSTACK_ENDPOINT;
  let stop = async () => {};
  let endpoint: string;
  if (external) {
    endpoint = external;
    say(`using the LocalStack at ${endpoint}`);
  } else {
    let started = performance.now();
    ensureLocalStackInstalled((line) => say(line));
    say(`install: ${seconds(started)}`);
    started = performance.now();
    const localstack = await startLocalStack();
    endpoint = localstack.endpoint;
    stop = localstack.stop;
    say(
      `start: ${seconds(started)} (PID ${localstack.pid}, ${endpoint}, log ${localstack.logFile})`,
    );
  }
  let outputs: StackOutputs;
  try {
    const started = performance.now();
    // The region the test workers sign and call in (vitest.localstack.config.ts).
    outputs = await deployToLocalStack(endpoint, {
      region: 'us-east-1',
      // Test agents beside the example team: one that crashes on demand (crash recovery).
      context: {
        'mobius:agents': 'test/localstack/agents/index.ts',
        // The A2A suite's remote agents answer on the host, where LocalStack's functions run.
        'mobius:a2aAllowedHosts': '127.0.0.1',
      },
    });
    say(`deploy: ${seconds(started)} (API ${outputs.GatewayApiUrl})`);
  } catch (error) {
    await stop();
    throw error;
  }
  project.provide('localstack', { endpoint, outputs });
  const testsStarted = performance.now();
  return async () => {
    say(`tests: ${seconds(testsStarted)}`);
    const stopping = performance.now();
    await stop();
    if (!external) say(`stop: ${seconds(stopping)}`);
  };
}
