/**
 * The project's error vocabulary. Domain code throws these; the API maps `code` to an HTTP status
 * in exactly one place (functions/api/http-errors.ts) and the agent SDK maps them to the error names
 * the compiled state machines retry and catch on.
 */

export type ErrorCode =
  | 'VALIDATION_FAILED'
  | 'NOT_FOUND'
  | 'CONFLICT'
  | 'PAYLOAD_TOO_LARGE'
  | 'AGENT_FAILED'
  | 'NO_AGENT_AVAILABLE'
  | 'TIMEOUT'
  | 'PROTOCOL_UNSUPPORTED'
  | 'CAPACITY_EXCEEDED'
  | 'FORBIDDEN'
  | 'EVENTS_NOT_CONFIGURED';

/** One problem with one input field, addressed by its path (`capabilities.0.version`). */
export interface FieldIssue {
  readonly path: string;
  readonly message: string;
}

export abstract class MobiusError extends Error {
  abstract readonly code: ErrorCode;
  readonly details: Record<string, unknown>;

  constructor(message: string, details: Record<string, unknown> = {}, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
    this.details = details;
  }
}

/** Input failed its schema. `issues` names every bad field and what would fix it. */
export class ValidationError extends MobiusError {
  readonly code = 'VALIDATION_FAILED';
  readonly issues: readonly FieldIssue[];

  constructor(subject: string, issues: readonly FieldIssue[]) {
    const first = issues[0];
    const summary = first ? `${first.path || '(root)'}: ${first.message}` : 'invalid input';
    const more = issues.length > 1 ? ` (and ${issues.length - 1} more)` : '';
    super(`Invalid ${subject}: ${summary}${more}`, { issues });
    this.issues = issues;
  }
}

export class NotFoundError extends MobiusError {
  readonly code = 'NOT_FOUND';
}

export class ConflictError extends MobiusError {
  readonly code = 'CONFLICT';
}

export class PayloadTooLargeError extends MobiusError {
  readonly code = 'PAYLOAD_TOO_LARGE';
}

export class ProtocolUnsupportedError extends MobiusError {
  readonly code = 'PROTOCOL_UNSUPPORTED';
}

/** An agent ran and failed. `retryable` tells callers (and the state machines) whether to try again. */
export class AgentFailedError extends MobiusError {
  readonly code = 'AGENT_FAILED';
}

export class NoAgentAvailableError extends MobiusError {
  readonly code = 'NO_AGENT_AVAILABLE';
}

export class TimeoutError extends MobiusError {
  readonly code = 'TIMEOUT';
}

/**
 * A limit refused the work for now: Step Functions' quotas or throttling, or Mobius's own admission
 * control. `retryAfterSeconds` is when trying again makes sense (the API's `Retry-After`).
 */
export class CapacityExceededError extends MobiusError {
  readonly code = 'CAPACITY_EXCEEDED';
  readonly retryAfterSeconds: number;

  constructor(
    message: string,
    details: Record<string, unknown> = {},
    options?: ErrorOptions & { retryAfterSeconds?: number },
  ) {
    super(message, details, options);
    this.retryAfterSeconds = options?.retryAfterSeconds ?? 1;
  }
}

/**
 * Live coordination events were asked of a deployment that keeps no coordination event log: the
 * message names the setting, as the answer is the only place its user would learn it.
 */
export class EventsNotConfiguredError extends MobiusError {
  readonly code = 'EVENTS_NOT_CONFIGURED';
}

/** The caller is known but may not do this (not the card's owner, not an operator). */
export class ForbiddenError extends MobiusError {
  readonly code = 'FORBIDDEN';
}

export function isMobiusError(error: unknown): error is MobiusError {
  return error instanceof MobiusError;
}
