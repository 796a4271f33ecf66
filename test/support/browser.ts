import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import { chromiumExecutable } from '../../scripts/browser-tools.ts';

/**
 * Switches for headless Chromium on a machine with a closed network (ECOSYSTEM.md): without the
 * background-networking ones Chromium keeps calling Google's hosts, and the refusals pile up.
 * `--headless` and `--user-data-dir` are Playwright's to pass (headless: true, the profile folder).
 */
export const CHROMIUM_SWITCHES = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** A desktop window as the README's screenshots show it. */
export const VIEWPORT = { width: 1280, height: 800 };

export interface HeadlessBrowser {
  readonly context: BrowserContext;
  /** A new tab. */
  page(): Promise<Page>;
  /** Closes the browser and removes its profile; safe to call twice. */
  close(): Promise<void>;
}

/**
 * Debian's chromium, headless, with a fresh profile in a temporary folder: nothing a previous run
 * left (cookies, storage, cache) reaches the tests. Installed by `npm test`
 * (scripts/browser-tools.ts); CHROMIUM names another binary.
 */
export async function launchBrowser(): Promise<HeadlessBrowser> {
  const executablePath = chromiumExecutable();
  if (!executablePath)
    throw new Error(
      'No chromium on the PATH: run `node scripts/browser-tools.ts` (npm test does) or set CHROMIUM to a Chrome or Chromium binary.',
    );
  const profile = mkdtempSync(join(tmpdir(), 'mobius-chromium-'));
  let context: BrowserContext;
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath,
      headless: true,
      args: CHROMIUM_SWITCHES,
      viewport: VIEWPORT,
      timeout: 30_000,
    });
  } catch (error) {
    rmSync(profile, { recursive: true, force: true });
    throw error;
  }
  // Bounded waits everywhere: a missing element fails its test within seconds, not the 30 s default.
  context.setDefaultTimeout(10_000);
  let closed: Promise<void> | undefined;
  return {
    context,
    page: () => context.newPage(),
    close: () => {
      closed ??= context.close().finally(() => rmSync(profile, { recursive: true, force: true }));
      return closed;
    },
  };
}
