import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { compile as compileMachine } from '../../statemachines/compile.ts';
import { toMermaid } from '../../statemachines/mermaid.ts';
import { aslErrors } from '../../statemachines/validate.ts';
import { CoordinationPlanner } from '../coordination/planner.ts';
import type { CoordinationResult } from '../coordination/result.ts';
import { StaticDirectory } from '../coordination/static-directory.ts';
import { isMobiusError } from '../core/errors.ts';
import { agentStatusSchema } from '../core/model/agent-status.ts';
import type { AgentDefinition } from '../core/sdk/define-agent.ts';
import type { CoordinationEvent } from '../core/streaming/events.ts';
import { type ApiRequestRecord, onApiRequest } from '../embedded/api-server.ts';
import { EmbeddedRuntime } from '../embedded/runtime.ts';
import { useBedrock } from './bedrock.ts';
import { ApiError, createClient, type MobiusClient } from './client.ts';
import { bold, dim, green, printable, red, table } from './format.ts';
import type { Io } from './io.ts';
import { exitCodeOf, LiveProgress, printResult } from './progress.ts';
import { readRequestFile } from './request-file.ts';
import { requestLine } from './request-log.ts';
import { UsageError } from './usage-error.ts';

export type { Io };

export const DEFAULT_API = 'http://127.0.0.1:4000';

/** The agents a command runs: a module exporting `agents: AgentDefinition[]`, or the example team. */
export async function loadAgents(module?: string): Promise<AgentDefinition[]> {
  if (module === undefined) {
    const { EXAMPLE_AGENTS } = await import('../../examples/agents/index.ts');
    return EXAMPLE_AGENTS.map((a) => a.definition);
  }
  let loaded: { agents?: unknown };
  try {
    loaded = (await import(pathToFileURL(resolve(module)).href)) as { agents?: unknown };
  } catch (error) {
    throw new UsageError(`Cannot load agents from ${module}: ${(error as Error).message}`);
  }
  if (!Array.isArray(loaded.agents))
    throw new UsageError(
      `${module} must export \`agents\`: an array of agent definitions (see examples/agents/index.ts).`,
    );
  return loaded.agents as AgentDefinition[];
}

/** What `--bedrock` asks for: true (the flag alone) is the documented default model. */
export type BedrockOption = boolean | string | undefined;

/** Switches the example narrator to Bedrock when `--bedrock` was given, and says so. */
async function bedrockFor(option: BedrockOption, io: Io): Promise<void> {
  if (option === undefined || option === false) return;
  const { DEFAULT_BEDROCK_MODEL_ID } = await import('../../examples/agents/narrator.ts');
  const { region, modelId } = await useBedrock(option === true ? DEFAULT_BEDROCK_MODEL_ID : option);
  io.err(dim(`the narrator streams from Amazon Bedrock: ${modelId} in ${region}`));
}

/** How long the live progress may lag behind a finished run before the CLI stops waiting for it. */
const PROGRESS_GRACE_MS = 5000;

/**
 * Prints a coordination's live events as they are appended, until `coordination.finished` or
 * `signal` aborts. What goes wrong reading them is said once, and the run goes on: the progress
 * is a view of the run, never a part of it.
 */
async function showLive(
  events: AsyncIterable<CoordinationEvent>,
  progress: LiveProgress,
  io: Io,
): Promise<void> {
  try {
    for await (const event of events) progress.print(event);
  } catch (error) {
    progress.end();
    io.err(dim(`(live progress stopped: ${(error as Error).message})`));
  }
}

/**
 * `mobius run <request.json>`: starts the embedded runtime with the agents, runs one coordination
 * while printing its live events (each step as it starts and ends, and the chunks streaming agents
 * produce, as they arrive) on stderr, then prints the result and its timing tree. Exit code 0 when
 * it succeeded (or partially, best effort), 1 when it failed.
 */
export async function runCommand(
  file: string,
  options: { json?: boolean; agents?: string; bedrock?: BedrockOption },
  io: Io,
): Promise<number> {
  const { raw } = readRequestFile(file);
  // The progress lines and the result show every agent failure; the agents' own JSON log lines
  // would only repeat them (set POWERTOOLS_LOG_LEVEL to see them anyway).
  process.env.POWERTOOLS_LOG_LEVEL ??= 'SILENT';
  await bedrockFor(options.bedrock, io);
  const agents = await loadAgents(options.agents);
  io.err(dim(`starting the embedded runtime (${agents.length} agents)…`));
  const started = performance.now();
  const runtime = await EmbeddedRuntime.start({ agents });
  io.err(
    dim(
      `ready in ${((performance.now() - started) / 1000).toFixed(1)} s (registry on dynalite, in memory); running ${file}`,
    ),
  );
  // --json keeps stdout for the result alone, and stderr quiet.
  const progress = options.json ? undefined : new LiveProgress(io);
  const stopWatching = new AbortController();
  let live: Promise<void> | undefined;
  try {
    let response = await runtime.coordinations.run(raw, {
      // From coordination.started on, as a watcher of the API would see it.
      onStarted: (coordinationId) => {
        if (progress === undefined) return;
        const events = runtime.events.follow(coordinationId, { signal: stopWatching.signal });
        live = showLive(events, progress, io);
      },
    });
    for (let polls = 0; response.state === 'running' && polls < 86_400 * 10; polls++) {
      await new Promise((wait) => setTimeout(wait, 100));
      response = await runtime.coordinations.get(response.coordinationId);
    }
    if (response.state !== 'completed') throw new Error('the coordination did not finish');
    // Every chunk shows before the result: the events end with coordination.finished.
    await settleWithin(live, PROGRESS_GRACE_MS);
    progress?.end();
    const { result } = response;
    printResult(result, io, options.json);
    return exitCodeOf(result.status);
  } catch (error) {
    progress?.end();
    if (isMobiusError(error)) {
      io.err(red(`✘ ${error.message}`));
      return 1;
    }
    throw error;
  } finally {
    stopWatching.abort();
    await live;
    await runtime.stop();
  }
}

/** Waits for `work` to end, at most `ms`. */
async function settleWithin(work: Promise<void> | undefined, ms: number): Promise<void> {
  if (work === undefined) return;
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([work, new Promise((resolve) => (timer = setTimeout(resolve, ms)))]);
  clearTimeout(timer);
}

/**
 * `mobius dev`: the embedded runtime with the API on 127.0.0.1, and the web console at its `/`,
 * until interrupted; one line per request answered (method, path, status, time, request id).
 */
export async function devCommand(
  options: { port?: number; agents?: string; maxInFlight?: number; bedrock?: BedrockOption },
  io: Io,
  until: Promise<void>,
): Promise<number> {
  await bedrockFor(options.bedrock, io);
  const agents = await loadAgents(options.agents);
  const port = options.port ?? 4000;
  const runtime = await EmbeddedRuntime.start({
    agents,
    port,
    ...(options.maxInFlight === undefined
      ? {}
      : { admission: { maxInFlight: options.maxInFlight } }),
  }).catch((error: unknown) => {
    if ((error as { code?: string }).code === 'EADDRINUSE')
      throw new UsageError(
        `Port ${port} on 127.0.0.1 is in use (another \`mobius dev\`?). Stop it, or pick another port: mobius dev --port <n>.`,
      );
    throw error;
  });
  // The request log: this server's requests, held until the banner is out, then as they end.
  const held: ApiRequestRecord[] = [];
  let print: ((record: ApiRequestRecord) => void) | undefined;
  const stopLogging = onApiRequest((record) => {
    if (record.server !== runtime.apiUrl) return;
    if (print) print(record);
    else held.push(record);
  });
  io.out(
    `${green('●')} Mobius Coordinator (embedded) at ${bold(runtime.apiUrl ?? '')}  ${dim('registry on dynalite, in memory')}`,
  );
  io.out(`${green('●')} Web console at ${bold(`${runtime.apiUrl ?? ''}/`)}`);
  const { agents: registered } = await runtime.registry.list({ limit: 1000 });
  io.out(
    table(
      ['agent', 'type', 'status', 'capabilities'],
      registered.map((a) => [
        a.card.agentId,
        a.card.agentType,
        a.status,
        a.card.capabilities.map((c) => `${c.name}@${c.version}`).join(', '),
      ]),
    ),
  );
  // A request that works with whichever agents were loaded: the first two, one after the other.
  const sample = JSON.stringify({
    pattern: 'sequential',
    agents: registered.slice(0, 2).map((a) => a.card.agentId),
    payload: { text: 'hello' },
  });
  io.out(
    dim(
      `\ntry:  curl -s -X POST ${runtime.apiUrl}/coordinations -H 'content-type: application/json' -d '${sample}'`,
    ),
  );
  io.out(
    dim(
      `watch a run live:  mobius watch <coordinationId>  (or curl -N ${runtime.apiUrl}/coordinations/<coordinationId>/events)`,
    ),
  );
  io.out(dim('Ctrl-C to stop. Requests:'));
  print = (record) => io.out(requestLine(record));
  for (const record of held.splice(0)) print(record);
  try {
    await until;
    io.err(dim('stopping…'));
    await runtime.stop();
  } finally {
    stopLogging();
  }
  return 0;
}

/**
 * `mobius compile <request.json>`: the state machine the request compiles to, planned against
 * the agents (the example team unless --agents says otherwise), as ASL or Mermaid, checked with
 * asl-validator (exit code 1 if it were invalid: a compiler bug).
 */
export async function compileCommand(
  file: string,
  options: { format?: string; agents?: string },
  io: Io,
): Promise<number> {
  const format = options.format ?? 'asl';
  if (format !== 'asl' && format !== 'mermaid')
    throw new UsageError(`--format must be asl or mermaid (got ${format}).`);
  const { request } = readRequestFile(file);
  const agents = await loadAgents(options.agents);
  const plan = await new CoordinationPlanner(StaticDirectory.forShapes(agents)).plan(request);
  const machine = compileMachine(plan);
  // The check Step Functions makes on CreateStateMachine; the embedded runtime skips it per run.
  const errors = aslErrors(machine.definition);
  io.err(
    dim(
      `${machine.name} · ${machine.type} · sha256 ${machine.hash} · ${Object.keys(machine.definition.States).length} states · ${errors.length === 0 ? 'valid ASL (asl-validator)' : 'INVALID ASL'}`,
    ),
  );
  io.out(
    format === 'asl' ? JSON.stringify(machine.definition, null, 2) : toMermaid(machine.definition),
  );
  if (errors.length === 0) return 0;
  io.err(red(`✘ the compiled machine is not valid ASL — please report it as a bug:`));
  for (const error of errors) io.err(red(`  • ${error}`));
  return 1;
}

/** One call with the typed client; what went wrong becomes a message that says what to do. */
async function withApi<T>(base: string, call: (client: MobiusClient) => Promise<T>): Promise<T> {
  try {
    return await call(createClient(base));
  } catch (error) {
    throw apiProblem(error, base);
  }
}

/**
 * What a failed call to the API at `base` means for the user of the CLI: the API's own answer, or
 * that it cannot be reached (with the fix).
 */
export function apiProblem(error: unknown, base: string): Error {
  if (error instanceof UsageError) return error;
  if (error instanceof ApiError) return new UsageError(error.message);
  const cause = (error as Error).cause as { message?: string } | undefined;
  return new UsageError(
    `Cannot reach the Mobius API at ${base} (${(error as Error).message}${cause?.message ? `: ${cause.message}` : ''}). Start it with \`mobius dev\`, or pass --api <url>.`,
  );
}

/** `mobius agents`: the registry, from a running API (embedded or deployed). */
export async function agentsCommand(
  options: { api?: string; status?: string },
  io: Io,
): Promise<number> {
  const status =
    options.status === undefined ? undefined : agentStatusSchema.safeParse(options.status);
  if (status?.success === false)
    throw new UsageError(
      `--status must be one of ${agentStatusSchema.options.join(', ')} (got ${options.status}).`,
    );
  const {
    body: { agents },
  } = await withApi(options.api ?? DEFAULT_API, (api) =>
    api.listAgents({ query: { status: status?.data } }),
  );
  io.out(
    table(
      ['agent', 'type', 'status', 'circuit', 'requests', 'error rate', 'capabilities'],
      // The API's text, shown escaped: whoever runs the API named these.
      agents.map((a) => [
        printable(a.card.agentId),
        printable(a.card.agentType),
        printable(a.status),
        printable(a.circuit.state),
        String(a.metrics.requestsProcessed),
        `${(a.metrics.errorRate * 100).toFixed(0)} %`,
        printable(a.card.capabilities.map((c) => `${c.name}@${c.version}`).join(', ')),
      ]),
    ),
  );
  return 0;
}

/** `mobius discover <capability>`: ranked matches from a running API. */
export async function discoverCommand(
  capability: string,
  options: { api?: string; version?: string; fuzzy?: boolean; all?: boolean },
  io: Io,
): Promise<number> {
  const {
    body: { matches },
  } = await withApi(options.api ?? DEFAULT_API, (api) =>
    api.discover({
      body: {
        capability,
        ...(options.version ? { version: options.version } : {}),
        match: options.fuzzy ? 'fuzzy' : 'exact',
        ...(options.all ? { statuses: agentStatusSchema.options } : {}),
      },
    }),
  );
  if (matches.length === 0) {
    io.err(
      `No ${options.all ? '' : 'healthy '}agent offers ${printable(capability)}${options.version ? ` ${printable(options.version)}` : ''}.${options.fuzzy ? '' : ' Try --fuzzy.'}`,
    );
    return 1;
  }
  io.out(
    table(
      ['rank', 'agent', 'capability', 'score', 'priority', 'status', 'load'],
      matches.map((m, i) => [
        String(i + 1),
        printable(m.agentId),
        printable(m.matched.map((c) => `${c.capability.name}@${c.capability.version}`).join(', ')),
        m.score.toFixed(3),
        String(m.priority),
        printable(m.status),
        m.load.toFixed(2),
      ]),
    ),
  );
  return 0;
}

export type { CoordinationResult };
