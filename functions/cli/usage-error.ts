/**
 * A problem the caller can fix; its message says how. The CLI exits with code 2 on it. Its own
 * module, so that the API client (which throws it for missing credentials) stays free of the
 * CLI's request-file parsing.
 */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}
