/**
 * `mobius-coordinator/client` — a typed client for a Mobius API: `mobius dev` on 127.0.0.1, or a
 * deployed stack behind API Gateway (requests SigV4-signed with the standard credential chain).
 * One method per operation of docs/openapi.json, typed from it.
 *
 * ```ts
 * const mobius = createClient('https://<api-id>.execute-api.<region>.amazonaws.com/v1/');
 * const { body } = await mobius.listAgents({ query: { status: 'healthy' } });
 * ```
 *
 * @module mobius-coordinator/client
 */
export * from '../functions/cli/client.ts';
