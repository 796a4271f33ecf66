import { CARD_FETCH } from '../a2a/import-agent.ts';
import type { A2aOperation } from './openapi-a2a.ts';

/**
 * The OpenAPI operation of POST /agents/import (docs/a2a.md, "Importing remote agents"), spread
 * into openapi.ts's operations() beside a2aOperations(). Its answers are the ones POST /agents
 * gives, as the import registers an agent: they refer to the same components.
 */
const schema = (name: string) => ({
  content: { 'application/json': { schema: { $ref: `#/components/schemas/${name}` } } },
});
const error = (name: string) => ({ $ref: `#/components/responses/${name}` });

export function a2aImportOperations(): Record<string, A2aOperation> {
  return {
    'POST /agents/import': {
      operationId: 'importA2aAgent',
      summary: 'Import a remote A2A 1.0 agent from its card (operators only)',
      description:
        "Reads the agent's A2A card at `url` (a URL ending in `.json`) or under it (`<url>/.well-known/agent-card.json`), " +
        `within ${CARD_FETCH.timeoutMs / 1000} s and ${CARD_FETCH.maxBytes / 1024} KiB, validates it and registers an agent ` +
        'whose endpoint kind is `a2a`: its skills become its capabilities, it is reached through the A2A proxy, and it is owned ' +
        "by the caller. Hosts must be on the deployment's allow-list (a2aAllowedHosts; https only on AWS); a host not on it is " +
        'a 400 naming the setting, and a bad card a 400 naming each problem by its path in the card. `?update=true` replaces ' +
        'an imported agent whose card changed.',
      parameters: [
        {
          name: 'update',
          in: 'query',
          required: false,
          schema: { type: 'string', enum: ['true', 'false'] },
        },
      ],
      requestBody: {
        required: true,
        content: {
          'application/json': {
            // Generated from the zod schema the route validates with (openapi.ts REQUEST_SCHEMAS).
            schema: { $ref: '#/components/schemas/AgentImportRequest' },
          },
        },
      },
      responses: {
        201: { description: 'Imported', ...schema('Registered') },
        200: { description: 'Unchanged or updated', ...schema('Reregistered') },
        400: error('InvalidInput'),
        403: error('Forbidden'),
        409: error('Conflict'),
        503: error('Unavailable'),
        504: error('TimedOut'),
      },
    },
  };
}
