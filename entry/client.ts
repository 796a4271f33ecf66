/**
 * `mobius-coordinator/client` — a typed client for a Mobius API: `mobius dev` on 127.0.0.1, or a
 * deployed stack behind API Gateway (requests SigV4-signed with the standard credential chain).
 * One method per operation of docs/openapi.json, typed from it; the operations that stream
 * (server-sent events) are read as async iterables: `watchCoordination` (a coordination's live
 * events, resumed with Last-Event-ID when the connection drops), `runCoordinationStream` and
 * `streamMessage` (an agent's chunks as it produces them).
 *
 * ```ts
 * const mobius = createClient('https://<api-id>.execute-api.<region>.amazonaws.com/v1/');
 * const { body } = await mobius.listAgents({ query: { status: 'healthy' } });
 * for await (const event of mobius.watchCoordination(coordinationId))
 *   if (event.type === 'step.chunk' && 'text' in event.chunk) process.stdout.write(event.chunk.text);
 * ```
 *
 * @module mobius-coordinator/client
 */
export * from '../functions/cli/client.ts';
