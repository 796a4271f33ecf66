/**
 * The page's session with `mobius console`, which signs and forwards only the calls of the page
 * that opened its printed link (`/?token=…`). The token is good once: the page spends it at
 * start-up for a session, kept in this origin's localStorage — this port's alone, where a cookie
 * would go to every server on 127.0.0.1 — and sent with each API call. Served by `mobius dev`,
 * the page has no token and sends no session: that API signs nothing and asks for none.
 */

/** The header and path functions/cli/console-command.ts reads. */
const SESSION_HEADER = 'x-mobius-console-session';
const SESSION_PATH = '/console/session';
const STORAGE_KEY = 'mobius-console-session';

/**
 * What this module uses of the browser, typed here: it is also imported where there is no DOM
 * (the unit tests of api.ts, under the project's Node typecheck).
 */
interface Page {
  readonly location: { readonly href: string };
  readonly history: {
    readonly state: unknown;
    replaceState(state: unknown, unused: string, url: string): void;
  };
  readonly localStorage: {
    getItem(key: string): string | null;
    setItem(key: string, value: string): void;
  };
}
const page = globalThis as unknown as Page;

/** The session this page spent its link for, kept here only where the browser refuses storage. */
let unstored: string | undefined;

/**
 * The session, if the page has one: this page's own where storage refused it, else the stored
 * one — the newest any tab of this console's origin spent (a console restarted, its new link
 * opened in another tab).
 */
function session(): string | undefined {
  if (unstored !== undefined) return unstored;
  try {
    return page.localStorage.getItem(STORAGE_KEY) ?? undefined;
  } catch {
    return undefined;
  }
}

/** The headers that carry the session on an API call: none when the page has none. */
export function sessionHeaders(): Record<string, string> {
  const held = session();
  return held === undefined ? {} : { [SESSION_HEADER]: held };
}

/**
 * Spends the link's token, if the address has one: it leaves the address bar first (history is
 * rewritten, the route in the hash kept), then is sent once for the session. A token already spent
 * — the link opened again — leaves the session this browser holds. Resolves with what to tell the
 * operator when the page is left without a session (the console's refusal), else undefined.
 */
export async function startSession(): Promise<string | undefined> {
  const address = new URL(page.location.href);
  const token = address.searchParams.get('token');
  if (token === null) return undefined;
  address.searchParams.delete('token');
  page.history.replaceState(
    page.history.state,
    '',
    `${address.pathname}${address.search}${address.hash}`,
  );
  let refusal: string;
  try {
    const response = await fetch(SESSION_PATH, {
      method: 'POST',
      headers: { 'x-mobius-console-token': token },
    });
    const body = (await response.json().catch(() => undefined)) as
      | { session?: unknown; error?: { message?: unknown } }
      | undefined;
    if (response.ok && typeof body?.session === 'string') {
      try {
        page.localStorage.setItem(STORAGE_KEY, body.session);
      } catch {
        // Storage refused: this tab keeps the session; a reload needs a new link.
        unstored = body.session;
      }
      return undefined;
    }
    refusal =
      typeof body?.error?.message === 'string'
        ? body.error.message
        : `The console refused the link (${response.status}).`;
  } catch (error) {
    refusal = `Cannot reach mobius console (${(error as Error).message}): is it still running?`;
  }
  return session() === undefined ? refusal : undefined;
}
