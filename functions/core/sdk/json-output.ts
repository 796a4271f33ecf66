import { FatalAgentError } from '../messaging/agent-errors.ts';
import type { TaskResult } from '../model/task.ts';

/** Any JSON value (zod's `z.json()`). */
export type JsonValue = TaskResult['output'];

/**
 * A handler's return value as the JSON it will travel as, or a FatalAgentError that says what is
 * not JSON and where. Lambda serialises a handler's result with JSON.stringify and Step Functions
 * only ever sees JSON, so the SDK applies the same rules before anything else reads the value:
 * `undefined` fields and functions vanish, `toJSON` runs (dates become strings). What JSON cannot
 * say — a BigInt, a circular reference — is the agent's bug, reported before any byte is written,
 * and fatal because a retry would return the same value.
 */
export function jsonOutput(value: unknown, agentId: string): JsonValue {
  if (value === undefined) return null;
  // The generator a handler itself returns is streamed (ChunkPump) and never gets here. One that
  // does came from elsewhere — returned by that generator, or nested in the output — and JSON
  // would make it `{}`, losing everything it yields without a word.
  if (isIterator(value)) {
    throw new FatalAgentError(
      `Agent ${agentId} returned ${Symbol.asyncIterator in value ? 'an async' : 'a'} generator ` +
        `as its output, which would travel as {} and lose what it yields. ${HOW_TO_STREAM}`,
    );
  }
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch {
    throw new FatalAgentError(
      `Agent ${agentId} returned a value that is not JSON: ${whyNotJson(value)}`,
    );
  }
  // A bare function or symbol stringifies to undefined, as `return undefined` would.
  if (text === undefined) return null;
  // A nested generator became `{}`: only then is the value walked to find one (cheap otherwise).
  if (text.includes('{}')) {
    const path = generatorIn(value, 'output', 0);
    if (path !== undefined) {
      throw new FatalAgentError(
        `Agent ${agentId} returned a generator at ${path}, which would travel as {} and lose ` +
          `what it yields. ${HOW_TO_STREAM}`,
      );
    }
  }
  return JSON.parse(text) as JsonValue;
}

const HOW_TO_STREAM =
  'To stream, `yield` each chunk from an `async function*` handler or call ' +
  '`await context.stream(chunk)`, and return the final value.';

/**
 * The path of a generator inside a value JSON.stringify accepted (it wrote `{}` for it), if any.
 * The walk follows what stringify saw: `toJSON` replacements, own enumerable keys. It cannot meet
 * a cycle, as stringify would have refused one.
 */
function generatorIn(value: unknown, path: string, depth: number): string | undefined {
  if (isIterator(value)) return path;
  if (value === null || typeof value !== 'object' || depth > MAX_DEPTH) return undefined;
  const json = (value as { toJSON?: unknown }).toJSON;
  if (typeof json === 'function') {
    const replaced: unknown = json.call(value);
    if (replaced !== value) return generatorIn(replaced, path, depth);
  }
  for (const [key, child] of Object.entries(value)) {
    const found = generatorIn(
      child,
      Array.isArray(value) ? `${path}[${key}]` : `${path}.${key}`,
      depth + 1,
    );
    if (found !== undefined) return found;
  }
  return undefined;
}

/** Where JSON.stringify gave up, in words and with a path (only called once it has failed). */
function whyNotJson(root: unknown): string {
  const ancestors: object[] = [];
  const visit = (value: unknown, path: string, depth: number): string | undefined => {
    if (typeof value === 'bigint') {
      return `a BigInt at ${path} (return it as a string or a number)`;
    }
    if (value === null || typeof value !== 'object') return undefined;
    if (ancestors.includes(value)) return `a circular reference at ${path}`;
    if (depth > MAX_DEPTH) return `it nests deeper than ${MAX_DEPTH} levels at ${path}`;
    const json = (value as { toJSON?: unknown }).toJSON;
    if (typeof json === 'function') {
      let replaced: unknown;
      try {
        replaced = json.call(value);
      } catch (error) {
        return `toJSON() threw at ${path}: ${error instanceof Error ? error.message : String(error)}`;
      }
      if (replaced !== value) return visit(replaced, path, depth);
    }
    ancestors.push(value);
    try {
      for (const [key, child] of Object.entries(value)) {
        const found = visit(
          child,
          Array.isArray(value) ? `${path}[${key}]` : `${path}.${key}`,
          depth + 1,
        );
        if (found !== undefined) return found;
      }
    } finally {
      ancestors.pop();
    }
    return undefined;
  };
  return visit(root, 'output', 0) ?? 'JSON.stringify refused it';
}

/** Deeper than this, JSON.stringify runs out of stack long before: report the depth itself. */
const MAX_DEPTH = 2_000;

function isIterator(value: unknown): value is object {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { next?: unknown }).next === 'function' &&
    (Symbol.asyncIterator in value || Symbol.iterator in value)
  );
}
