import { expect } from 'vitest';
import type { Io } from '../../functions/cli/io.ts';

/**
 * What the CLI's commands print, for tests that run them: colour codes removed (tests see no TTY,
 * but a command may still paint), kept by line or as whole text.
 */

// biome-ignore lint/suspicious/noControlCharactersInRegex: the colour codes the CLI may write
export const plain = (text: string) => text.replace(/\u001b\[[0-9;]*m/g, '');

/** An Io that keeps what a command printed: stdout by line, stderr by call. */
export function capture(): { io: Io; out: string[]; err: string[] } {
  const out: string[] = [];
  const err: string[] = [];
  return {
    out,
    err,
    io: { out: (t) => out.push(...plain(t).split('\n')), err: (t) => err.push(plain(t)) },
  };
}

/** An Io that keeps what a command printed, read back as text. */
export function printed(): { io: Io; stdout(): string; stderr(): string } {
  const out: string[] = [];
  const err: string[] = [];
  return {
    io: { out: (t) => out.push(plain(t)), err: (t) => err.push(plain(t)) },
    stdout: () => out.join('\n'),
    stderr: () => err.join('\n'),
  };
}

/** `--json` output of a command that must succeed (exit 0; its stderr says why not), parsed. */
export async function jsonOf<T>(command: (io: Io) => Promise<number>): Promise<T> {
  const { io, stdout, stderr } = printed();
  expect(await command(io), stderr()).toBe(0);
  return JSON.parse(stdout()) as T;
}
