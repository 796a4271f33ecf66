import { DEFAULT_API } from './commands.ts';
import { dim, green, yellow } from './format.ts';
import type { Io } from './io.ts';
import {
  type ApiOptions,
  operatorCall,
  printJson,
  requiredId,
  statusText,
} from './operator-commands.ts';
import { agoText } from './time-text.ts';

/**
 * `mobius agent <action> <id>`: an operator's actions on one agent — reset its circuit breaker,
 * drain and resume it. Each is one call to the API (operators only on a deployed stack), printed
 * for a person, or as the API's body with `--json`. An unknown agent exits 2 naming the fix.
 */

/** The agent id argument, checked before any request. */
const agentIdOf = (value: string) => requiredId(value, 'agent id', 'mobius agents');

/** `mobius agent reset <id>`: closes the agent's circuit breaker and clears its failure count. */
export async function agentResetCommand(
  agentId: string,
  options: ApiOptions,
  io: Io,
): Promise<number> {
  const id = agentIdOf(agentId);
  const answer = await operatorCall(options.api ?? DEFAULT_API, { kind: 'agent', id }, io, (api) =>
    api.resetCircuit({ path: { id } }),
  );
  if (answer === undefined) return 1;
  if (options.json) printJson(answer.body, io);
  else {
    const { circuit } = answer.body;
    io.out(
      `${green('✔')} circuit of ${id} ${circuit.state === 'closed' ? green('closed') : yellow(circuit.state)}: ${circuit.consecutiveFailures} consecutive failures; it takes work again`,
    );
  }
  return 0;
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
  const id = agentIdOf(agentId);
  const answer = await operatorCall(options.api ?? DEFAULT_API, { kind: 'agent', id }, io, (api) =>
    api.drainAgent({ path: { id } }),
  );
  if (answer === undefined) return 1;
  if (options.json) printJson(answer.body, io);
  else {
    const { drainedAt, drainedBy } = answer.body;
    io.out(
      `${green('✔')} ${id} ${statusText('drained')} ${dim(`(since ${agoText(drainedAt, now)}, by ${drainedBy})`)}: it gets no new work; what it has in flight finishes`,
    );
    io.out(dim(`mobius agent resume ${id} gives it work again`));
  }
  return 0;
}

/** `mobius agent resume <id>`: lifts a drain; prints the status the agent has now. */
export async function agentResumeCommand(
  agentId: string,
  options: ApiOptions,
  io: Io,
): Promise<number> {
  const id = agentIdOf(agentId);
  const answer = await operatorCall(options.api ?? DEFAULT_API, { kind: 'agent', id }, io, (api) =>
    api.resumeAgent({ path: { id } }),
  );
  if (answer === undefined) return 1;
  if (options.json) printJson(answer.body, io);
  else io.out(`${green('✔')} ${id} resumed: ${statusText(answer.body.status)}`);
  return 0;
}
