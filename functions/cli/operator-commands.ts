import { PATTERNS } from '../../statemachines/request.ts';
import { agoText, durationText } from '../core/time-text.ts';
import {
  ApiError,
  createClient,
  listAllCoordinations,
  MAX_LISTED_COORDINATIONS,
  type MobiusClient,
  type Schemas,
} from './client.ts';
import { apiProblem, DEFAULT_API } from './commands.ts';
import { bold, dim, green, jsonText, printable, red, table, yellow } from './format.ts';
import type { Io } from './io.ts';
import { parseSince } from './time-text.ts';
import { UsageError } from './usage-error.ts';

/**
 * The operator's commands that look at the whole fleet and its runs: `mobius health`,
 * `mobius coordinations` and `mobius cancel`. Like every command that calls the API they talk to
 * `mobius dev` by default, or to a deployed stack with `--api` (SigV4-signed), and print the
 * API's answer as it is with `--json`. The `mobius agent …` group is in agent-commands.ts.
 */

/** What every operator command takes. */
export interface ApiOptions {
  readonly api?: string;
  readonly json?: boolean;
}

/** What an operator command acts on, to name it when the API does not know it. */
export type Subject =
  | { readonly kind: 'agent'; readonly id: string }
  | { readonly kind: 'coordination'; readonly id: string };

/** The API's answer, as `--json` prints it: indented, exactly the body. */
export function printJson(body: unknown, io: Io): void {
  io.out(jsonText(body, 2));
}

/**
 * One call to the API at `base`. Its refusals become what the CLI says about them: a conflict
 * (409: the run already finished, the agent has no queue…) is the command's outcome, printed with
 * the API's message, and the call answers undefined (exit 1); an unknown id, a caller who is no
 * operator and an API out of reach are usage errors naming the fix (exit 2).
 */
export async function operatorCall<T>(
  base: string,
  subject: Subject | undefined,
  io: Io,
  call: (client: MobiusClient) => Promise<T>,
): Promise<T | undefined> {
  try {
    return await call(createClient(base));
  } catch (error) {
    if (error instanceof ApiError && error.status === 409) {
      io.err(red(`✘ ${printable(messageOf(error))}`));
      return undefined;
    }
    throw operatorProblem(error, base, subject);
  }
}

/** The API's own message of an error answer (without "The API answered …"). */
function messageOf(error: ApiError): string {
  const body = error.body as Partial<Schemas['Error']> | undefined;
  return body?.error?.message ?? error.message;
}

/** An id argument that is there (a shell's empty `"$id"` is not), checked before any request. */
export function requiredId(value: string, name: string, listedBy: string): string {
  const id = value.trim();
  if (id === '')
    throw new UsageError(`Give the ${name} (\`${listedBy}\` lists them); it was empty.`);
  return id;
}

/** What a failed operator call means, with what to do about it. */
export function operatorProblem(error: unknown, base: string, subject?: Subject): Error {
  if (error instanceof ApiError && error.status === 404 && subject !== undefined)
    return new UsageError(
      subject.kind === 'agent'
        ? `No agent ${subject.id} at ${base}. \`mobius agents --api ${base}\` lists the agents it knows.`
        : `No coordination ${subject.id} at ${base}. \`mobius coordinations --api ${base}\` lists the recent ones (kept 7 days); check that --api is the API that ran it.`,
    );
  if (error instanceof ApiError && error.status === 403)
    return new UsageError(
      `${printable(error.message)}\nOperator actions need a principal the stack names as an operator (the construct's \`operators\` prop, or \`grantOperator\`; see docs/security.md). Sign with such credentials: AWS_PROFILE=<operator profile>.`,
    );
  // The API's own message is in it: shown, not obeyed, by the terminal.
  return new UsageError(printable(apiProblem(error, base).message));
}

// ---------------------------------------------------------------------------------------------
// mobius health

const STATUS_COLOUR: Readonly<Record<string, (text: string) => string>> = {
  healthy: green,
  initializing: yellow,
  degraded: yellow,
  draining: yellow,
  drained: yellow,
  unhealthy: red,
  offline: red,
};

/** A status in its colour: green for healthy, yellow for the ones to look at, red for trouble. */
export function statusText(status: string): string {
  return (STATUS_COLOUR[status] ?? ((text: string) => text))(printable(status));
}

/** A failure rate above which it shows red; any failure shows yellow. */
const ALARMING_FAILURE_RATE = 0.1;

/**
 * The fleet summary of GET /health as lines a person reads: the agents by status (those with
 * none left out), the circuits not closed, the work in flight, the queues and dead letters, the
 * recent failure rate. What needs a look is yellow, what is wrong red.
 */
export function healthReport(health: Schemas['FleetHealth'], now: Date = new Date()): string[] {
  const label = (text: string) => bold(text.padEnd(13));
  const { agents, openCircuits, queues, recent, coordinations } = health;

  const counts = Object.entries(agents.byStatus)
    .filter(([, count]) => count > 0)
    .map(([status, count]) => `${count} ${statusText(status)}`);
  const lines = [
    `${label('agents')}${agents.total} ${agents.total === 1 ? 'agent' : 'agents'}${counts.length > 0 ? `: ${counts.join(', ')}` : ''}`,
  ];

  lines.push(
    `${label('circuits')}${
      openCircuits.length === 0
        ? green('all closed')
        : openCircuits
            .map((c) => {
              const text = printable(
                `${c.agentId} ${c.state === 'open' ? 'open' : 'half-open'}${c.openedAt === null ? '' : ` (opened ${agoText(c.openedAt, now)})`}`,
              );
              return c.state === 'open' ? red(text) : yellow(text);
            })
            .join(', ')
    }`,
  );

  const bound = coordinations.maxInFlight === null ? 'no bound' : `of ${coordinations.maxInFlight}`;
  const waiting =
    coordinations.queued > 0
      ? yellow(`${coordinations.queued} waiting for a slot`)
      : '0 waiting for a slot';
  lines.push(
    `${label('in flight')}${health.inFlight} at the agents · coordinations on this API instance: ${coordinations.inFlight} running (${bound}), ${waiting}`,
  );
  // Older APIs do not send it; null: no event log to count from.
  const { running } = coordinations;
  if (running !== undefined && running !== null)
    lines.push(
      `${label('running')}${running.count}${running.truncated ? '+' : ''} coordinations across the deployment (started in the last 24 h)`,
    );

  const deadLetters =
    queues.deadLetters === null
      ? 'dead letters not read'
      : queues.deadLetters > 0
        ? yellow(`${queues.deadLetters} dead ${queues.deadLetters === 1 ? 'letter' : 'letters'}`)
        : '0 dead letters';
  lines.push(
    `${label('queues')}${
      queues.depth === null
        ? dim('not read yet: the health monitor has read no agent queue')
        : `${queues.depth} waiting, ${deadLetters} ${dim(`(${queues.agentsReporting} ${queues.agentsReporting === 1 ? 'queue' : 'queues'} read)`)}`
    }`,
  );

  const rate = `${(recent.failureRate * 100).toFixed(1)} %`;
  const rateText =
    recent.failureRate >= ALARMING_FAILURE_RATE
      ? red(rate)
      : recent.failureRate > 0
        ? yellow(rate)
        : green(rate);
  lines.push(
    `${label('failures')}${rateText} ${dim(`(${recent.errors} of ${recent.requests} requests in the last minutes)`)}`,
  );

  if (health.truncated)
    lines.push(yellow('(more agents than one summary reads: these figures cover the first ones)'));
  lines.push(dim(printable(`read ${agoText(health.generatedAt, now)} (${health.generatedAt})`)));
  return lines;
}

/**
 * `mobius health`: the fleet summary (GET /health). Exit code 0 whatever it says: it is a
 * report, and the trouble it shows is coloured.
 */
export async function healthCommand(options: ApiOptions, io: Io): Promise<number> {
  const base = options.api ?? DEFAULT_API;
  const answer = await operatorCall(base, undefined, io, (api) => api.fleetHealth());
  if (answer === undefined) return 1;
  if (options.json) printJson(answer.body, io);
  else for (const line of healthReport(answer.body)) io.out(line);
  return 0;
}

// ---------------------------------------------------------------------------------------------
// mobius coordinations

export const COORDINATION_STATUSES = [
  'running',
  'succeeded',
  'partial',
  'failed',
  'cancelled',
] as const satisfies readonly Schemas['CoordinationSummary']['status'][];

/** The largest page the API answers (GET /coordinations?limit=). */
const MAX_PAGE = 100;
const DEFAULT_PAGE = 25;

export interface CoordinationsOptions extends ApiOptions {
  readonly status?: string;
  readonly pattern?: string;
  /** ISO date-time, date, or a span back from now (30m, 2h, 1d). */
  readonly since?: string;
  /** Coordinations per page (per request), 1 to 100. */
  readonly limit?: string | number;
  /** Every page, following nextToken, up to 1000 coordinations. */
  readonly all?: boolean;
}

type CoordinationsQuery = NonNullable<Parameters<MobiusClient['listCoordinations']>[0]>['query'];

/** The query `mobius coordinations` options ask for; a bad option is a UsageError naming the fix. */
export function coordinationsQuery(
  options: CoordinationsOptions,
  now: Date = new Date(),
): NonNullable<CoordinationsQuery> {
  const { status, pattern } = options;
  if (status !== undefined && !(COORDINATION_STATUSES as readonly string[]).includes(status))
    throw new UsageError(
      `--status takes one of ${COORDINATION_STATUSES.join(', ')}; got ${JSON.stringify(status)}.`,
    );
  const patternName = pattern?.replace('-', '_');
  if (patternName !== undefined && !(PATTERNS as readonly string[]).includes(patternName))
    throw new UsageError(
      `--pattern takes one of ${PATTERNS.join(', ')}; got ${JSON.stringify(pattern)}.`,
    );
  let limit: number | undefined;
  if (options.limit !== undefined) {
    limit = Number(options.limit);
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE)
      throw new UsageError(
        `--limit takes a whole number from 1 to ${MAX_PAGE} (coordinations per page; --all reads every page); got ${JSON.stringify(String(options.limit))}.`,
      );
  }
  return {
    ...(status === undefined ? {} : { status: status as Schemas['CoordinationSummary']['status'] }),
    ...(patternName === undefined
      ? {}
      : { pattern: patternName as Schemas['CoordinationSummary']['pattern'] }),
    ...(options.since === undefined ? {} : { since: parseSince(options.since, now) }),
    ...(limit === undefined ? {} : { limit }),
  };
}

const RUN_COLOUR: Readonly<
  Record<Schemas['CoordinationSummary']['status'], (t: string) => string>
> = {
  running: bold,
  succeeded: green,
  partial: yellow,
  failed: red,
  cancelled: yellow,
};

/** The table `mobius coordinations` prints: one row per run, newest first as the API lists them. */
export function coordinationsTable(
  coordinations: readonly Schemas['CoordinationSummary'][],
  now: Date = new Date(),
): string {
  return table(
    ['coordination', 'pattern', 'mode', 'status', 'started', 'duration', 'steps'],
    coordinations.map((c) => [
      printable(c.coordinationId),
      printable(c.pattern),
      printable(c.mode),
      (RUN_COLOUR[c.status] ?? bold)(printable(c.status)),
      printable(agoText(c.startedAt, now)),
      c.totalMs !== null
        ? durationText(c.totalMs)
        : c.status === 'running'
          ? // Still going: how long so far.
            dim(`${durationText(Math.max(0, now.getTime() - Date.parse(c.startedAt)))}…`)
          : '—',
      String(c.steps),
    ]),
  );
}

/** "with status failed, pattern parallel, since …" for the empty list's message. */
function filtersText(query: NonNullable<CoordinationsQuery>): string {
  const parts = [
    query.status === undefined ? undefined : `status ${query.status}`,
    query.pattern === undefined ? undefined : `pattern ${query.pattern}`,
  ].filter((part) => part !== undefined);
  return `${parts.length > 0 ? ` with ${parts.join(', ')}` : ''}${query.since === undefined ? '' : ` started since ${query.since}`}`;
}

/**
 * `mobius coordinations`: recent runs, newest first (GET /coordinations), express ones included.
 * One page (`--limit`, default 25) unless `--all`, which follows the pages to the end or to 1000
 * coordinations, and says when it stopped there. `--json`: the API's body (with `--all`, the
 * pages joined in one body of the same shape, `nextToken` where it stopped).
 */
export async function coordinationsCommand(
  options: CoordinationsOptions,
  io: Io,
  now: Date = new Date(),
): Promise<number> {
  const base = options.api ?? DEFAULT_API;
  const query = coordinationsQuery(options, now);
  const answer = await operatorCall(base, undefined, io, async (api) =>
    options.all
      ? await listAllCoordinations(api, { ...query, limit: query.limit ?? MAX_PAGE })
      : (await api.listCoordinations({ query: { ...query, limit: query.limit ?? DEFAULT_PAGE } }))
          .body,
  );
  if (answer === undefined) return 1;
  if (options.json) {
    printJson(answer, io);
    return 0;
  }
  const { coordinations, nextToken } = answer;
  if (coordinations.length === 0 && nextToken === undefined) {
    io.out(`No coordinations${filtersText(query)} at ${base} (runs are kept 7 days).`);
    return 0;
  }
  if (coordinations.length > 0) io.out(coordinationsTable(coordinations, now));
  if (nextToken !== undefined)
    io.err(
      options.all
        ? yellow(
            `Stopped after ${coordinations.length} coordinations (at most ${MAX_LISTED_COORDINATIONS} are listed at once): narrow the list with --since, --status or --pattern.`,
          )
        : dim(
            `More coordinations${filtersText(query)} follow: --all lists every page (up to ${MAX_LISTED_COORDINATIONS}).`,
          ),
    );
  return 0;
}

// ---------------------------------------------------------------------------------------------
// mobius cancel

/**
 * `mobius cancel <coordinationId>`: stops a running standard coordination (DELETE
 * /coordinations/{id}) and prints its new status. A run that already finished, or an express one
 * (which cannot be stopped), is the API's 409: its message is printed, exit code 1.
 */
export async function cancelCommand(
  coordinationId: string,
  options: ApiOptions,
  io: Io,
): Promise<number> {
  const id = requiredId(coordinationId, 'coordination id', 'mobius coordinations --status running');
  const base = options.api ?? DEFAULT_API;
  const answer = await operatorCall(base, { kind: 'coordination', id }, io, (api) =>
    api.cancelCoordination({ path: { id } }),
  );
  if (answer === undefined) return 1;
  if (options.json) printJson(answer.body, io);
  else
    io.out(
      `${green('✔')} coordination ${printable(id)}: ${RUN_COLOUR.cancelled(printable(answer.body.status))}`,
    );
  return 0;
}
