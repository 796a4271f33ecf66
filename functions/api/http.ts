import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import type { z } from 'zod';
import { ValidationError } from '../core/errors.ts';
import { parseExternal, parseWith } from '../core/validation.ts';

export type ApiEvent = APIGatewayProxyEvent;
export type ApiResult = APIGatewayProxyResult;
export type RouteHandler = (event: ApiEvent) => Promise<ApiResult>;

export function json(statusCode: number, body: unknown): ApiResult {
  return {
    statusCode,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  };
}

/**
 * Parses the JSON body and validates it; an empty body counts as `{}` only when `optional`. Every
 * body passes here, so this is the one place that refuses what zod and the code after it cannot
 * take: nesting deeper than MAX_JSON_DEPTH (recursion would overflow the stack) and `__proto__`
 * keys (which would silently vanish). V8's JSON.parse is iterative, so any depth parses safely.
 */
export function parseBody<S extends z.ZodType>(
  event: ApiEvent,
  schema: S,
  subject: string,
  options: { optional?: boolean } = {},
): z.output<S> {
  const text =
    event.isBase64Encoded && event.body
      ? Buffer.from(event.body, 'base64').toString('utf8')
      : event.body;
  if (text === null || text === undefined || text.trim() === '') {
    if (options.optional) return parseWith(schema, {}, subject);
    throw new ValidationError(subject, [{ path: '', message: 'the request needs a JSON body' }]);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new ValidationError(subject, [
      { path: '', message: `the body is not valid JSON: ${(error as Error).message}` },
    ]);
  }
  return parseExternal(schema, parsed, subject);
}

export function pathParameter(event: ApiEvent, name: string): string {
  const raw = event.pathParameters?.[name] ?? '';
  try {
    return decodeURIComponent(raw);
  } catch {
    throw new ValidationError(`path parameter "${name}"`, [
      { path: name, message: `"${raw}" is not valid percent-encoding (encode "%" as %25)` },
    ]);
  }
}

export function query(event: ApiEvent): Record<string, string> {
  return Object.fromEntries(
    Object.entries(event.queryStringParameters ?? {}).filter(
      (entry): entry is [string, string] => entry[1] !== undefined,
    ),
  );
}
