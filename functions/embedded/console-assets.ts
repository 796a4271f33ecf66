import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';

/**
 * The web console's files: one HTML page, one script and one stylesheet, and the example requests
 * it offers to start. In this repository they are bundled with esbuild from console/ on the first
 * request that needs them (no build step: `npm run dev` and the tests serve the sources as they
 * are); the published package carries them prebuilt in dist/console (scripts/build-assets.ts), and
 * needs neither esbuild nor the view library at run time.
 *
 * Served at `/` and under `/console/` — paths the API does not use — by the embedded API server
 * (`mobius dev`) and by `mobius console --api`, so the page calls the API by relative path.
 */

/** A file of the console, ready to send. */
export interface ConsoleFile {
  readonly body: Buffer;
  readonly contentType: string;
  readonly cacheControl: string;
}

export interface ConsoleBundle {
  /** By URL path: `/`, `/console/app.<hash>.js`, `/console/app.<hash>.css`, `/console/examples`. */
  readonly files: ReadonlyMap<string, ConsoleFile>;
}

/** What a request for a console path is answered with. */
export interface ConsoleAnswer {
  readonly statusCode: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Buffer;
}

/**
 * Where the console's files are: this module is functions/embedded/ in the repository (console/
 * holds the sources) and dist/functions/embedded/ in the package (dist/console the prebuilt files).
 */
const CONSOLE_DIR = join(import.meta.dirname, '..', '..', 'console');
const SOURCE_ENTRY = join(CONSOLE_DIR, 'src', 'main.tsx');
const EXAMPLES_DIR = join(import.meta.dirname, '..', '..', 'examples', 'requests');
/** The prebuilt examples' file (the package has no examples/requests of its own). */
const EXAMPLES_FILE = 'examples.json';

/** Hashed names never change content: a year, immutable. The page itself is asked for anew. */
const IMMUTABLE = 'public, max-age=31536000, immutable';
const REVALIDATE = 'no-cache';

/**
 * The page may load only its own script and style and talk only to its own origin; no page may
 * frame it (its buttons drain agents and cancel runs).
 */
const PAGE_HEADERS = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-frame-options': 'DENY',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
} as const;

/** True for the paths the console answers (the rest is the API's). */
export function isConsolePath(path: string): boolean {
  return path === '/' || path === '/console' || path.startsWith('/console/');
}

let loading: Promise<ConsoleBundle> | undefined;

/**
 * The console's files, read or built once per process. A failed build is not kept: the next
 * request tries again (after the sources are fixed).
 */
export function consoleBundle(): Promise<ConsoleBundle> {
  loading ??= loadBundle().catch((error: unknown) => {
    loading = undefined;
    throw error;
  });
  return loading;
}

async function loadBundle(): Promise<ConsoleBundle> {
  if (existsSync(SOURCE_ENTRY)) return buildConsole();
  if (existsSync(join(CONSOLE_DIR, 'index.html'))) return readPrebuilt(CONSOLE_DIR);
  throw new Error(
    `The web console's files are missing: neither ${SOURCE_ENTRY} nor a prebuilt ${join(CONSOLE_DIR, 'index.html')} exists (reinstall the package).`,
  );
}

/**
 * The answer to GET or HEAD of a console file: the page, a hashed asset, the examples. Undefined
 * for any other method or path, which the caller answers as the API would (404, no route). Throws
 * when the bundle cannot be built or read (a 500).
 */
export async function consoleAnswer(
  method: string,
  path: string,
): Promise<ConsoleAnswer | undefined> {
  if ((method !== 'GET' && method !== 'HEAD') || !isConsolePath(path)) return undefined;
  const { files } = await consoleBundle();
  const file = files.get(path === '/console' ? '/' : path);
  if (file === undefined) return undefined;
  return {
    statusCode: 200,
    headers: {
      'content-type': file.contentType,
      'cache-control': file.cacheControl,
      'content-length': String(file.body.length),
      'x-content-type-options': 'nosniff',
      ...(file.contentType.startsWith('text/html') ? PAGE_HEADERS : {}),
    },
    body: method === 'HEAD' ? Buffer.alloc(0) : file.body,
  };
}

/** The console bundled from console/ with esbuild (a dev dependency of this repository). */
export async function buildConsole(): Promise<ConsoleBundle> {
  let esbuild: typeof import('esbuild');
  try {
    esbuild = await import('esbuild');
  } catch (error) {
    throw new Error(
      `The web console is built from ${CONSOLE_DIR} with esbuild, which is not installed (npm install): ${(error as Error).message}`,
    );
  }
  const result = await esbuild.build({
    entryPoints: { app: SOURCE_ENTRY, style: join(CONSOLE_DIR, 'styles.css') },
    bundle: true,
    minify: true,
    format: 'esm',
    target: 'es2022',
    platform: 'browser',
    jsx: 'automatic',
    jsxImportSource: 'preact',
    tsconfig: join(CONSOLE_DIR, 'tsconfig.json'),
    outdir: join(CONSOLE_DIR, 'out'),
    write: false,
    logLevel: 'silent',
    legalComments: 'none',
    banner: {
      js: '/*! Mobius console. Includes Preact (MIT License), Copyright (c) 2015-present Jason Miller, https://preactjs.com */',
    },
  });
  const script = result.outputFiles.find((f) => f.path.endsWith('.js'));
  const style = result.outputFiles.find((f) => f.path.endsWith('.css'));
  if (script === undefined || style === undefined)
    throw new Error('esbuild produced no script or stylesheet for the console');
  const template = readFileSync(join(CONSOLE_DIR, 'index.html'), 'utf8');
  return assemble(
    template,
    Buffer.from(script.contents),
    Buffer.from(style.contents),
    readExamples(),
  );
}

/** The example requests of examples/requests, by file name without `.json`. */
function readExamples(): { name: string; request: unknown }[] {
  if (!existsSync(EXAMPLES_DIR)) return [];
  return readdirSync(EXAMPLES_DIR)
    .filter((file) => file.endsWith('.json'))
    .sort()
    .map((file) => ({
      name: basename(file, '.json'),
      request: JSON.parse(readFileSync(join(EXAMPLES_DIR, file), 'utf8')) as unknown,
    }));
}

function assemble(
  template: string,
  script: Buffer,
  style: Buffer,
  examples: readonly { name: string; request: unknown }[],
): ConsoleBundle {
  const hash = (body: Buffer) => createHash('sha256').update(body).digest('hex').slice(0, 12);
  const scriptPath = `/console/app.${hash(script)}.js`;
  const stylePath = `/console/app.${hash(style)}.css`;
  const html = template.replace('%SCRIPT%', scriptPath).replace('%STYLE%', stylePath);
  const files = new Map<string, ConsoleFile>([
    [
      '/',
      {
        body: Buffer.from(html),
        contentType: 'text/html; charset=utf-8',
        cacheControl: REVALIDATE,
      },
    ],
    [
      scriptPath,
      { body: script, contentType: 'text/javascript; charset=utf-8', cacheControl: IMMUTABLE },
    ],
    [stylePath, { body: style, contentType: 'text/css; charset=utf-8', cacheControl: IMMUTABLE }],
    [
      '/console/examples',
      {
        body: Buffer.from(JSON.stringify({ examples })),
        contentType: 'application/json',
        cacheControl: REVALIDATE,
      },
    ],
  ]);
  return { files };
}

/**
 * Writes the console, built from its sources, to `dir` as the package carries it: index.html with
 * the hashed names filled in, the script and stylesheet under those names, and the examples.
 */
export async function writeConsole(dir: string): Promise<string[]> {
  const { files } = await buildConsole();
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const written: string[] = [];
  for (const [path, file] of files) {
    const name =
      path === '/'
        ? 'index.html'
        : path === '/console/examples'
          ? EXAMPLES_FILE
          : path.slice('/console/'.length);
    writeFileSync(join(dir, name), file.body);
    written.push(name);
  }
  return written;
}

/** The console as the package carries it (writeConsole's files). */
function readPrebuilt(dir: string): ConsoleBundle {
  const html = readFileSync(join(dir, 'index.html'));
  const files = new Map<string, ConsoleFile>([
    ['/', { body: html, contentType: 'text/html; charset=utf-8', cacheControl: REVALIDATE }],
  ]);
  for (const name of readdirSync(dir)) {
    const type = name.endsWith('.js')
      ? 'text/javascript; charset=utf-8'
      : name.endsWith('.css')
        ? 'text/css; charset=utf-8'
        : undefined;
    if (type !== undefined)
      files.set(`/console/${name}`, {
        body: readFileSync(join(dir, name)),
        contentType: type,
        cacheControl: IMMUTABLE,
      });
  }
  const examples = join(dir, EXAMPLES_FILE);
  files.set('/console/examples', {
    body: existsSync(examples) ? readFileSync(examples) : Buffer.from('{"examples":[]}'),
    contentType: 'application/json',
    cacheControl: REVALIDATE,
  });
  return { files };
}
