import { z } from 'zod';
import { coordinationRequestSchema } from '../../statemachines/request.ts';
import type { CoordinationResult } from '../coordination/result.ts';
import { agentCardSchema } from '../core/model/agent-card.ts';
import { agentStatusSchema, circuitStateSchema } from '../core/model/agent-status.ts';
import {
  type AgentRecord,
  heartbeatReportSchema,
  listFilterSchema,
} from '../core/registry/agent-registry.ts';
import {
  capabilitySelectorSchema,
  type DiscoveryMatch,
  discoveryQuerySchema,
} from '../core/registry/discovery.ts';
import { ROUTES } from './app.ts';
import { STATUS_BY_CODE } from './http-errors.ts';
import { broadcastRequestSchema, messageRequestSchema } from './routes/messages.ts';

/**
 * The OpenAPI 3.1 document of the HTTP API, generated from the same zod schemas the handlers
 * validate with (`npm run openapi` writes docs/openapi.json; a test keeps it current). Response
 * schemas are declared here and checked against the TypeScript types the handlers return.
 */

const agentRecordSchema = z.object({
  card: agentCardSchema,
  status: agentStatusSchema,
  metrics: z.object({
    requestsProcessed: z.number(),
    errors: z.number(),
    averageResponseTimeMs: z.number(),
    errorRate: z.number(),
    inFlight: z.number(),
    lastHeartbeat: z.string().nullable(),
    uptimeSeconds: z.number(),
  }),
  circuit: z.object({
    state: circuitStateSchema,
    consecutiveFailures: z.number(),
    openedAt: z.string().nullable(),
  }),
  registeredAt: z.string(),
  updatedAt: z.string(),
  expiresAt: z.string(),
});

const discoveryMatchSchema = z.object({
  agentId: z.string(),
  agentType: z.string(),
  description: z.string(),
  score: z.number(),
  priority: z.number(),
  status: agentStatusSchema,
  load: z.number(),
  circuit: circuitStateSchema,
  endpoint: agentCardSchema.shape.endpoint,
  capabilities: z.array(z.string()).readonly(),
  matched: z
    .array(
      z.object({
        requested: z.string(),
        capability: agentCardSchema.shape.capabilities.element,
        score: z.number(),
      }),
    )
    .readonly(),
});

const coordinationResultSchema = z.object({
  coordinationId: z.string(),
  pattern: coordinationRequestSchema.shape.pattern,
  mode: z.enum(['express', 'standard']),
  status: z.enum(['succeeded', 'partial', 'failed']),
  output: z.unknown(),
  steps: z.array(
    z.object({
      stepId: z.string(),
      agentId: z.string(),
      status: z.enum(['succeeded', 'failed']),
      attempt: z.number(),
      output: z.unknown().optional(),
      durationMs: z.number().optional(),
      round: z.number().optional(),
    }),
  ),
  errors: z.array(
    z.object({
      agentId: z.string().nullable(),
      stepId: z.string().nullable(),
      error: z.string(),
      cause: z.string().nullable(),
    }),
  ),
  degraded: z.boolean(),
  timings: z.object({
    totalMs: z.number(),
    agentMs: z.number(),
    overheadMs: z.number(),
    steps: z.array(z.object({ stepId: z.string(), agentId: z.string(), durationMs: z.number() })),
  }),
});

const runningSchema = z.object({
  coordinationId: z.string(),
  status: z.literal('running'),
  startedAt: z.string(),
  links: z.object({ self: z.string() }).optional(),
});

const errorSchema = z.object({
  error: z.object({
    code: z.string(),
    message: z.string(),
    details: z.record(z.string(), z.unknown()),
  }),
});

// The documented responses must stay what the handlers return: both directions must assign.
type Assignable<A, B> = A extends B ? true : false;
const _records: [
  Assignable<AgentRecord, z.input<typeof agentRecordSchema>>,
  Assignable<z.output<typeof agentRecordSchema>, AgentRecord>,
] = [true, true];
const _matches: [
  Assignable<DiscoveryMatch, z.input<typeof discoveryMatchSchema>>,
  Assignable<z.output<typeof discoveryMatchSchema>, DiscoveryMatch>,
] = [true, true];
// (zod treats an `unknown` field as optional, so results are checked in the direction that matters.)
const _results: Assignable<CoordinationResult, z.input<typeof coordinationResultSchema>> = true;
void [_records, _matches, _results];

function schema(type: z.ZodType, io: 'input' | 'output' = 'input'): Record<string, unknown> {
  const { $schema: _dialect, ...rest } = z.toJSONSchema(type, {
    io,
    unrepresentable: 'any',
  }) as Record<string, unknown>;
  return rest;
}

const json = (type: z.ZodType, io: 'input' | 'output' = 'output') => ({
  content: { 'application/json': { schema: schema(type, io) } },
});
const ref = (name: string) => ({
  content: { 'application/json': { schema: { $ref: `#/components/schemas/${name}` } } },
});

const ERROR_DESCRIPTIONS: Record<number, string> = {
  400: 'Invalid input: `error.details.issues` names each field path and the fix',
  404: 'Unknown agent, coordination or route',
  409: 'A different card is registered under this id',
  413: 'The message or coordination input is larger than SQS, EventBridge or Step Functions accept',
  502: 'An agent failed',
  503: 'No healthy agent can do it (or its circuit breaker is open), or a Step Functions quota refused the run for now',
  504: 'An agent or the coordination timed out',
};

interface Operation {
  summary: string;
  requestBody?: unknown;
  parameters?: unknown[];
  responses: Record<string, unknown>;
}

function operations(): Record<string, Operation> {
  const errors = (...statuses: number[]) =>
    Object.fromEntries(
      statuses.map((s) => [String(s), { description: ERROR_DESCRIPTIONS[s], ...ref('Error') }]),
    );
  const idParameter = (what: string) => [
    { name: 'id', in: 'path', required: true, description: what, schema: { type: 'string' } },
  ];
  const listQuery = Object.entries(
    (schema(listFilterSchema).properties ?? {}) as Record<string, unknown>,
  ).map(([name, s]) => ({ name, in: 'query', required: false, schema: s }));
  return {
    'GET /agents': {
      summary: 'List agents with their status',
      parameters: listQuery,
      responses: {
        200: {
          description: 'A page of agents',
          ...json(
            z.object({ agents: z.array(agentRecordSchema), nextToken: z.string().optional() }),
          ),
        },
        ...errors(400),
      },
    },
    'POST /agents': {
      summary:
        'Register an agent card (identical card again: 200; `?update=true` replaces a card of the same type)',
      parameters: [
        {
          name: 'update',
          in: 'query',
          required: false,
          schema: { type: 'string', enum: ['true', 'false'] },
        },
      ],
      requestBody: { required: true, ...json(agentCardSchema, 'input') },
      responses: {
        201: {
          description: 'Registered',
          ...json(z.object({ outcome: z.literal('created'), agent: agentRecordSchema })),
        },
        200: {
          description: 'Unchanged or updated',
          ...json(
            z.object({ outcome: z.enum(['unchanged', 'updated']), agent: agentRecordSchema }),
          ),
        },
        ...errors(400, 409),
      },
    },
    'GET /agents/{id}': {
      summary: 'Read an agent',
      parameters: idParameter('agent id'),
      responses: { 200: { description: 'The agent', ...ref('AgentRecord') }, ...errors(400, 404) },
    },
    'DELETE /agents/{id}': {
      summary: 'Deregister an agent',
      parameters: idParameter('agent id'),
      responses: {
        200: { description: 'Removed', ...json(z.object({ deregistered: agentRecordSchema })) },
        ...errors(400, 404),
      },
    },
    'POST /agents/{id}/heartbeat': {
      summary: 'Refresh liveness',
      parameters: idParameter('agent id'),
      requestBody: { required: false, ...json(heartbeatReportSchema, 'input') },
      responses: {
        200: { description: 'The agent after the heartbeat', ...ref('AgentRecord') },
        ...errors(400, 404),
      },
    },
    'GET /agents/{id}/health': {
      summary: 'Status, metrics, last seen, circuit state',
      parameters: idParameter('agent id'),
      responses: {
        200: {
          description: 'Health',
          ...json(
            z.object({
              agentId: z.string(),
              status: agentStatusSchema,
              lastSeen: z.string().nullable(),
              expiresAt: z.string(),
              metrics: agentRecordSchema.shape.metrics,
              circuit: agentRecordSchema.shape.circuit,
            }),
          ),
        },
        ...errors(400, 404),
      },
    },
    'POST /discover': {
      summary: 'Find agents by capability: exact or fuzzy, semver range, all-of; ranked',
      requestBody: { required: true, ...json(discoveryQuerySchema, 'input') },
      responses: {
        200: {
          description: 'Matches, best first',
          ...json(z.object({ matches: z.array(discoveryMatchSchema) })),
        },
        ...errors(400),
      },
    },
    'POST /messages': {
      summary: 'Send a direct message (202), or a request and wait for the response (`wait`)',
      requestBody: { required: true, ...json(messageRequestSchema, 'input') },
      responses: {
        202: {
          description: 'Queued',
          ...json(
            z.object({ messageId: z.string(), agentId: z.string(), conversationId: z.string() }),
          ),
        },
        200: {
          description: 'The response envelope',
          ...json(z.object({ response: z.record(z.string(), z.unknown()) })),
        },
        ...errors(400, 404, 413, 502, 503, 504),
      },
    },
    'POST /broadcasts': {
      summary:
        'Publish a broadcast (or, with eventType, an event) to everyone or to holders of a capability',
      requestBody: { required: true, ...json(broadcastRequestSchema, 'input') },
      responses: {
        202: {
          description: 'Published',
          ...json(
            z.object({
              messageId: z.string(),
              to: z.unknown(),
              type: z.enum(['broadcast', 'event']),
            }),
          ),
        },
        ...errors(400, 413),
      },
    },
    'POST /coordinations': {
      summary: 'Run a coordination: the result inline (express) or 202 with its id (standard)',
      requestBody: { required: true, ...json(coordinationRequestSchema, 'input') },
      responses: {
        200: { description: 'Succeeded or partial', ...ref('CoordinationResult') },
        202: { description: 'Started (standard mode)', ...ref('Running') },
        ...errors(400, 404, 413, 502, 503, 504),
      },
    },
    'GET /coordinations/{id}': {
      summary: 'Status, per-step results, errors, timings',
      parameters: idParameter('coordination id'),
      responses: {
        200: {
          description: 'Running, or the result',
          content: {
            'application/json': {
              schema: {
                oneOf: [
                  { $ref: '#/components/schemas/CoordinationResult' },
                  { $ref: '#/components/schemas/Running' },
                ],
              },
            },
          },
        },
        ...errors(400, 404),
      },
    },
  };
}

export function openApiDocument(): Record<string, unknown> {
  const byRoute = operations();
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of ROUTES) {
    const operation = byRoute[`${route.method} ${route.path}`];
    if (operation === undefined)
      throw new Error(`route ${route.method} ${route.path} is not documented`);
    paths[route.path] = {
      ...paths[route.path],
      [route.method.toLowerCase()]: { ...operation, security: [{ sigv4: [] }] },
    };
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Mobius Coordinator API',
      version: '1.0.0',
      description:
        'Agent registry, discovery, messaging and coordinations. Served by API Gateway (IAM/SigV4 auth) and by the embedded runtime (`mobius dev`). Errors: `{ error: { code, message, details } }`.',
    },
    servers: [
      {
        url: 'https://{apiId}.execute-api.{region}.amazonaws.com/v1',
        variables: { apiId: { default: 'abc123' }, region: { default: 'us-east-1' } },
      },
      { url: 'http://127.0.0.1:4000' },
    ],
    paths,
    components: {
      securitySchemes: {
        sigv4: {
          type: 'apiKey',
          in: 'header',
          name: 'Authorization',
          description: 'AWS Signature Version 4 (IAM); see README "Calling the API"',
        },
      },
      schemas: {
        AgentRecord: schema(agentRecordSchema, 'output'),
        CoordinationResult: schema(coordinationResultSchema, 'output'),
        Running: schema(runningSchema, 'output'),
        CapabilitySelector: schema(capabilitySelectorSchema),
        Error: {
          ...schema(errorSchema, 'output'),
          description: `codes: ${Object.entries(STATUS_BY_CODE)
            .map(([code, status]) => `${code} (${status})`)
            .join(', ')}`,
        },
      },
    },
  };
}
