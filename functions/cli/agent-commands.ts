import { MAX_PEEK } from '../core/messaging/dead-letters.ts';
import { agoText, durationText } from '../core/time-text.ts';
import type { MobiusClient, Schemas } from './client.ts';
import { DEFAULT_API } from './commands.ts';
import { bold, dim, green, printable, table, yellow } from './format.ts';
import type { Io } from './io.ts';
import {
  type ApiOptions,
  operatorCall,
  printJson,
  requiredId,
  statusText,
} from './operator-commands.ts';
import { UsageError } from './usage-error.ts';

/**
 * `mobius agent <action> <id>`: an operator's actions on one agent — reset its circuit breaker,
 * drain and resume it, look at its queue and its dead letters, move them back to its queue. Each
 * is one call to the API (operators only on a deployed stack), printed for a person, or as the
 * API's body with `--json`. A state that does not allow the action (409: no queue, a move already
 * under way) prints the API's message and exits 1; an unknown agent exits 2 naming the fix.
 */

/** The agent id argument, checked before any request. */
const agentIdOf = (value: string) => requiredId(value, 'agent id', 'mobius agents');

/**
 * One action on one agent, as every `mobius agent` command runs it: the id checked, the call made
 * (a 409 printed by operatorCall exits 1), then the API's body with `--json` or `show`'s lines.
 */
async function agentAction<T>(
  agentId: string,
  options: ApiOptions,
  io: Io,
  call: (api: MobiusClient, id: string) => Promise<{ readonly body: T }>,
  show: (body: T, id: string) => readonly string[],
): Promise<number> {
  const id = agentIdOf(agentId);
  const answer = await operatorCall(options.api ?? DEFAULT_API, { kind: 'agent', id }, io, (api) =>
    call(api, id),
  );
  if (answer === undefined) return 1;
  if (options.json) printJson(answer.body, io);
  else for (const line of show(answer.body, id)) io.out(line);
  return 0;
}

/** `mobius agent reset <id>`: closes the agent's circuit breaker and clears its failure count. */
export async function agentResetCommand(
  agentId: string,
  options: ApiOptions,
  io: Io,
): Promise<number> {
  return agentAction(
    agentId,
    options,
    io,
    (api, id) => api.resetCircuit({ path: { id } }),
    ({ circuit }, id) => [
      `${green('✔')} circuit of ${printable(id)} ${circuit.state === 'closed' ? green('closed') : yellow(printable(circuit.state))}: ${circuit.consecutiveFailures} consecutive failures; it takes work again`,
    ],
  );
}

/**
 * `mobius agent drain <id>`: no new work is planned, discovered or routed to the agent until it is
 * resumed; what it has in flight finishes. Draining it again keeps the first drain's time.
 */
export async function agentDrainCommand(
  agentId: string,
  options: ApiOptions,
  io: Io,
  now: Date = new Date(),
): Promise<number> {
  return agentAction(
    agentId,
    options,
    io,
    (api, id) => api.drainAgent({ path: { id } }),
    ({ drainedAt, drainedBy }, id) => [
      `${green('✔')} ${printable(id)} ${statusText('drained')} ${dim(printable(`(since ${agoText(drainedAt, now)}, by ${drainedBy})`))}: it gets no new work; what it has in flight finishes`,
      dim(`mobius agent resume ${printable(id)} gives it work again`),
    ],
  );
}

/** `mobius agent resume <id>`: lifts a drain; prints the status the agent has now. */
export async function agentResumeCommand(
  agentId: string,
  options: ApiOptions,
  io: Io,
): Promise<number> {
  return agentAction(
    agentId,
    options,
    io,
    (api, id) => api.resumeAgent({ path: { id } }),
    ({ status }, id) => [`${green('✔')} ${printable(id)} resumed: ${statusText(status)}`],
  );
}

/** The queue of GET /agents/{id}/queue as labelled lines; dead letters waiting show yellow. */
export function queueReport(queue: Schemas['QueueState'], now: Date = new Date()): string[] {
  const label = (text: string) => bold(text.padEnd(14));
  const { deadLetter } = queue;
  const agentId = printable(queue.agentId);
  const lines = [
    `${label('queue')}${printable(queue.queueUrl)} ${dim(queue.fifo ? '(FIFO)' : '(standard)')}`,
    `${label('waiting')}${queue.depth}`,
    `${label('in flight')}${queue.inFlight}`,
    `${label('delayed')}${queue.delayed}`,
    `${label('oldest')}${
      queue.oldestMessageAgeSeconds === null
        ? dim('—')
        : durationText(queue.oldestMessageAgeSeconds * 1000)
    }`,
    deadLetter === null
      ? `${label('dead letters')}${dim('no dead-letter queue')}`
      : `${label('dead letters')}${deadLetter.depth > 0 ? yellow(String(deadLetter.depth)) : '0'} ${dim(`(${printable(deadLetter.queueUrl)})`)}`,
    dim(printable(`read ${agoText(queue.readAt, now)} (${queue.readAt})`)),
  ];
  if (deadLetter !== null && deadLetter.depth > 0)
    lines.push(
      dim(
        `mobius agent dead-letters ${agentId} shows them; mobius agent redrive ${agentId} moves them back to the queue`,
      ),
    );
  return lines;
}

/** `mobius agent queue <id>`: the agent's queue now — depth, in flight, oldest message, dead letters. */
export async function agentQueueCommand(
  agentId: string,
  options: ApiOptions,
  io: Io,
  now: Date = new Date(),
): Promise<number> {
  return agentAction(
    agentId,
    options,
    io,
    (api, id) => api.getAgentQueue({ path: { id } }),
    (queue) => queueReport(queue, now),
  );
}

/** `--limit` of `mobius agent dead-letters`: 1 to 10, checked before any request. */
export function peekLimit(value: string | number | undefined): number | undefined {
  if (value === undefined) return undefined;
  const limit = Number(value);
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PEEK)
    throw new UsageError(
      `--limit takes a whole number from 1 to ${MAX_PEEK} (SQS returns at most ${MAX_PEEK} messages per look); got ${JSON.stringify(String(value))}.`,
    );
  return limit;
}

/** How wide a message body shows in the table; --json prints it whole. */
const BODY_WIDTH = 80;
/** How wide the reason an agent gave for parking a message shows. */
const REASON_WIDTH = 48;

/**
 * Text on one line, as it may be printed (printable: a sender's control characters shown, not
 * obeyed), cut at `width` with an ellipsis.
 */
function oneLine(text: string, width: number): string {
  const line = printable(text.replace(/[ \t]*(?:\r\n|\n)\s*/g, ' ').replace(/\t/g, ' '));
  return line.length <= width ? line : `${line.slice(0, width - 1)}…`;
}

/** A Mobius message envelope, as far as the table shows one. */
interface EnvelopeLike {
  readonly type: string;
  readonly from: string;
  readonly eventType?: string;
  readonly payload: unknown;
}

function isEnvelope(body: unknown): body is EnvelopeLike {
  const value = body as Partial<EnvelopeLike> | null;
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof value.type === 'string' &&
    typeof value.from === 'string' &&
    'payload' in value
  );
}

/**
 * A message body on one line, cut at `width`: a Mobius message as its type, sender and payload
 * (`request from api: {"order":42}`: its ids would fill the line), other text as it is, anything
 * else as compact JSON.
 */
export function bodyText(body: unknown, width = BODY_WIDTH): string {
  if (isEnvelope(body))
    return oneLine(
      `${body.type}${body.eventType === undefined ? '' : ` ${body.eventType}`} from ${body.from}: ${JSON.stringify(body.payload) ?? 'null'}`,
      width,
    );
  return oneLine(typeof body === 'string' ? body : (JSON.stringify(body) ?? String(body)), width);
}

/** The attribute an agent parks a message with, saying why it could not handle it. */
const PARKED_BECAUSE = 'mobius-error';

/**
 * The peeked dead letters as a table, after a line saying how many wait and where. The reason
 * column shows when an agent parked some of them itself (its `mobius-error` attribute); those SQS
 * moved after too many receives have none.
 */
export function deadLettersReport(
  letters: Schemas['DeadLetters'],
  now: Date = new Date(),
): string[] {
  const { depth, messages } = letters;
  const agentId = printable(letters.agentId);
  const deadLetterQueueUrl = printable(letters.deadLetterQueueUrl);
  if (messages.length === 0)
    return [`No dead letters for ${agentId} ${dim(`(${deadLetterQueueUrl}, depth ${depth})`)}.`];
  const withReasons = messages.some((m) => m.attributes[PARKED_BECAUSE] !== undefined);
  const lines = [
    `${yellow(`${depth} dead ${depth === 1 ? 'letter' : 'letters'}`)} for ${agentId} ${dim(`(${deadLetterQueueUrl}; showing ${messages.length}, left where they are)`)}`,
    table(
      ['message', 'sent', 'receives', ...(withReasons ? ['reason'] : []), 'body'],
      messages.map((m) => {
        const reason = m.attributes[PARKED_BECAUSE];
        return [
          printable(m.messageId),
          m.sentAt === null ? '—' : printable(agoText(m.sentAt, now)),
          String(m.receiveCount),
          ...(withReasons ? [reason === undefined ? '—' : oneLine(reason, REASON_WIDTH)] : []),
          bodyText(m.body),
        ];
      }),
    ),
    dim(`mobius agent redrive ${agentId} moves them back to its queue; --json shows them whole`),
  ];
  return lines;
}

/**
 * `mobius agent dead-letters <id> [--limit n]`: up to 10 messages of the agent's dead-letter queue,
 * looked at without consuming them (they stay, and stay where they are).
 */
export async function agentDeadLettersCommand(
  agentId: string,
  options: ApiOptions & { readonly limit?: string | number },
  io: Io,
  now: Date = new Date(),
): Promise<number> {
  const limit = peekLimit(options.limit);
  return agentAction(
    agentId,
    options,
    io,
    (api, id) => api.peekDeadLetters({ path: { id }, query: { limit } }),
    (letters) => deadLettersReport(letters, now),
  );
}

/**
 * `mobius agent redrive <id>`: starts moving the agent's dead letters back to its queue (SQS
 * StartMessageMoveTask); the move goes on after the command ends.
 */
export async function agentRedriveCommand(
  agentId: string,
  options: ApiOptions,
  io: Io,
): Promise<number> {
  return agentAction(
    agentId,
    options,
    io,
    (api, id) => api.redriveDeadLetters({ path: { id } }),
    ({ approximateMessagesToMove: count, taskHandle, source, destination }, id) => {
      const what =
        count === null ? 'the dead letters' : `${count} dead ${count === 1 ? 'letter' : 'letters'}`;
      return [
        count === 0
          ? `${green('✔')} nothing to move: the dead-letter queue of ${printable(id)} is empty`
          : `${green('✔')} moving ${what} of ${printable(id)} back to its queue`,
        dim(
          `from ${printable(source)}\nto   ${printable(destination)}${taskHandle === null ? '' : `\ntask ${printable(taskHandle)}`}`,
        ),
      ];
    },
  );
}
