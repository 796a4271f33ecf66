import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Envelope } from '../../functions/core/messaging/envelope.ts';
import type { AgentDefinition } from '../../functions/core/sdk/define-agent.ts';
import { EmbeddedRuntime, SHUTDOWN_GRACE_MS } from '../../functions/embedded/runtime.ts';

/**
 * The embedded runtime's agent queues as a user meets them: an agent marked `ordered` receives a
 * conversation's messages in the order they were sent, as on AWS (FIFO queue, message group =
 * conversation), and the runtime — in process or as `mobius dev` — stops within its bound however
 * long agents hang.
 */
const ROOT = join(import.meta.dirname, '..', '..');

/** SIGTERM to exit, for `mobius dev` with an agent that never returns (issue 15, item 18). */
const STOP_BOUND_MS = 6000;

const heard = new Map<string, number[]>();
const sequencer: AgentDefinition = {
  agentId: 'sequencer',
  agentType: 'test',
  description: 'records the order messages of each conversation arrive in',
  capabilities: [{ name: 'sequencing', version: '1.0.0' }],
  handler: async (message) => {
    const envelope = message.envelope as Envelope;
    // Work of varying length, as real agents do: handled in parallel, messages would overtake.
    await sleep(Math.random() * 8);
    const seen = heard.get(envelope.conversationId) ?? [];
    seen.push((envelope.payload as { seq: number }).seq);
    heard.set(envelope.conversationId, seen);
    return {};
  },
};

async function until(check: () => boolean, what: string, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

describe('an ordered agent in the embedded runtime', () => {
  let runtime: EmbeddedRuntime;

  beforeAll(async () => {
    runtime = await EmbeddedRuntime.start({ agents: [sequencer], ordered: ['sequencer'], port: 0 });
  }, 60_000);

  afterAll(async () => {
    await runtime?.stop();
  });

  async function send(conversationId: string, seq: number): Promise<void> {
    const response = await fetch(`${runtime.apiUrl}/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ to: 'sequencer', conversationId, payload: { seq } }),
    });
    expect(response.status).toBe(202);
  }

  it('has a FIFO queue', () => {
    expect(runtime.agents.find((a) => a.agentId === 'sequencer')?.queueUrl).toMatch(/\.fifo$/);
  });

  it('receives 50 messages of one conversation in the order they were sent', async () => {
    for (let seq = 0; seq < 50; seq++) await send('one', seq);
    await until(() => (heard.get('one')?.length ?? 0) >= 50, '50 messages');
    expect(heard.get('one')).toEqual(Array.from({ length: 50 }, (_, i) => i));
  });

  it('keeps each of two interleaved conversations in order', async () => {
    for (let seq = 0; seq < 25; seq++) {
      await send('left', seq);
      await send('right', seq);
    }
    await until(
      () => (heard.get('left')?.length ?? 0) >= 25 && (heard.get('right')?.length ?? 0) >= 25,
      'both conversations',
    );
    const inOrder = Array.from({ length: 25 }, (_, i) => i);
    expect(heard.get('left')).toEqual(inOrder);
    expect(heard.get('right')).toEqual(inOrder);
  });

  it('refuses to mark an agent it does not run as ordered, naming the field', async () => {
    await expect(
      EmbeddedRuntime.start({ agents: [sequencer], ordered: ['sequencer', 'sequenser'] }),
    ).rejects.toThrow(/ordered\.1: "sequenser" is not one of the agents \(sequencer\)/);
  });
});

describe('stopping with agents that hang', () => {
  it('runtime.stop() resolves after the grace period, with the handler still hung', async () => {
    let entered = false;
    const stuck: AgentDefinition = {
      agentId: 'stuck',
      agentType: 'test',
      description: 'never finishes a queued message',
      capabilities: [{ name: 'hanging', version: '1.0.0' }],
      handler: async (message) => {
        if (message.envelope === undefined) return {}; // the registration ping
        entered = true;
        return new Promise(() => {});
      },
    };
    const runtime = await EmbeddedRuntime.start({ agents: [stuck], port: 0 });
    const response = await fetch(`${runtime.apiUrl}/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ to: 'stuck', payload: {} }),
    });
    expect(response.status).toBe(202);
    await until(() => entered, 'the agent to start on the message');
    const started = performance.now();
    await runtime.stop();
    const ms = performance.now() - started;
    console.log(`runtime.stop() with a hung agent: ${ms.toFixed(0)} ms`);
    expect(ms).toBeGreaterThanOrEqual(SHUTDOWN_GRACE_MS - 50);
    expect(ms).toBeLessThan(STOP_BOUND_MS);
  }, 60_000);

  describe('`mobius dev` in a process of its own', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mobius-hang-'));

    afterAll(() => {
      rmSync(dir, { recursive: true, force: true });
    });

    it.each(['SIGTERM', 'SIGINT'] as const)(
      'exits 0 within 6 s of %s while an agent hangs',
      async (signal) => {
        // A user's agents module: plain definitions, one of which never returns.
        const module = join(dir, `agents-${signal}.mjs`);
        writeFileSync(
          module,
          `export const agents = [{
  agentId: 'stuck', agentType: 'test', description: 'never returns',
  capabilities: [{ name: 'hanging', version: '1.0.0' }],
  handler: (message) => {
    if (message.envelope === undefined) return {};
    process.stderr.write('stuck: handling\\n');
    return new Promise(() => {});
  },
}];\n`,
        );
        const proc = spawn(
          process.execPath,
          [join(ROOT, 'bin', 'mobius.mjs'), 'dev', '--port', '0', '--agents', module],
          { cwd: ROOT, env: { ...process.env, NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] },
        );
        // Each case kills its own child if it is still running, whatever failed.
        try {
          let stdout = '';
          let stderr = '';
          proc.stdout?.on('data', (chunk: Buffer) => {
            stdout += chunk.toString();
          });
          proc.stderr?.on('data', (chunk: Buffer) => {
            stderr += chunk.toString();
          });
          const exited = new Promise<number | null>((resolve) => proc.on('exit', resolve));
          await until(
            () => stdout.includes('Ctrl-C to stop'),
            `mobius dev to start (${stderr})`,
            60_000,
          );
          const url = /at (http:\/\/127\.0\.0\.1:\d+)/.exec(stdout)?.[1];
          expect(url, stdout).toBeDefined();
          const response = await fetch(`${url}/messages`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ to: 'stuck', payload: {} }),
          });
          expect(response.status).toBe(202);
          await until(
            () => stderr.includes('stuck: handling'),
            'the agent to start on the message',
          );

          const signalled = performance.now();
          proc.kill(signal);
          const code = await Promise.race([
            exited,
            sleep(STOP_BOUND_MS + 4000).then(() => 'still running'),
          ]);
          const ms = performance.now() - signalled;
          console.log(
            `mobius dev, ${signal} with a hung agent: exited ${code} after ${ms.toFixed(0)} ms`,
          );
          expect(code, stderr).toBe(0);
          expect(ms).toBeLessThan(STOP_BOUND_MS);
        } finally {
          if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
        }
      },
      90_000,
    );
  });
});
