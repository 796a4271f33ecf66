import { afterEach, beforeEach, vi } from 'vitest';

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
