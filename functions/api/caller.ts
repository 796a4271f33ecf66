import { ForbiddenError } from '../core/errors.ts';
import { type Caller, LOCAL_OPERATOR, normalisePrincipal } from '../core/registry/ownership.ts';
import type { ApiEvent } from './http.ts';

/**
 * How the API knows who calls it. `iam`: behind API Gateway with IAM authorisation, the caller is
 * the principal that signed the request (`requestContext.identity.userArn`), and operators are the
 * principals the deployment names. `local`: the embedded runtime, which listens on loopback and
 * checks no signatures, so every caller is the one local operator (`mobius dev` stays usable).
 */
export type AccessSettings =
  | {
      readonly mode: 'iam';
      /** Principals (role or user ARNs, with or without IAM paths) who may change any card. */
      readonly operators: readonly string[];
      /**
       * Who a request without an IAM identity is. On AWS, IAM authorisation gives every request
       * one, so this stays unset and such a request is refused. LocalStack's API Gateway passes no
       * identity (it checks no signatures), so a deployment there sets the local operator.
       */
      readonly anonymous?: Caller;
    }
  | { readonly mode: 'local' };

export const LOCAL_ACCESS: AccessSettings = { mode: 'local' };

/**
 * The caller of one request. Fails closed: in `iam` mode a request without an IAM identity (which
 * API Gateway's IAM authorisation always supplies) is refused; in `local` mode a request that
 * carries one came through API Gateway, which means the deployed function lost its settings, and
 * it is refused too rather than treated as the local operator.
 */
export function callerOf(event: ApiEvent, access: AccessSettings): Caller {
  const identity = event.requestContext?.identity as
    | { userArn?: string | null; accountId?: string | null }
    | undefined;
  const userArn = identity?.userArn ?? undefined;
  if (access.mode === 'local') {
    if (userArn !== undefined || (identity?.accountId ?? undefined) !== undefined) {
      throw new ForbiddenError(
        'This API runs with local access settings but the request came with an IAM identity; ' +
          'the deployed API must be configured with its operators (see docs/security.md).',
        {},
      );
    }
    return LOCAL_OPERATOR;
  }
  if (userArn === undefined || userArn.length === 0) {
    if (access.anonymous !== undefined) return access.anonymous;
    throw new ForbiddenError(
      'The request carries no IAM identity; sign it with SigV4 (service execute-api).',
      {},
    );
  }
  const principal = normalisePrincipal(userArn);
  return {
    principal,
    operator: access.operators.some((operator) => normalisePrincipal(operator) === principal),
  };
}

/** The caller of `event` under the API's access settings (local when none are given). */
export function callerIn(deps: { readonly access?: AccessSettings }, event: ApiEvent): Caller {
  return callerOf(event, deps.access ?? LOCAL_ACCESS);
}

/** For operator-only routes: IAM policies can scope paths, but `*` spans path segments. */
export function requireOperator(caller: Caller, action: string): void {
  if (!caller.operator) {
    throw new ForbiddenError(`${caller.principal} may not ${action}: only operators may.`, {
      caller: caller.principal,
      action,
    });
  }
}
