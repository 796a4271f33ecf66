import { NotFoundError } from '../errors.ts';
import type { AgentRecord } from '../registry/agent-registry.ts';
import { assertMayChange, type Caller, forbidden } from '../registry/ownership.ts';

/** What a message sent through the API is from unless it names an agent: the API itself. */
export const API_SENDER = 'api';

/**
 * Checks a message's `from` against the authenticated caller, who travels in the envelope as its
 * `sender`. `api` (the default) says only "sent through the API" and is anyone's; an agent id is a
 * claim to speak for that agent, admitted when the caller owns it or is an operator — otherwise
 * anyone with `execute-api:Invoke` could send as any agent. ForbiddenError when refused.
 */
export async function assertMaySendAs(
  registry: { get(agentId: string): Promise<Pick<AgentRecord, 'owner'>> },
  from: string,
  caller: Caller,
): Promise<void> {
  if (caller.operator || from === API_SENDER) return;
  let owner: string | undefined;
  try {
    ({ owner } = await registry.get(from));
  } catch (error) {
    // An id nobody registered is nobody's to claim (and could be registered later by another).
    if (error instanceof NotFoundError) throw forbidden(from, undefined, caller, 'send as');
    throw error;
  }
  assertMayChange(from, owner, caller, 'send as');
}
