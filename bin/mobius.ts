/**
 * The `mobius` command line. Runs through bin/mobius.mjs (which makes sure Node 22 and tsx are in
 * charge); `npm start` runs `mobius run examples/requests/hierarchical.json`.
 */
import { constants } from 'node:os';
import { Command, InvalidArgumentError } from 'commander';
import {
  agentDeadLettersCommand,
  agentDrainCommand,
  agentQueueCommand,
  agentRedriveCommand,
  agentResetCommand,
  agentResumeCommand,
} from '../functions/cli/agent-commands.ts';
import {
  agentsCommand,
  type BedrockOption,
  compileCommand,
  DEFAULT_API,
  devCommand,
  discoverCommand,
  runCommand,
} from '../functions/cli/commands.ts';
import { consoleCommand, DEFAULT_CONSOLE_PORT } from '../functions/cli/console-command.ts';
import { issueList, red } from '../functions/cli/format.ts';
import { initCommand } from '../functions/cli/init.ts';
import type { Io } from '../functions/cli/io.ts';
import {
  type ApiOptions,
  type CoordinationsOptions,
  cancelCommand,
  coordinationsCommand,
  healthCommand,
} from '../functions/cli/operator-commands.ts';
import { UsageError } from '../functions/cli/request-file.ts';
import { sendCommand, watchCommand } from '../functions/cli/stream-commands.ts';
import { isMobiusError, ValidationError } from '../functions/core/errors.ts';

const io: Io = {
  out: (text) => process.stdout.write(`${text}\n`),
  err: (text) => process.stderr.write(`${text}\n`),
  // Streamed text, as it arrives: no line end of its own.
  outPart: (text) => process.stdout.write(text),
  errPart: (text) => process.stderr.write(text),
};

const port = (value: string) => {
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 0 || parsed > 65_535)
    throw new InvalidArgumentError('use a port number between 0 and 65535');
  return parsed;
};

const seconds = (value: string) => {
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 1)
    throw new InvalidArgumentError('use a whole number of seconds, 1 or more');
  return parsed;
};

/** `--bedrock [model-id]` of run and dev: the flag alone is the narrator's default model. */
const BEDROCK_FLAG = '--bedrock [model-id]';
const BEDROCK_HELP =
  'the example narrator streams from Amazon Bedrock (ConverseStream) with this model (default amazon.nova-lite-v1:0; AWS credentials and model access needed)';

const maxInFlight = (value: string) => {
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 1)
    throw new InvalidArgumentError('use a whole number of coordinations, 1 or more');
  return parsed;
};

/**
 * Stop signals end the CLI with the shell's code for them (128 + signal number); `mobius dev`
 * takes them over to shut its runtime down in order. Repeats are ignored while that happens (a
 * terminal's Ctrl-C reaches both this process and its launcher).
 */
const STOP_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
let onStop: (() => void) | undefined;
for (const signal of STOP_SIGNALS) {
  process.on(signal, () => {
    if (onStop) onStop();
    else process.exit(128 + (constants.signals[signal] ?? 0));
  });
}

async function main(): Promise<number> {
  let exitCode = 0;
  const program = new Command()
    .name('mobius')
    .description(
      'Mobius Coordinator: run coordinations of AI agents embedded, compile them to Step Functions, query a registry.',
    )
    .showHelpAfterError('(add --help for usage)')
    // A bad option or argument is a usage error: exit 2, as bad files and requests do (docs/cli.md).
    .exitOverride((error) => process.exit(error.exitCode === 0 ? 0 : 2));

  program
    .command('run')
    .description(
      'Run one coordination on the embedded runtime, showing each step and streamed chunk as it happens; print the result and a per-step timing tree',
    )
    .argument('<request.json>', 'a coordination request (JSON; mobius init writes one)')
    .option('--json', 'print the result as JSON only (no progress)')
    .option('--agents <module>', 'a module exporting `agents` (default: the example research team)')
    .option(BEDROCK_FLAG, BEDROCK_HELP)
    .action(
      async (
        file: string,
        options: { json?: boolean; agents?: string; bedrock?: BedrockOption },
      ) => {
        exitCode = await runCommand(file, options, io);
      },
    );

  program
    .command('dev')
    .description('Start the embedded runtime with the agents and serve the HTTP API on 127.0.0.1')
    .option('-p, --port <port>', 'port for the API', port, 4000)
    .option('--agents <module>', 'a module exporting `agents` (default: the example research team)')
    .option(
      '--max-in-flight <n>',
      'coordinations run at once; more are answered 503 with Retry-After (default 16)',
      maxInFlight,
    )
    .option(BEDROCK_FLAG, BEDROCK_HELP)
    .action(
      async (options: {
        port: number;
        agents?: string;
        maxInFlight?: number;
        bedrock?: BedrockOption;
      }) => {
        const interrupted = new Promise<void>((resolve) => {
          onStop = resolve;
        });
        exitCode = await devCommand(options, io, interrupted);
      },
    );

  program
    .command('console')
    .description(
      "Serve the web console on 127.0.0.1 for a deployed stack: the page's API calls go to it SigV4-signed with your AWS credentials (mobius dev serves the console itself, at its /)",
    )
    .requiredOption('--api <url>', "the deployed API's URL (the stack's ApiUrl output)")
    .option('-p, --port <port>', 'port for the console', port, DEFAULT_CONSOLE_PORT)
    .action(async (options: { api: string; port: number }) => {
      const interrupted = new Promise<void>((resolve) => {
        onStop = resolve;
      });
      exitCode = await consoleCommand(options, io, interrupted);
    });

  program
    .command('init')
    .description(
      'Scaffold a project: two agents, a request, a test on the embedded runtime and a CDK app',
    )
    .argument('[dir]', 'the folder to scaffold into (created if missing)', '.')
    .option('--force', 'overwrite files that already exist (package.json is always merged)')
    .action((dir: string, options: { force?: boolean }) => {
      exitCode = initCommand(dir, options, io);
    });

  program
    .command('compile')
    .description('Print the state machine a request compiles to (ASL or Mermaid)')
    .argument('<request.json>', 'a coordination request')
    .option('-f, --format <format>', 'asl or mermaid', 'asl')
    .option('--agents <module>', 'plan against these agents (default: the example research team)')
    .action(async (file: string, options: { format: string; agents?: string }) => {
      exitCode = await compileCommand(file, options, io);
    });

  program
    .command('agents')
    .description(
      'List the agents of a running API (mobius dev, or a deployed stack: requests are SigV4-signed)',
    )
    .option('--api <url>', 'API base URL', DEFAULT_API)
    .option('--status <status>', 'only agents with this status')
    .action(async (options: { api: string; status?: string }) => {
      exitCode = await agentsCommand(options, io);
    });

  program
    .command('discover')
    .description('Find agents offering a capability, ranked')
    .argument('<capability>', 'capability name')
    .option('--api <url>', 'API base URL', DEFAULT_API)
    .option('--version <range>', 'semver range, e.g. ^1.2')
    .option('--fuzzy', 'fuzzy name matching')
    .option('--all', 'include agents that are not healthy')
    .action(
      async (
        capability: string,
        options: { api: string; version?: string; fuzzy?: boolean; all?: boolean },
      ) => {
        exitCode = await discoverCommand(capability, options, io);
      },
    );

  program
    .command('watch')
    .description(
      'Follow a coordination live (replayed from its start): each step and streamed chunk, then the result; exit 1 if it failed',
    )
    .argument('<coordinationId>', 'the id mobius run and POST /coordinations print')
    .option(
      '--api <url>',
      'API base URL (a deployed stack: requests are SigV4-signed)',
      DEFAULT_API,
    )
    .option('--json', 'print each event as one JSON line')
    .action(async (coordinationId: string, options: { api: string; json?: boolean }) => {
      exitCode = await watchCommand(coordinationId, options, io);
    });

  program
    .command('send')
    .description(
      "Send a direct message to an agent: queued, answered (--wait), or with the agent's chunks printed as they arrive (--stream)",
    )
    .argument('<agent>', 'the agent id')
    .argument('<payload>', 'the payload: JSON, or text (sent as a string)')
    .option(
      '--api <url>',
      'API base URL (a deployed stack: requests are SigV4-signed)',
      DEFAULT_API,
    )
    .option('--wait', 'wait for the response and print its payload')
    .option('--stream', "print the agent's chunks as they arrive, then wait for its response")
    .option(
      '--timeout <seconds>',
      'how long the agent may take (25 at most, 900 with --stream)',
      seconds,
    )
    .option('--json', "print the API's answer as JSON (with --stream: each event as one JSON line)")
    .action(
      async (
        agent: string,
        payload: string,
        options: {
          api: string;
          wait?: boolean;
          stream?: boolean;
          timeout?: number;
          json?: boolean;
        },
      ) => {
        exitCode = await sendCommand(agent, payload, options, io);
      },
    );

  // Operators' commands: the fleet, its runs, and actions on one agent. Each talks to a running
  // API (mobius dev, or a deployed stack with --api: SigV4-signed) and prints its body with --json.
  const API_HELP = 'API base URL (a deployed stack: requests are SigV4-signed)';
  const JSON_HELP = "print the API's answer as it is (JSON)";

  program
    .command('health')
    .description(
      'The fleet at a glance: agents by status, circuits not closed, work in flight, queues and dead letters, the recent failure rate',
    )
    .option('--api <url>', API_HELP, DEFAULT_API)
    .option('--json', JSON_HELP)
    .action(async (options: ApiOptions) => {
      exitCode = await healthCommand(options, io);
    });

  program
    .command('coordinations')
    .description(
      'Recent coordinations, newest first, express ones included: status, started, duration, steps',
    )
    .option('--api <url>', API_HELP, DEFAULT_API)
    .option('--status <status>', 'running, succeeded, partial, failed or cancelled')
    .option('--pattern <pattern>', 'sequential, pipeline, parallel, scatter_gather or hierarchical')
    .option(
      '--since <when>',
      'started since: an ISO date-time, or a time back from now (30m, 2h, 1d)',
    )
    .option('--limit <n>', 'coordinations per page, 1 to 100 (default 25; 100 with --all)')
    .option('--all', 'read every page (at most 1000 coordinations)')
    .option('--json', JSON_HELP)
    .action(async (options: CoordinationsOptions) => {
      exitCode = await coordinationsCommand(options, io);
    });

  program
    .command('cancel')
    .description(
      'Cancel a running standard coordination (Step Functions StopExecution); exit 1 if it already finished or is express',
    )
    .argument('<coordinationId>', 'the id mobius coordinations lists')
    .option('--api <url>', API_HELP, DEFAULT_API)
    .option('--json', JSON_HELP)
    .action(async (coordinationId: string, options: ApiOptions) => {
      exitCode = await cancelCommand(coordinationId, options, io);
    });

  const agent = program
    .command('agent')
    .description(
      'Act on one agent: reset its breaker, drain or resume it, read its queue and dead letters, redrive them (operators only on a deployed stack; `mobius agents` lists the agents)',
    );
  const agentAction = (name: string, description: string) =>
    agent
      .command(name)
      .description(description)
      .argument('<id>', 'the agent id (mobius agents lists them)')
      .option('--api <url>', API_HELP, DEFAULT_API)
      .option('--json', JSON_HELP);
  agentAction('reset', 'Close the circuit breaker and clear its failure count').action(
    async (id: string, options: ApiOptions) => {
      exitCode = await agentResetCommand(id, options, io);
    },
  );
  agentAction(
    'drain',
    'No new work for the agent until resumed (heartbeats do not undo it); work in flight finishes',
  ).action(async (id: string, options: ApiOptions) => {
    exitCode = await agentDrainCommand(id, options, io);
  });
  agentAction('resume', 'Undo a drain: the agent takes work again').action(
    async (id: string, options: ApiOptions) => {
      exitCode = await agentResumeCommand(id, options, io);
    },
  );
  agentAction(
    'queue',
    "The agent's queue: waiting, in flight, delayed, oldest message, dead letters; exit 1 if it has none",
  ).action(async (id: string, options: ApiOptions) => {
    exitCode = await agentQueueCommand(id, options, io);
  });
  agentAction(
    'dead-letters',
    "Look at messages in the agent's dead-letter queue without consuming them",
  )
    .option('--limit <n>', 'how many, 1 to 10 (default 10)')
    .action(async (id: string, options: ApiOptions & { limit?: string }) => {
      exitCode = await agentDeadLettersCommand(id, options, io);
    });
  agentAction(
    'redrive',
    "Move the agent's dead letters back to its queue (SQS StartMessageMoveTask)",
  ).action(async (id: string, options: ApiOptions) => {
    exitCode = await agentRedriveCommand(id, options, io);
  });

  await program.parseAsync(process.argv);
  return exitCode;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    if (error instanceof UsageError) {
      io.err(red(error.message));
      process.exit(2);
    }
    // The project's own errors (an unknown agent, an invalid request) explain themselves.
    if (isMobiusError(error)) {
      const issues = error instanceof ValidationError ? `\n${issueList(error.issues)}` : '';
      io.err(red(`${error.message}${issues}`));
      process.exit(2);
    }
    io.err(
      red(`mobius: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`),
    );
    process.exit(1);
  },
);
