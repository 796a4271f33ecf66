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

/** The stored session, if storage can be read (a browser may refuse it). */
function stored(): string | null {
  try {
    return page.localStorage.getItem(STORAGE_KEY);
  } catch {
    return null;
  }
}

/** The headers that carry the session on an API call: none when the page has none. */
export function sessionHeaders(): Record<string, string> {
  const session = stored();
  return session === null ? {} : { [SESSION_HEADER]: session };
}

/**
 * Spends the link's token, if the address has one: it leaves the address bar first (history is
 * rewritten, the route in the hash kept), then is sent once for the session. A token already spent
 * — the link opened again — leaves the session this browser holds; without one, the API calls'
 * 403 says which link to open.
 */
export async function startSession(): Promise<void> {
  const address = new URL(page.location.href);
  const token = address.searchParams.get('token');
  if (token === null) return;
  address.searchParams.delete('token');
  page.history.replaceState(
    page.history.state,
    '',
    `${address.pathname}${address.search}${address.hash}`,
  );
  try {
    const response = await fetch(SESSION_PATH, {
      method: 'POST',
      headers: { 'x-mobius-console-token': token },
    });
    if (!response.ok) return;
    const { session } = (await response.json()) as { session?: unknown };
    if (typeof session === 'string') page.localStorage.setItem(STORAGE_KEY, session);
  } catch {
    // No session: the page's calls are refused, and their 403 names the link to open.
  }
}
