import type { FieldIssue } from '../core/errors.ts';

/**
 * JSON-RPC 2.0 as A2A 1.0 uses it: every answer carries the request's `id`, errors carry an A2A
 * code and, in `data`, a `google.rpc.ErrorInfo` whose `reason` names it (the SDK's clients turn
 * that into typed errors such as TaskNotFoundError) — plus, for bad parameters, a
 * `google.rpc.BadRequest` naming each field path.
 */
export type JsonRpcId = string | number | null;

/** The A2A error codes Mobius answers with, and the ErrorInfo reason of each. */
export const A2A_ERRORS = {
  parseError: { code: -32700, reason: 'PARSE_ERROR' },
  invalidRequest: { code: -32600, reason: 'INVALID_REQUEST' },
  methodNotFound: { code: -32601, reason: 'METHOD_NOT_FOUND' },
  invalidParams: { code: -32602, reason: 'INVALID_PARAMS' },
  internal: { code: -32603, reason: 'INTERNAL_ERROR' },
  taskNotFound: { code: -32001, reason: 'TASK_NOT_FOUND' },
  taskNotCancelable: { code: -32002, reason: 'TASK_NOT_CANCELABLE' },
  pushNotificationNotSupported: { code: -32003, reason: 'PUSH_NOTIFICATION_NOT_SUPPORTED' },
  unsupportedOperation: { code: -32004, reason: 'UNSUPPORTED_OPERATION' },
  contentTypeNotSupported: { code: -32005, reason: 'CONTENT_TYPE_NOT_SUPPORTED' },
  versionNotSupported: { code: -32009, reason: 'VERSION_NOT_SUPPORTED' },
} as const;
export type A2aErrorKind = keyof typeof A2A_ERRORS;

const ERROR_INFO_TYPE = 'type.googleapis.com/google.rpc.ErrorInfo';
const BAD_REQUEST_TYPE = 'type.googleapis.com/google.rpc.BadRequest';
const A2A_ERROR_DOMAIN = 'a2a-protocol.org';

/** An error the A2A endpoint answers as a JSON-RPC error (HTTP 200), not as an HTTP status. */
export class A2aError extends Error {
  readonly kind: A2aErrorKind;
  /** For invalidParams and invalidRequest: each bad field, by its path in the request. */
  readonly issues: readonly FieldIssue[];

  constructor(kind: A2aErrorKind, message: string, issues: readonly FieldIssue[] = []) {
    super(message);
    this.name = 'A2aError';
    this.kind = kind;
    this.issues = issues;
  }
}

export interface JsonRpcErrorObject {
  readonly code: number;
  readonly message: string;
  readonly data: readonly Record<string, unknown>[];
}

export type JsonRpcResponse<R = unknown> =
  | { readonly jsonrpc: '2.0'; readonly id: JsonRpcId; readonly result: R }
  | { readonly jsonrpc: '2.0'; readonly id: JsonRpcId; readonly error: JsonRpcErrorObject };

export function rpcResult<R>(id: JsonRpcId, result: R): JsonRpcResponse<R> {
  return { jsonrpc: '2.0', id, result };
}

export function rpcError(id: JsonRpcId, error: A2aError): JsonRpcResponse<never> {
  const { code, reason } = A2A_ERRORS[error.kind];
  const data: Record<string, unknown>[] = [
    { '@type': ERROR_INFO_TYPE, reason, domain: A2A_ERROR_DOMAIN },
  ];
  if (error.issues.length > 0)
    data.push({
      '@type': BAD_REQUEST_TYPE,
      fieldViolations: error.issues.map((issue) => ({
        field: issue.path,
        description: issue.message,
      })),
    });
  return { jsonrpc: '2.0', id, error: { code, message: error.message, data } };
}

/** "message.parts: …; id: …": the issues in one line, for an error's message. */
export function describeIssues(issues: readonly FieldIssue[]): string {
  return issues
    .map((issue) => (issue.path === '' ? issue.message : `${issue.path}: ${issue.message}`))
    .join('; ');
}
