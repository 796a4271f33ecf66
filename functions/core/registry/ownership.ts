import { ForbiddenError } from '../errors.ts';

/**
 * Who asks the registry to change something. On the deployed API this is the IAM principal API
 * Gateway authenticated (normalised by `normalisePrincipal`); in the embedded runtime, the one
 * local operator. Code that writes the table with IAM grants of its own (the agent SDK, the
 * deploy-time registration) passes no caller: its access is the table's IAM policy, not this.
 */
export interface Caller {
  /** The normalised principal: `arn:aws:iam::<account>:role/<name>`, a user ARN, or `local`. */
  readonly principal: string;
  /** Operators may change every card, whoever owns it. */
  readonly operator: boolean;
}

/** The embedded runtime's only caller: it listens on loopback and checks no signatures. */
export const LOCAL_OPERATOR: Caller = { principal: 'local', operator: true };

const ARN = /^arn:(aws[a-z-]*):(iam|sts)::(\d{12}):(.+)$/;

/**
 * One name per principal, whichever way it signed: an assumed-role session
 * (`arn:aws:sts::<acct>:assumed-role/<Role>/<session>`) is its role, `arn:aws:iam::<acct>:role/<Role>`,
 * so every session of an agent's role owns the same cards; IAM paths are dropped (role and user
 * names are unique in an account, and a session's ARN carries no path). Anything else is kept as
 * given.
 */
export function normalisePrincipal(arn: string): string {
  const match = ARN.exec(arn.trim());
  if (match === null) return arn.trim();
  const [, partition, service, account, resource = ''] = match;
  const iam = (kind: string, name: string) => `arn:${partition}:iam::${account}:${kind}/${name}`;
  const parts = resource.split('/');
  if (service === 'sts' && parts[0] === 'assumed-role' && parts.length >= 3)
    return iam('role', parts[1] ?? '');
  if (service === 'iam' && (parts[0] === 'role' || parts[0] === 'user') && parts.length >= 2)
    return iam(parts[0], parts.at(-1) ?? '');
  return `arn:${partition}:${service}::${account}:${resource}`;
}

/** What the 403 says about a card's owner: a stack, a principal, or nobody recorded. */
function describeOwner(owner: string | undefined): string {
  if (owner === undefined) return 'no recorded owner, or it is not registered (operators only)';
  if (owner.includes(':cloudformation:'))
    return `the stack that deployed it (${owner}); change it in that stack, or as an operator`;
  return owner;
}

/** May `caller` change a card owned by `owner`? Operators always; others only their own cards. */
export function mayChange(owner: string | undefined, caller: Caller): boolean {
  return caller.operator || (owner !== undefined && owner === caller.principal);
}

/** The ForbiddenError for `caller` doing `action` to agent `agentId`, owned by `owner`. */
export function forbidden(
  agentId: string,
  owner: string | undefined,
  caller: Caller,
  action: string,
): ForbiddenError {
  return new ForbiddenError(
    `${caller.principal} may not ${action} agent ${agentId}: it is owned by ${describeOwner(owner)}. ` +
      'Only the principal that registered an agent, or an operator, may act for it.',
    { agentId, action, caller: caller.principal, ...(owner === undefined ? {} : { owner }) },
  );
}

/**
 * Throws ForbiddenError unless `caller` may change the card `owner` owns. `action` reads in the
 * message: "update", "heartbeat", "deregister", "send as".
 */
export function assertMayChange(
  agentId: string,
  owner: string | undefined,
  caller: Caller,
  action: string,
): void {
  if (!mayChange(owner, caller)) throw forbidden(agentId, owner, caller, action);
}
