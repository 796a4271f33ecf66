import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  agentDeadLettersCommand,
  agentQueueCommand,
  agentRedriveCommand,
} from '../../functions/cli/agent-commands.ts';
import { sendCommand } from '../../functions/cli/stream-commands.ts';
import { UsageError } from '../../functions/cli/usage-error.ts';
import { FatalAgentError } from '../../functions/core/messaging/agent-errors.ts';
import type { AgentDefinition } from '../../functions/core/sdk/define-agent.ts';
import { EmbeddedRuntime } from '../../functions/embedded/runtime.ts';
import { jsonOf, printed } from '../support/cli-io.ts';
import { eventually } from '../support/poll.ts';

/**
 * `mobius agent queue`, `dead-letters` and `redrive` against a running `mobius dev` (an embedded
 * runtime with its API on a loopback port, its agents' queues on its SQS server): a message an
 * agent refused is seen in its dead-letter queue, looked at without being consumed, and moved
 * back once the agent is fixed, which then handles it.
 */
let runtime: EmbeddedRuntime;
let api: string;

/** The picky agent refuses every message while broken (FatalAgentError: parked in its DLQ). */
let broken = true;
const handledByPicky: unknown[] = [];

const agents: AgentDefinition[] = [
  {
    agentId: 'echo',
    agentType: 'echo',
    description: 'echoes its input',
    capabilities: [{ name: 'echoing', version: '1.0.0' }],
    handler: async (message) => ({ input: message.input }),
  },
  {
    agentId: 'picky',
    agentType: 'picky',
    description: 'refuses messages until fixed',
    capabilities: [{ name: 'picking', version: '1.0.0' }],
    handler: async (message) => {
      if (broken) throw new FatalAgentError('picky is broken today');
      handledByPicky.push(message.input);
      return { ok: true };
    },
  },
];

beforeAll(async () => {
  runtime = await EmbeddedRuntime.start({ agents, port: 0 });
  api = runtime.apiUrl ?? '';
}, 60_000);

afterAll(async () => {
  await runtime?.stop();
});

describe('mobius agent queue, dead-letters and redrive', () => {
  type Queue = {
    depth: number;
    inFlight: number;
    deadLetter: { depth: number; queueUrl: string } | null;
  };
  const queueOf = (agentId: string) =>
    jsonOf<Queue>((io) => agentQueueCommand(agentId, { api, json: true }, io));

  it('follows a message the agent refused into its dead-letter queue, and back once it is fixed', async () => {
    const sent = printed();
    expect(await sendCommand('picky', '{"order":42}', { api }, sent.io)).toBe(0);
    // The agent parks what it cannot handle in its dead-letter queue at once, and nothing is left
    // in its queue. (On a machine slow enough for the handling to outlast the embedded queue's
    // 2 s visibility timeout, the message shows as waiting again until its handling ends and the
    // poller, which receives no more meanwhile, deletes it: the figures settle a moment later.)
    const parked = await eventually(
      () => queueOf('picky'),
      (queue) => queue.deadLetter?.depth === 1 && queue.depth === 0 && queue.inFlight === 0,
    );
    expect(parked).toMatchObject({ depth: 0, inFlight: 0, deadLetter: { depth: 1 } });

    const report = printed();
    expect(await agentQueueCommand('picky', { api }, report.io)).toBe(0);
    expect(report.stdout()).toMatch(/^dead letters {2}1 \(http:\/\/127\.0\.0\.1:\d+\/.+\)$/m);
    expect(report.stdout()).toContain('mobius agent redrive picky moves them back to the queue');

    // Looked at twice: peeking leaves it where it is (each look is a receive SQS counts).
    for (let look = 0; look < 2; look++) {
      const { io, stdout } = printed();
      expect(await agentDeadLettersCommand('picky', { api, limit: '5' }, io)).toBe(0);
      const lines = stdout().split('\n');
      expect(lines[0]).toMatch(/^1 dead letter for picky \(.+; showing 1, left where they are\)$/);
      expect(lines[2]).toMatch(
        /^[\w-]+ +(just now|\d+ s ago) +\d+ +picky is broken today +request from api: \{"order":42\}$/,
      );
    }
    const letters = await jsonOf<{ messages: { attributes: Record<string, string> }[] }>((io) =>
      agentDeadLettersCommand('picky', { api, json: true }, io),
    );
    expect(letters.messages[0]?.attributes['mobius-error']).toBe('picky is broken today');

    broken = false;
    const redrive = printed();
    expect(await agentRedriveCommand('picky', { api }, redrive.io)).toBe(0);
    expect(redrive.stdout()).toMatch(/^✔ moving (1 dead letter|the dead letters) of picky back/);
    await eventually(
      async () => handledByPicky.length,
      (count) => count === 1,
    );
    expect(handledByPicky).toEqual([{ order: 42 }]);
    expect((await queueOf('picky')).deadLetter?.depth).toBe(0);
  });

  it('says so when there is nothing parked', async () => {
    const { io, stdout } = printed();
    expect(await agentDeadLettersCommand('echo', { api }, io)).toBe(0);
    expect(stdout()).toMatch(/^No dead letters for echo \(.+, depth 0\)\.$/);
  });

  it('names the fix for an unknown agent, before printing anything', async () => {
    for (const command of [agentQueueCommand, agentDeadLettersCommand, agentRedriveCommand]) {
      const { io, stdout, stderr } = printed();
      const error = await command('ghost', { api }, io).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(UsageError);
      expect((error as Error).message).toBe(
        `No agent ghost at ${api}. \`mobius agents --api ${api}\` lists the agents it knows.`,
      );
      expect(stdout() + stderr()).toBe('');
    }
  });
});
