import { afterEach, beforeEach, vi } from 'vitest';
import type { Io } from '../../functions/cli/io.ts';

/**
 * The CLI's commands without a running API: fetch replaced for each test of the file that calls
 * scriptedApi(), answering from `answers` in order (an unscripted request gets a 500) and noting
 * every request in `asked`. Both are set anew before each test.
 */
export interface ScriptedApi {
  asked: { method: string; url: string }[];
  answers: { status: number; body: unknown }[];
}

export function scriptedApi(): ScriptedApi {
  const api: ScriptedApi = { asked: [], answers: [] };
  beforeEach(() => {
    api.asked = [];
    api.answers = [];
    vi.stubGlobal(
      'fetch',
      vi.fn(async (url: URL | string, init: RequestInit) => {
        api.asked.push({ method: String(init.method), url: String(url) });
        const answer = api.answers.shift() ?? {
          status: 500,
          body: { error: { message: 'unscripted' } },
        };
        return new Response(JSON.stringify(answer.body), { status: answer.status });
      }),
    );
  });
  afterEach(() => {
    vi.unstubAllGlobals();
  });
  return api;
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: the colour codes the CLI may write
export const plain = (text: string) => text.replace(/\u001b\[[0-9;]*m/g, '');

/** An Io that keeps what a command printed, colour codes removed: stdout by line, stderr whole. */
export function capture(): { io: Io; out: string[]; err: string[] } {
  const out: string[] = [];
  const err: string[] = [];
  return {
    out,
    err,
    io: { out: (t) => out.push(...plain(t).split('\n')), err: (t) => err.push(plain(t)) },
  };
}
