import type { z } from 'zod';
import { type FieldIssue, ValidationError } from './errors.ts';
import { jsonShapeIssue } from './model/json-value.ts';

/** Turns zod issues into `{ path, message }` pairs with dotted paths (`capabilities.0.version`). */
export function toFieldIssues(error: z.ZodError): FieldIssue[] {
  return error.issues.map((issue) => ({
    path: issue.path.map(String).join('.'),
    message: issue.message,
  }));
}

/**
 * Parses `input` with `schema`, throwing a ValidationError that names every bad field.
 * `subject` reads naturally in the message: "Invalid agent card: capabilities.0.version: ...".
 */
export function parseWith<S extends z.ZodType>(
  schema: S,
  input: unknown,
  subject: string,
): z.output<S> {
  const result = schema.safeParse(input);
  if (!result.success) throw new ValidationError(subject, toFieldIssues(result.error));
  return result.data;
}

/**
 * parseWith for JSON that comes from outside — an HTTP body, a request file, a caller of the
 * embedded API — checked first for what zod cannot take (nesting that would overflow its
 * recursion) or would silently drop (`__proto__` keys): a ValidationError naming the path.
 */
export function parseExternal<S extends z.ZodType>(
  schema: S,
  input: unknown,
  subject: string,
): z.output<S> {
  const issue = jsonShapeIssue(input);
  if (issue !== undefined) throw new ValidationError(subject, [issue]);
  return parseWith(schema, input, subject);
}
