import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import {
  type CoordinationRequest,
  coordinationRequestSchema,
} from '../../statemachines/request.ts';
import { ValidationError } from '../core/errors.ts';
import { parseExternal } from '../core/validation.ts';
import { issueList } from './format.ts';
import { UsageError } from './usage-error.ts';

// Where the CLI entry (bin/mobius.ts) imports it from.
export { UsageError };

/** Reads and validates a coordination request file, with messages that name the fix. */
export function readRequestFile(path: string): { request: CoordinationRequest; raw: unknown } {
  let text: string;
  try {
    text = readFileSync(resolve(path), 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new UsageError(
      code === 'ENOENT'
        ? `Cannot read ${path}: no such file. A request is a JSON file such as {"pattern":"pipeline","agents":["greeter","shouter"],"payload":{}} (mobius init writes requests/hello.json).`
        : `Cannot read ${path}: ${(error as Error).message}`,
    );
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new UsageError(
      `${path} is not valid JSON: ${(error as Error).message}. Check for trailing commas and unquoted keys.`,
    );
  }
  try {
    return { request: parseExternal(coordinationRequestSchema, raw, 'coordination request'), raw };
  } catch (error) {
    if (!(error instanceof ValidationError)) throw error;
    throw new UsageError(
      `${path} is not a valid coordination request:\n${issueList(error.issues)}`,
    );
  }
}
