/**
 * What `mobius init` writes: a project that works at once — two agents written with
 * `defineAgent`, a coordination request, a vitest test that runs it on the embedded runtime, and a
 * CDK app that deploys the agents with the `MobiusCoordinator` construct. Plain data, so the init
 * command stays a few lines and the files can be read here as the user will see them.
 */

/** Versions the scaffold's dependencies take: the ones this release of Mobius is tested with. */
export interface ScaffoldVersions {
  readonly mobius: string;
  readonly devDependencies: Readonly<Record<string, string>>;
}

export const SCAFFOLD_DEV_DEPENDENCIES = [
  '@types/node',
  'aws-cdk',
  'aws-cdk-lib',
  'constructs',
  'esbuild',
  'tsx',
  'typescript',
  'vitest',
] as const;

export const SCAFFOLD_SCRIPTS: Readonly<Record<string, string>> = {
  test: 'vitest run',
  start: 'mobius run requests/hello.json --agents agents/index.ts',
  dev: 'mobius dev --agents agents/index.ts',
  synth: 'cdk synth',
  typecheck: 'tsc --noEmit',
};

export const SCAFFOLD_FILES: Readonly<Record<string, string>> = {
  'tsconfig.json': `${JSON.stringify(
    {
      compilerOptions: {
        target: 'ES2023',
        lib: ['ES2023'],
        module: 'NodeNext',
        moduleResolution: 'NodeNext',
        types: ['node'],
        strict: true,
        noEmit: true,
        allowImportingTsExtensions: true,
        verbatimModuleSyntax: true,
        resolveJsonModule: true,
        skipLibCheck: true,
      },
      include: ['agents', 'bin', 'test'],
    },
    null,
    2,
  )}\n`,

  'cdk.json': `${JSON.stringify({ app: 'npx tsx bin/app.ts' }, null, 2)}\n`,

  '.gitignore': 'node_modules/\ncdk.out/\n',

  'agents/greeter.ts': `import { type AgentDefinition, defineAgent } from 'mobius-coordinator/agent';

/** Greets whoever the input names. */
export const greeter: AgentDefinition = {
  agentId: 'greeter',
  agentType: 'demo',
  description: 'Greets by name',
  capabilities: [{ name: 'greeting', version: '1.0.0' }],
  handler: (message) => {
    const { name } = (message.input ?? {}) as { name?: string };
    return { greeting: \`Hello, \${name ?? 'world'}!\` };
  },
};

/** The Lambda entry the CDK app deploys. */
export const handler = defineAgent(greeter);
`,

  'agents/shouter.ts': `import { type AgentDefinition, defineAgent, FatalAgentError } from 'mobius-coordinator/agent';

/** Shouts the greeting it is given: the second step of the pipeline. */
export const shouter: AgentDefinition = {
  agentId: 'shouter',
  agentType: 'demo',
  description: 'Turns a greeting into a shout',
  capabilities: [{ name: 'shouting', version: '1.0.0' }],
  handler: (message) => {
    const { greeting } = (message.input ?? {}) as { greeting?: string };
    // Bad input is fatal: retrying cannot help, so the coordination fails (or falls back) at once.
    if (typeof greeting !== 'string') throw new FatalAgentError('shouter needs a greeting');
    return { greeting: greeting.toUpperCase() };
  },
};

export const handler = defineAgent(shouter);
`,

  'agents/index.ts': `import { greeter } from './greeter.ts';
import { shouter } from './shouter.ts';

/** The team: what \`mobius run --agents agents/index.ts\`, the test and the CDK app use. */
export const agents = [greeter, shouter];
`,

  'requests/hello.json': `${JSON.stringify(
    {
      pattern: 'pipeline',
      agents: ['greeter', 'shouter'],
      payload: { name: 'Ada' },
      timeout: 30,
      failure_mode: 'fail_fast',
    },
    null,
    2,
  )}\n`,

  'test/hello.test.ts': `import { readFileSync } from 'node:fs';
import { EmbeddedRuntime } from 'mobius-coordinator/embedded';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { agents } from '../agents/index.ts';

let runtime: EmbeddedRuntime;
beforeAll(async () => {
  runtime = await EmbeddedRuntime.start({ agents });
});
afterAll(() => runtime.stop());

it('greets, then shouts', async () => {
  const request = JSON.parse(readFileSync(new URL('../requests/hello.json', import.meta.url), 'utf8'));
  const response = await runtime.coordinations.run(request);
  if (response.state !== 'completed') throw new Error('an express coordination completes inline');
  expect(response.result.status).toBe('succeeded');
  expect(response.result.output).toEqual({ greeting: 'HELLO, ADA!' });
});
`,

  'bin/app.ts': `import { App, Stack } from 'aws-cdk-lib';
import { MobiusCoordinator } from 'mobius-coordinator/cdk';
import { agents } from '../agents/index.ts';

const app = new App();
const stack = new Stack(app, 'HelloMobius');
new MobiusCoordinator(stack, 'Mobius', {
  // Each agent's Lambda entry is its module: it exports \`handler = defineAgent(...)\`.
  agents: agents.map((definition) => ({ definition, entry: \`agents/\${definition.agentId}.ts\` })),
});
`,

  'README.md': `# A Mobius Coordinator project

\`\`\`bash
npm test                 # runs requests/hello.json on the embedded runtime (test/hello.test.ts)
npm start                # the same from the CLI, with progress and a timing tree
npx cdk synth            # the CDK app in bin/app.ts: your agents in a MobiusCoordinator
\`\`\`

Agents live in \`agents/\`: write one with \`defineAgent\`, add it to \`agents/index.ts\`, and name it
in a request. \`npm run dev\` serves the HTTP API on 127.0.0.1 with your agents.
`,
};
