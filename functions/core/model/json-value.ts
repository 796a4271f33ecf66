import * as z from 'zod';
import type { FieldIssue } from '../errors.ts';

/**
 * Any JSON value. One shared instance rather than a `z.json()` per field: the schema is recursive,
 * and a JSON Schema generator can only name a recursive schema it recognises (the OpenAPI document
 * refers to it as `JsonValue`); each fresh `z.json()` would be a nameless copy of its own.
 */
export const jsonValueSchema = z.json();

/**
 * How deep objects and arrays may nest in a request, counting the outermost value as level 1.
 * zod, JSON.stringify and the ASL interpreter all recurse once per level; at a few thousand levels
 * they overflow the stack. 64 is far beyond what payloads, cards and JSON Schemas need, and keeps
 * every later copy, wrap (envelopes, execution input) and serialisation of an accepted value well
 * inside the stack.
 */
export const MAX_JSON_DEPTH = 64;

/**
 * The first thing in a parsed JSON value that Mobius cannot carry, or undefined when there is none:
 * nesting deeper than `maxDepth`, or a `__proto__` key. JavaScript drops such a key (or turns it
 * into the object's prototype) the first time the object is copied by assignment — zod, spreads
 * into fresh objects, `Object.assign` — so it would vanish before an agent sees it; it is refused
 * instead, with its path.
 *
 * Iterative, with an explicit stack, so that it cannot overflow however deep the value is: it runs
 * before anything recursive (zod) sees the value. V8's JSON.parse is itself iterative.
 */
export function jsonShapeIssue(value: unknown, maxDepth = MAX_JSON_DEPTH): FieldIssue | undefined {
  interface Node {
    readonly value: unknown;
    readonly depth: number;
    readonly key: string | undefined;
    readonly parent: Node | undefined;
  }
  const pathOf = (node: Node | undefined, last?: string): string => {
    const keys: string[] = last === undefined ? [] : [last];
    for (let at = node; at?.key !== undefined; at = at.parent) keys.unshift(at.key);
    return keys.join('.');
  };
  const stack: Node[] = [{ value, depth: 1, key: undefined, parent: undefined }];
  for (let node = stack.pop(); node !== undefined; node = stack.pop()) {
    const current = node.value;
    if (current === null || typeof current !== 'object') continue;
    if (node.depth > maxDepth) {
      return {
        path: pathOf(node),
        message: `nested deeper than ${maxDepth} levels (objects and arrays, the body itself counting as one); flatten the data or send a reference to it`,
      };
    }
    if (Array.isArray(current)) {
      for (let i = current.length - 1; i >= 0; i--)
        stack.push({ value: current[i], depth: node.depth + 1, key: String(i), parent: node });
      continue;
    }
    const keys = Object.keys(current);
    for (let i = keys.length - 1; i >= 0; i--) {
      const key = keys[i] as string;
      if (key === '__proto__') {
        return {
          path: pathOf(node, key),
          message:
            '"__proto__" cannot be used as a key: JavaScript code on the way to the agent would drop it; rename it',
        };
      }
      stack.push({
        value: (current as Record<string, unknown>)[key],
        depth: node.depth + 1,
        key,
        parent: node,
      });
    }
  }
  return undefined;
}
