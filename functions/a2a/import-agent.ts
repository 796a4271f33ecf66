import * as z from 'zod';
import { NoAgentAvailableError, TimeoutError, ValidationError } from '../core/errors.ts';
import {
  A2A_IMPORT_OFF,
  type A2aEndpointPolicy,
  identifierSchema,
} from '../core/model/agent-card.ts';
import { remoteUrlIssue } from '../core/model/remote-hosts.ts';
import type { AgentRegistry, Caller, RegisterResult } from '../core/registry/agent-registry.ts';
import { agentIdOf, cardUrlOf, mobiusCardOf, readRemoteCard } from './remote-card.ts';
import { A2aRemoteClient, RemoteProtocolError } from './remote-client.ts';
import { RemoteCallError } from './remote-http.ts';

/** POST /agents/import's body. */
export const importRequestSchema = z.strictObject({
  /** The agent's card, or the base URL its card is under (`<url>/.well-known/agent-card.json`). */
  url: z.string({ error: 'give the url of the agent or of its card' }).min(1).max(2048),
  /** The id to register it under. @default a slug of the card's name */
  agentId: identifierSchema.optional(),
});
export type ImportRequest = z.output<typeof importRequestSchema>;

/** How long reading a remote's card may take, and how large it may be. */
export const CARD_FETCH = { timeoutMs: 10_000, maxBytes: 256 * 1024 } as const;

/**
 * Imports a remote A2A agent: reads its card (from `url`, or under it), validates it, and
 * registers a Mobius agent for it — endpoint a2a, reached through the deployment's A2A proxy,
 * capabilities from its skills, owned by `caller` — then heartbeats it, as its card was just read.
 * Errors: 400 (ValidationError) for a URL or card the policy or the schema refuses, each problem by
 * its path (`url`, or the card's own: `skills.0.id`); 503 when the remote cannot be reached, 504
 * when it does not answer in time; the registry's 403 and 409 as for POST /agents.
 */
export async function importA2aAgent(options: {
  readonly registry: AgentRegistry;
  readonly policy: A2aEndpointPolicy | undefined;
  readonly request: ImportRequest;
  readonly caller?: Caller;
  readonly update?: boolean;
  /** @default a client under policy.hosts */
  readonly client?: A2aRemoteClient;
}): Promise<RegisterResult> {
  const { policy, request } = options;
  const subject = 'A2A import';
  if (policy === undefined)
    throw new ValidationError(subject, [{ path: 'url', message: A2A_IMPORT_OFF }]);
  // The URL as given is checked before the card's URL is made of it: one that is no http(s) URL
  // (`mailto:x`) has no path a card could be under. The card's URL is on the same host and port.
  const refused = remoteUrlIssue(request.url, policy.hosts);
  if (refused !== undefined)
    throw new ValidationError(subject, [{ path: 'url', message: refused }]);
  const cardUrl = cardUrlOf(request.url);
  const client = options.client ?? new A2aRemoteClient(policy.hosts);
  let raw: unknown;
  try {
    raw = await client.fetchCard(
      cardUrl,
      AbortSignal.timeout(CARD_FETCH.timeoutMs),
      CARD_FETCH.maxBytes,
    );
  } catch (error) {
    throw fetchFailure(cardUrl, error);
  }
  const imported = readRemoteCard(raw, policy.hosts);
  const agentId = request.agentId ?? agentIdOf(imported.card.name);
  const result = await options.registry.register(
    mobiusCardOf(imported, {
      agentId,
      cardUrl,
      proxyArn: policy.proxyArn,
      proxyStreamArn: policy.proxyStreamArn,
    }),
    { update: options.update === true, ...(options.caller ? { caller: options.caller } : {}) },
  );
  // Its card answered just now: it is up. Later pings (the health monitor's) keep it so.
  const record = await options.registry.heartbeat(agentId);
  return { outcome: result.outcome, record };
}

/** What a failed read of the card means for the caller (see importA2aAgent). */
function fetchFailure(cardUrl: string, error: unknown): Error {
  if (error instanceof Error && error.name === 'TimeoutError')
    return new TimeoutError(`${cardUrl} did not answer within ${CARD_FETCH.timeoutMs / 1000} s.`, {
      url: cardUrl,
    });
  if (error instanceof RemoteCallError && error.retryable)
    return new NoAgentAvailableError(
      `Could not read the agent card at ${cardUrl}: ${error.message}`,
      {
        url: cardUrl,
        ...(error.status === undefined ? {} : { status: error.status }),
      },
    );
  if (error instanceof RemoteCallError || error instanceof RemoteProtocolError)
    return new ValidationError('A2A import', [
      {
        path: 'url',
        message: `no A2A agent card could be read at ${cardUrl}: ${error.message}`,
      },
    ]);
  return error as Error;
}
