import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import ts from 'typescript';
import { beforeAll, describe, expect, it } from 'vitest';

/**
 * Every TypeScript sample in README.md and docs/**\/*.md compiles against the package's public
 * entry points, as a user's file would: `mobius-coordinator/<entry>` resolves to entry/<entry>.ts.
 * Each ```ts block is one standalone module (its own imports); a block that is not meant to
 * compile (a shell transcript, a fragment of output) must not be fenced as ts. ```json blocks
 * must parse.
 *
 * Links between the pages must lead somewhere: to a file that exists and, for a Markdown page, to
 * a heading it has.
 *
 * A sample whose first line is a path comment (`// agents/summarizer.ts`) is that file of one
 * example project the docs share, and each path may be written once across the docs. Other samples
 * import it by that path, as a file one folder down would (`../agents/summarizer.ts`).
 */

const root = join(import.meta.dirname, '..', '..');
/** Inside the repository, so the samples resolve the repository's own node_modules. */
const SAMPLES_DIR = join(root, 'node_modules', '.cache', 'doc-samples');
/** The example project; samples without a path sit in its samples/, as a bin/ or test/ file would. */
const PROJECT_DIR = join(SAMPLES_DIR, 'project');
const TS_FENCES = new Set(['ts', 'typescript', 'mts']);

interface Sample {
  /** Markdown file, relative to the repository root. */
  readonly file: string;
  /** Line of the sample's first code line in that file (1-based). */
  readonly line: number;
  readonly language: string;
  readonly code: string;
}

function markdownFiles(): string[] {
  const files = ['README.md'];
  const walk = (dir: string): void => {
    for (const entry of readdirSync(join(root, dir), { withFileTypes: true })) {
      const path = join(dir, entry.name);
      // docs/reference is TypeDoc's generated HTML.
      if (entry.isDirectory() && path !== join('docs', 'reference')) walk(path);
      else if (entry.isFile() && entry.name.endsWith('.md')) files.push(path);
    }
  };
  walk('docs');
  return files;
}

/** Fenced code blocks (``` or ~~~, any indentation), with the line their code starts on. */
function extractSamples(file: string, text: string): Sample[] {
  const samples: Sample[] = [];
  const lines = text.split('\n');
  let open: { fence: string; indent: number; language: string; start: number } | undefined;
  let body: string[] = [];
  for (const [index, line] of lines.entries()) {
    if (open === undefined) {
      const start = /^(\s*)(`{3,}|~{3,})\s*([\w-]*)/.exec(line);
      if (start) {
        open = {
          fence: start[2] ?? '```',
          indent: start[1]?.length ?? 0,
          language: (start[3] ?? '').toLowerCase(),
          start: index + 2,
        };
        body = [];
      }
    } else if (line.trim().startsWith(open.fence) && line.trim().replace(/[`~]/g, '') === '') {
      samples.push({ file, line: open.start, language: open.language, code: body.join('\n') });
      open = undefined;
    } else {
      body.push(line.slice(Math.min(open.indent, line.length - line.trimStart().length)));
    }
  }
  return samples;
}

const samples = markdownFiles().flatMap((file) =>
  extractSamples(file, readFileSync(join(root, file), 'utf8')),
);
const tsSamples = samples.filter((s) => TS_FENCES.has(s.language));
/** A sample that must fail, so that a broken sample is seen to be reported at its file and line. */
const BROKEN: Sample = {
  file: 'broken-fixture.md',
  line: 10,
  language: 'ts',
  code: "import { defineAgent } from 'mobius-coordinator/agent';\n\nconst agent: string = defineAgent;",
};
const jsonSamples = samples.filter((s) => s.language === 'json');

const label = (sample: Sample) => `${sample.file}:${sample.line}`;
const PROJECT_FILE = /^\/\/ ((?:[\w.-]+\/)*[\w.-]+\.ts)\s*$/;
/** The example-project path a sample names on its first line, if any. */
const projectPath = (sample: Sample) => PROJECT_FILE.exec(sample.code.split('\n')[0] ?? '')?.[1];
const fileFor = (sample: Sample) => {
  const path = projectPath(sample);
  return path === undefined
    ? join(PROJECT_DIR, 'samples', `${sample.file.replace(/[/\\.]/g, '_')}_L${sample.line}.ts`)
    : join(PROJECT_DIR, path);
};

/**
 * The project's compiler options, with `mobius-coordinator/*` mapped to the entry points, and the
 * project's ambient declarations (`declare module` for untyped dependencies).
 */
function projectConfig(): { options: ts.CompilerOptions; declarations: string[] } {
  const configFile = join(root, 'tsconfig.json');
  const { config, error } = ts.readConfigFile(configFile, ts.sys.readFile);
  if (error) throw new Error(ts.flattenDiagnosticMessageText(error.messageText, '\n'));
  const { options, fileNames } = ts.parseJsonConfigFileContent(
    config,
    ts.sys,
    root,
    undefined,
    configFile,
  );
  const declarations = fileNames.filter((name) => name.endsWith('.d.ts'));
  return {
    declarations,
    options: {
      ...options,
      noEmit: true,
      // A sample may declare what it shows without using it.
      noUnusedLocals: false,
      noUnusedParameters: false,
      paths: { 'mobius-coordinator/*': [join(root, 'entry', '*.ts')] },
    },
  };
}

describe('code samples in the docs', () => {
  const diagnostics = new Map<string, string[]>();

  beforeAll(() => {
    rmSync(SAMPLES_DIR, { recursive: true, force: true });
    mkdirSync(SAMPLES_DIR, { recursive: true });
    // ES modules, as in a project scaffolded by `mobius init` (top-level await, import.meta).
    writeFileSync(join(SAMPLES_DIR, 'package.json'), '{ "type": "module" }\n');
    const checked = [...tsSamples, BROKEN];
    for (const sample of checked) {
      mkdirSync(dirname(fileFor(sample)), { recursive: true });
      writeFileSync(fileFor(sample), `${sample.code}\n`);
    }
    const { options, declarations } = projectConfig();
    const program = ts.createProgram([...checked.map(fileFor), ...declarations], options);
    const all = [...program.getSyntacticDiagnostics(), ...program.getSemanticDiagnostics()];
    const byFile = new Map(checked.map((s) => [fileFor(s), s]));
    for (const diagnostic of [...program.getOptionsDiagnostics(), ...all]) {
      const message = ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n');
      const sample = diagnostic.file ? byFile.get(diagnostic.file.fileName) : undefined;
      if (diagnostic.file === undefined || sample === undefined) {
        // Not in a sample (an option, or a file the samples import): report it on every sample.
        const where = diagnostic.file ? relative(root, diagnostic.file.fileName) : 'options';
        for (const s of checked)
          diagnostics.set(label(s), [...(diagnostics.get(label(s)) ?? []), `${where}: ${message}`]);
        continue;
      }
      const { line, character } = ts.getLineAndCharacterOfPosition(
        diagnostic.file,
        diagnostic.start ?? 0,
      );
      const at = `${sample.file}:${sample.line + line}:${character + 1}`;
      const list = diagnostics.get(label(sample)) ?? [];
      list.push(`${at} TS${diagnostic.code}: ${message}`);
      diagnostics.set(label(sample), list);
    }
  }, 120_000);

  it('finds the samples, and reports a broken one at its file and line', () => {
    expect(tsSamples.length).toBeGreaterThan(10);
    expect(diagnostics.get(label(BROKEN))).toEqual([
      expect.stringMatching(
        /^broken-fixture\.md:12:7 TS2322: Type '.*' is not assignable to type 'string'/,
      ),
    ]);
  });

  it('writes each file of the example project once', () => {
    const seen = new Map<string, string>();
    for (const sample of tsSamples) {
      const path = projectPath(sample);
      if (path === undefined) continue;
      expect(seen.get(path), `${path} again at ${label(sample)}`).toBeUndefined();
      seen.set(path, label(sample));
    }
  });

  it.each(tsSamples.map((s) => [label(s), s] as const))('%s compiles', (_, sample) => {
    expect(diagnostics.get(label(sample)) ?? [], label(sample)).toEqual([]);
  });

  it.each(jsonSamples.map((s) => [label(s), s] as const))('%s is JSON', (_, sample) => {
    expect(() => JSON.parse(sample.code), label(sample)).not.toThrow();
  });
});

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens. */
function slug(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

/** The Markdown outside fenced blocks (blanked, so lines keep their numbers). */
function outsideFences(text: string): string[] {
  let fenced = false;
  return text.split('\n').map((line) => {
    if (/^\s*(`{3,}|~{3,})/.test(line)) {
      fenced = !fenced;
      return '';
    }
    return fenced ? '' : line;
  });
}

/** The prose: outside fenced blocks, inline code blanked. */
const prose = (text: string) => outsideFences(text).map((line) => line.replace(/`[^`]*`/g, '``'));

function anchorsOf(file: string): Set<string> {
  return new Set(
    outsideFences(readFileSync(join(root, file), 'utf8'))
      .filter((line) => /^#{1,6}\s/.test(line))
      .map((line) => slug(line.replace(/^#+\s+/, '').replace(/`/g, ''))),
  );
}

describe('links between the docs', () => {
  const links = markdownFiles().flatMap((file) =>
    prose(readFileSync(join(root, file), 'utf8')).flatMap((line, index) =>
      [...line.matchAll(/\]\(([^)\s]+)\)/g)]
        .map((match) => match[1] ?? '')
        .filter((target) => !/^[a-z]+:/i.test(target))
        .map((target) => ({ at: `${file}:${index + 1}`, file, target })),
    ),
  );

  it('finds the links', () => {
    expect(links.length).toBeGreaterThan(20);
  });

  it.each(links.map((l) => [`${l.at} → ${l.target}`, l] as const))('%s', (_, link) => {
    const [path = '', anchor] = link.target.split('#');
    const target = path === '' ? link.file : join(dirname(link.file), path);
    expect(existsSync(join(root, target)), `${link.at}: ${target} does not exist`).toBe(true);
    if (anchor !== undefined && target.endsWith('.md')) {
      expect([...anchorsOf(target)], `${link.at}: ${target} has no heading #${anchor}`).toContain(
        anchor,
      );
    }
  });
});
