// Makes sure the browser the end-to-end tests drive is on the machine: Debian's chromium, which
// playwright-core (a dev dependency) starts from /usr/bin/chromium. Playwright's own browser
// download (`npx playwright install`) is not used: it needs hosts a closed network refuses, while
// apt-get reaches Debian's mirrors like any other package.
// Runs before the tests (`node scripts/browser-tools.ts`, Node 22 strips the types); a no-op when
// chromium is already installed or CHROMIUM names a browser to use instead.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** The Debian packages installed: the browser, and the fonts its pages and screenshots use. */
const PACKAGES = ['chromium', 'fonts-liberation'];

/**
 * The Chromium the tests start: CHROMIUM when set (a Chrome or Chromium binary on a machine
 * without apt-get), otherwise `chromium` on the PATH, as Debian's package installs it. Undefined
 * when there is none.
 */
export function chromiumExecutable(): string | undefined {
  const chosen = process.env.CHROMIUM;
  if (chosen) return chosen;
  const found = spawnSync('/bin/sh', ['-c', 'command -v chromium'], { encoding: 'utf8' });
  const path = found.status === 0 ? found.stdout.trim() : '';
  return path === '' ? undefined : path;
}

/** Why the install cannot run here, with the fix; undefined when it can. */
function cannotInstall(): string | undefined {
  const fix = `Install it yourself (Debian/Ubuntu: \`sudo apt-get install ${PACKAGES.join(' ')}\`), or set CHROMIUM to the path of a Chrome or Chromium binary, then run \`npm test\` again.`;
  if (process.platform !== 'linux' || !existsSync('/usr/bin/apt-get'))
    return `this machine has no apt-get to install Debian's chromium with. ${fix}`;
  if (process.getuid?.() !== 0)
    return `installing Debian's chromium needs root, and npm test runs as uid ${process.getuid?.()}. ${fix}`;
  return undefined;
}

/** apt-get, non-interactive, its progress on this process's output; throws with the fix. */
function aptGet(args: readonly string[]): void {
  console.log(`$ apt-get ${args.join(' ')}`);
  const result = spawnSync('apt-get', args, {
    stdio: ['ignore', 'inherit', 'inherit'],
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
  if (result.error || result.status !== 0)
    throw new Error(
      `apt-get ${args.join(' ')} failed (${result.error?.message ?? `exit ${result.status}`}). Check that Debian's mirrors are reachable and no other apt-get holds its lock, or install the packages yourself: \`apt-get install ${PACKAGES.join(' ')}\`.`,
    );
}

/** Installs chromium with apt-get when it is missing; returns whether it installed. */
export function ensureChromium(): boolean {
  if (chromiumExecutable()) return false;
  const reason = cannotInstall();
  if (reason) throw new Error(reason);
  const started = Date.now();
  console.log(
    `Installing Debian's chromium for the browser tests (about 80 MB to download, once per machine)…`,
  );
  // Waits up to two minutes for another apt-get (a machine's boot-time upgrade) to let go.
  const lock = ['-o', 'DPkg::Lock::Timeout=120'];
  aptGet(['update', '-q', ...lock]);
  aptGet(['install', '-y', '-q', '--no-install-recommends', ...lock, ...PACKAGES]);
  const path = chromiumExecutable();
  if (!path)
    throw new Error(
      `apt-get installed ${PACKAGES.join(' ')}, yet no chromium is on the PATH (${process.env.PATH}).`,
    );
  console.log(`Chromium ready at ${path} (${Math.round((Date.now() - started) / 1000)} s)`);
  return true;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  try {
    ensureChromium();
  } catch (error) {
    console.error(
      `\nCould not prepare the browser for the end-to-end tests: ${(error as Error).message}`,
    );
    process.exit(1);
  }
}
