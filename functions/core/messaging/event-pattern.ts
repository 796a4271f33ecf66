/**
 * EventBridge event-pattern matching: the one implementation the project uses wherever it has to
 * decide routing itself (the embedded runtime's EventBridge adapter). The integration tests run the
 * same patterns and events through moto's EventBridge rule engine and require identical decisions.
 *
 * Supported (the subset of the EventBridge pattern language this project generates and accepts in
 * subscription filters): exact values (string, number, boolean, null), `prefix`, `suffix`,
 * `equals-ignore-case`, `anything-but` (value, list or `{ prefix }`), `exists`, `numeric`
 * comparisons, nested objects, and `$or`. Anything else is rejected when the pattern is checked.
 */

export type EventPattern = { readonly [field: string]: unknown };

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

const OPERATORS = new Set([
  'prefix',
  'suffix',
  'equals-ignore-case',
  'anything-but',
  'exists',
  'numeric',
]);

/** Why `pattern` is not a valid pattern, or null when it is. */
export function patternProblem(pattern: unknown, path = ''): string | null {
  if (pattern === null || typeof pattern !== 'object' || Array.isArray(pattern)) {
    return `${path || 'pattern'} must be an object`;
  }
  for (const [key, value] of Object.entries(pattern)) {
    const at = path ? `${path}.${key}` : key;
    if (key === '$or') {
      if (!Array.isArray(value) || value.length < 2) return `${at} must list at least two patterns`;
      for (const [i, alternative] of value.entries()) {
        const problem = patternProblem(alternative, `${at}.${i}`);
        if (problem) return problem;
      }
    } else if (Array.isArray(value)) {
      if (value.length === 0) return `${at} must list at least one value`;
      for (const matcher of value) {
        if (matcher !== null && typeof matcher === 'object') {
          const [operator, ...rest] = Object.keys(matcher);
          if (operator === undefined || rest.length > 0 || !OPERATORS.has(operator)) {
            return `${at}: unsupported matcher ${JSON.stringify(matcher)}; use values, prefix, suffix, equals-ignore-case, anything-but, exists or numeric`;
          }
        }
      }
    } else if (value !== null && typeof value === 'object') {
      const problem = patternProblem(value, at);
      if (problem) return problem;
    } else {
      return `${at} must be an array of values or a nested pattern object`;
    }
  }
  return null;
}

/** Does `event` match `pattern`, as EventBridge would decide? */
export function matchesPattern(pattern: EventPattern, event: unknown): boolean {
  return Object.entries(pattern).every(([key, expected]) => {
    if (key === '$or') {
      return (expected as EventPattern[]).some((alternative) => matchesPattern(alternative, event));
    }
    const present =
      event !== null && typeof event === 'object' && !Array.isArray(event) && key in event;
    const actual = present ? (event as Record<string, Json>)[key] : undefined;
    if (Array.isArray(expected)) return matchesField(expected, actual, present);
    // A nested pattern only matches a nested object.
    return present && actual !== null && typeof actual === 'object' && !Array.isArray(actual)
      ? matchesPattern(expected as EventPattern, actual)
      : false;
  });
}

function matchesField(
  matchers: readonly unknown[],
  actual: Json | undefined,
  present: boolean,
): boolean {
  // An array in the event matches when any of its elements does.
  const values: (Json | undefined)[] = Array.isArray(actual) ? actual : [actual];
  return matchers.some((matcher) => {
    if (matcher !== null && typeof matcher === 'object') {
      const [[operator, argument]] = Object.entries(matcher) as [[string, unknown]];
      if (operator === 'exists') return argument === present;
      if (!present) return false;
      return values.some(
        (value) => value !== undefined && matchesOperator(operator, argument, value),
      );
    }
    return present && values.some((value) => value === matcher);
  });
}

function matchesOperator(operator: string, argument: unknown, value: Json): boolean {
  switch (operator) {
    case 'prefix':
      return typeof value === 'string' && value.startsWith(String(argument));
    case 'suffix':
      return typeof value === 'string' && value.endsWith(String(argument));
    case 'equals-ignore-case':
      return typeof value === 'string' && value.toLowerCase() === String(argument).toLowerCase();
    case 'anything-but': {
      if (argument !== null && typeof argument === 'object' && !Array.isArray(argument)) {
        const prefix = (argument as { prefix?: unknown }).prefix;
        return typeof value === 'string' && typeof prefix === 'string' && !value.startsWith(prefix);
      }
      const excluded = Array.isArray(argument) ? argument : [argument];
      return !excluded.includes(value);
    }
    case 'numeric':
      return typeof value === 'number' && numericMatches(argument as unknown[], value);
    default:
      return false;
  }
}

function numericMatches(conditions: readonly unknown[], value: number): boolean {
  for (let i = 0; i + 1 < conditions.length; i += 2) {
    const operator = conditions[i];
    const bound = Number(conditions[i + 1]);
    const ok =
      operator === '='
        ? value === bound
        : operator === '>'
          ? value > bound
          : operator === '>='
            ? value >= bound
            : operator === '<'
              ? value < bound
              : operator === '<='
                ? value <= bound
                : false;
    if (!ok) return false;
  }
  return true;
}
