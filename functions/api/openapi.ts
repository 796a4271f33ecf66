import { readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { z } from 'zod';
import {
  agentRefSchema,
  coordinationRequestSchema,
  patternSchema,
} from '../../statemachines/request.ts';
import { importRequestSchema } from '../a2a/import-agent.ts';
import type { CoordinationResult } from '../coordination/result.ts';
import { audienceSchema } from '../core/messaging/envelope.ts';
import { agentCardSchema, capabilitySchema, endpointSchema } from '../core/model/agent-card.ts';
import {
  type AgentStatus,
  agentStatusSchema,
  circuitStateSchema,
} from '../core/model/agent-status.ts';
import { jsonValueSchema } from '../core/model/json-value.ts';
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
import { MAX_CHUNK_BYTES } from '../core/streaming/chunks.ts';
import {
  COORDINATION_STATUSES,
  coordinationEventInputSchema,
  coordinationSummarySchema,
  isFinal,
} from '../core/streaming/events.ts';
import { MAX_HEADER_BYTES, TRANSPORT_ERRORS } from '../embedded/api-server.ts';
import { ROUTES } from './app.ts';
import { STATUS_BY_CODE } from './http-errors.ts';
import { a2aOperations } from './openapi-a2a.ts';
import { a2aImportOperations } from './openapi-a2a-import.ts';
import { sseEvents } from './openapi-sse.ts';
import {
  agentDrainedSchema,
  agentResumedSchema,
  circuitResetSchema,
} from './routes/agent-operations.ts';
import { coordinationCancelledSchema, coordinationListSchema } from './routes/coordinations.ts';
import type { FleetHealth } from './routes/health.ts';
import {
  broadcastRequestSchema,
  FIRST_FRAME_WAIT_MS,
  MAX_STREAM_TIMEOUT_SECONDS,
  MAX_WAIT_TIMEOUT_SECONDS,
  messageRequestSchema,
} from './routes/messages.ts';
import {
  agentQueueSchema,
  deadLetterMessageSchema,
  deadLettersSchema,
  redriveSchema,
} from './routes/queues.ts';

/**
 * The OpenAPI 3.1 document of the HTTP API, generated from the same zod schemas the handlers
 * validate with (`npm run openapi` writes docs/openapi.json and the client's types; tests keep
 * both current and check the document with swagger-parser and Redocly). Response schemas are
 * declared here and checked against the TypeScript types the handlers return.
 */

const nullableNumber = z.number().nullable();

const agentUtilisationSchema = z.object({
  inFlight: z.number(),
  maxConcurrency: nullableNumber,
  durationP50Ms: nullableNumber,
  durationP99Ms: nullableNumber,
  durationSamples: nullableNumber,
  memoryUsedMB: nullableNumber,
  memorySizeMB: nullableNumber,
  oldestMessageAgeMs: nullableNumber,
  queueDepth: nullableNumber,
  queueInFlight: nullableNumber,
  deadLetterDepth: nullableNumber,
  queueReadAt: z.string().nullable(),
});

const agentMetricsSchema = z.object({
  requestsProcessed: z.number(),
  errors: z.number(),
  averageResponseTimeMs: z.number(),
  errorRate: z.number(),
  recentRequests: z.number(),
  recentErrors: z.number(),
  inFlight: z.number(),
  lastHeartbeat: z.string().nullable(),
  uptimeSeconds: z.number(),
  utilisation: agentUtilisationSchema,
});

const circuitSchema = z.object({
  state: circuitStateSchema,
  consecutiveFailures: z.number(),
  openedAt: z.string().nullable(),
});

const agentRecordSchema = z.object({
  card: agentCardSchema,
  /** The principal that may change the card besides operators; absent: operators only. */
  owner: z.string().optional(),
  status: agentStatusSchema,
  metrics: agentMetricsSchema,
  circuit: circuitSchema,
  registeredAt: z.string(),
  updatedAt: z.string(),
  expiresAt: z.string(),
  /** Who drained the agent and when; absent while it is not drained. */
  drained: z
    .object({ at: z.string(), by: z.string() })
    .optional()
    .describe(
      'Present while an operator has the agent drained (POST /agents/{id}/drain): when (ISO 8601) and which principal. Absent otherwise.',
    ),
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
  endpoint: endpointSchema,
  capabilities: z.array(z.string()).readonly(),
  matched: z
    .array(z.object({ requested: z.string(), capability: capabilitySchema, score: z.number() }))
    .readonly(),
});

const coordinationResultSchema = z.object({
  coordinationId: z.string(),
  pattern: patternSchema,
  mode: z.enum(['express', 'standard']),
  status: z.enum(['succeeded', 'partial', 'failed', 'cancelled']),
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
  standIns: z
    .array(
      z.object({
        stepId: z.string(),
        requested: z.string(),
        agentId: z.string(),
        reason: z.enum(['circuit_open', 'offline', 'draining', 'drained', 'no_usable_holder']),
        detail: z.string(),
      }),
    )
    .readonly(),
  timings: z.object({
    totalMs: z.number(),
    agentMs: z.number(),
    overheadMs: z.number(),
    steps: z.array(z.object({ stepId: z.string(), agentId: z.string(), durationMs: z.number() })),
  }),
});

const fleetHealthSchema = z.object({
  agents: z.object({
    total: z.number(),
    // An object with a property per status: what the record is, in a form every tool reads.
    byStatus: z.object(
      Object.fromEntries(agentStatusSchema.options.map((s) => [s, z.number()])) as Record<
        AgentStatus,
        z.ZodNumber
      >,
    ),
  }),
  openCircuits: z
    .array(
      z.object({
        agentId: z.string(),
        state: z.enum(['open', 'half_open']),
        openedAt: z.string().nullable(),
      }),
    )
    .readonly(),
  inFlight: z.number(),
  queues: z.object({
    depth: nullableNumber,
    deadLetters: nullableNumber,
    agentsReporting: z.number(),
  }),
  recent: z.object({ requests: z.number(), errors: z.number(), failureRate: z.number() }),
  truncated: z.boolean(),
  coordinations: z.object({
    inFlight: z.number(),
    queued: z.number(),
    maxInFlight: nullableNumber,
    // Optional for clients: an API older than the count (a stack not yet updated) leaves it out.
    running: z
      .object({ count: z.number(), since: z.string(), truncated: z.boolean() })
      .nullable()
      .optional(),
  }),
  generatedAt: z.string(),
});

const errorSchema = z.object({
  error: z.object({
    code: z.string(),
    message: z.string(),
    details: z.record(z.string(), z.unknown()),
  }),
});

/**
 * The live events of a coordination as readers get them: each event the log takes, with the id,
 * coordination and time the log gives it (events.ts's CoordinationEvent), one object per type.
 */
const eventMeta = {
  /** Position in the coordination's log, from 1: the SSE `id:`, and what `Last-Event-ID` resumes after. */
  id: z.int().min(1),
  coordinationId: z.string(),
  /** When the event was appended (ISO 8601). */
  time: z.string(),
};
/**
 * The last event may come without an id: the API sends the result even when the log could not
 * keep it (POST /coordinations with SSE), or builds it from GET /coordinations/{id} when the log
 * no longer has the run's events. It ends the stream, so there is nothing to resume after it.
 */
const finalEventMeta = {
  ...eventMeta,
  id: eventMeta.id
    .optional()
    .describe(
      "The event's position in the log; absent when the log does not hold this result (it could not keep it, or a standard run's events have expired): the event still ends the stream, and nothing follows it to resume after",
    ),
};
const coordinationEventSchema = z.discriminatedUnion(
  'type',
  coordinationEventInputSchema.options.map((option) =>
    option.extend(isFinal({ type: option.shape.type.value }) ? finalEventMeta : eventMeta),
  ) as unknown as [z.ZodObject, ...z.ZodObject[]],
);
/** One piece of a streamed answer (chunks.ts's StreamChunk), as `step.chunk` and `chunk` carry it. */
const streamChunkSchema = (() => {
  const chunkEvent = coordinationEventInputSchema.options.find(
    (option) => option.shape.type.value === 'step.chunk',
  );
  if (chunkEvent === undefined || !('chunk' in chunkEvent.shape))
    throw new Error('events.ts has no step.chunk event with a chunk to document');
  return chunkEvent.shape.chunk as z.ZodType;
})();

// The documented responses must stay what the handlers return: both directions must assign, and
// the keys must be the same (assignability lets a value carry fields the document does not declare,
// and the response schemas forbid additional properties). Not distributive: unions checked whole.
type Assignable<A, B> = [A] extends [B] ? true : false;
type SameKeys<A, B> = [Assignable<keyof A, keyof B>, Assignable<keyof B, keyof A>];
const _records: [
  Assignable<AgentRecord, z.input<typeof agentRecordSchema>>,
  Assignable<z.output<typeof agentRecordSchema>, AgentRecord>,
  ...SameKeys<AgentRecord, z.output<typeof agentRecordSchema>>,
] = [true, true, true, true];
const _matches: [
  Assignable<DiscoveryMatch, z.input<typeof discoveryMatchSchema>>,
  Assignable<z.output<typeof discoveryMatchSchema>, DiscoveryMatch>,
  ...SameKeys<DiscoveryMatch, z.output<typeof discoveryMatchSchema>>,
] = [true, true, true, true];
// (zod treats an `unknown` field as optional, so results are checked in the direction that matters.)
const _results: [
  Assignable<CoordinationResult, z.input<typeof coordinationResultSchema>>,
  ...SameKeys<CoordinationResult, z.output<typeof coordinationResultSchema>>,
] = [true, true, true];
const _fleet: [
  Assignable<FleetHealth, z.input<typeof fleetHealthSchema>>,
  Assignable<z.output<typeof fleetHealthSchema>, FleetHealth>,
  ...SameKeys<FleetHealth, z.output<typeof fleetHealthSchema>>,
] = [true, true, true, true];
void [_records, _matches, _results, _fleet];

/**
 * Request bodies and what they share, as callers send them: fields with defaults may be left out.
 * Every schema used more than once has a name here, so the document refers to it instead of
 * repeating it; the recursive JSON value must have one.
 */
const REQUEST_SCHEMAS = {
  AgentCardInput: agentCardSchema,
  HeartbeatReport: heartbeatReportSchema,
  DiscoveryQuery: discoveryQuerySchema,
  CapabilitySelector: capabilitySelectorSchema,
  MessageRequest: messageRequestSchema,
  BroadcastRequest: broadcastRequestSchema,
  CoordinationRequest: coordinationRequestSchema,
  AgentRef: agentRefSchema,
  AgentStatus: agentStatusSchema,
  AgentImportRequest: importRequestSchema,
  JsonValue: jsonValueSchema,
} satisfies Record<string, z.ZodType>;

/** Response bodies and what they share, as the API answers: defaults filled in. */
const RESPONSE_SCHEMAS = {
  AgentCard: agentCardSchema,
  Capability: capabilitySchema,
  AgentEndpoint: endpointSchema,
  AgentStatus: agentStatusSchema,
  CircuitState: circuitStateSchema,
  AgentMetrics: agentMetricsSchema,
  AgentUtilisation: agentUtilisationSchema,
  Circuit: circuitSchema,
  AgentRecord: agentRecordSchema,
  AgentList: z.object({ agents: z.array(agentRecordSchema), nextToken: z.string().optional() }),
  Registered: z.object({ outcome: z.literal('created'), agent: agentRecordSchema }),
  Reregistered: z.object({ outcome: z.enum(['unchanged', 'updated']), agent: agentRecordSchema }),
  Deregistered: z.object({ deregistered: agentRecordSchema }),
  AgentHealth: z.object({
    agentId: z.string(),
    status: agentStatusSchema,
    lastSeen: z.string().nullable(),
    expiresAt: z.string(),
    metrics: agentMetricsSchema,
    circuit: circuitSchema,
  }),
  FleetHealth: fleetHealthSchema,
  DiscoveryMatch: discoveryMatchSchema,
  DiscoveryResult: z.object({ matches: z.array(discoveryMatchSchema) }),
  MessageQueued: z.object({
    messageId: z.string(),
    agentId: z.string(),
    conversationId: z.string(),
  }),
  MessageReply: z.object({ response: z.record(z.string(), z.unknown()) }),
  StreamChunk: streamChunkSchema,
  CoordinationEvent: coordinationEventSchema,
  JsonValue: jsonValueSchema,
  BroadcastPublished: z.object({
    messageId: z.string(),
    to: audienceSchema,
    type: z.enum(['broadcast', 'event']),
  }),
  CoordinationResult: coordinationResultSchema,
  CoordinationRunning: z.object({
    coordinationId: z.string(),
    status: z.literal('running'),
    startedAt: z.string(),
    links: z.object({ self: z.string() }).optional(),
  }),
  CoordinationSummary: coordinationSummarySchema,
  CoordinationList: coordinationListSchema,
  CoordinationCancelled: coordinationCancelledSchema,
  CircuitReset: circuitResetSchema,
  AgentDrained: agentDrainedSchema,
  AgentResumed: agentResumedSchema,
  QueueState: agentQueueSchema,
  DeadLetter: deadLetterMessageSchema,
  DeadLetters: deadLettersSchema,
  RedriveStarted: redriveSchema,
  Error: errorSchema,
} satisfies Record<string, z.ZodType>;

type SchemaName = keyof typeof REQUEST_SCHEMAS | keyof typeof RESPONSE_SCHEMAS;
type JsonSchema = Record<string, unknown>;

const COMPONENT_PREFIX = '#/components/schemas/';

/**
 * Converts named zod schemas in one pass, so that they refer to each other as
 * `#/components/schemas/<name>`. zod puts a recursive schema that has no name under `__shared`,
 * where no reference from the document can reach it: that is refused here with the fix.
 */
function components(io: 'input' | 'output', named: Record<string, z.ZodType>) {
  const registry = z.registry<{ id: string }>();
  for (const [id, type] of Object.entries(named)) registry.add(type, { id });
  const { schemas } = z.toJSONSchema(registry, {
    io,
    unrepresentable: 'any',
    uri: (id) => `${COMPONENT_PREFIX}${id}`,
  });
  const { __shared: nameless, ...converted } = schemas;
  if (nameless !== undefined)
    throw new Error(
      `Some ${io} schema reached from the API is recursive and has no name here; name it in openapi.ts: ${JSON.stringify(nameless)}`,
    );
  // `$id` would be a fragment URI (not allowed in JSON Schema 2020-12); the dialect is the document's.
  return Object.fromEntries(
    Object.entries(converted).map(([id, { $schema: _dialect, $id: _id, ...rest }]) => [id, rest]),
  ) as Record<string, JsonSchema>;
}

/** Request and response schemas under one roof; a name both use must mean the same schema. */
function componentSchemas(): Record<SchemaName, JsonSchema> {
  const requests = components('input', REQUEST_SCHEMAS);
  const responses = components('output', RESPONSE_SCHEMAS);
  for (const [name, schema] of Object.entries(requests)) {
    if (name in responses && JSON.stringify(responses[name]) !== JSON.stringify(schema))
      throw new Error(
        `${name} differs between requests (defaults optional) and responses; give the request form its own name, as AgentCardInput`,
      );
  }
  return { ...requests, ...responses } as Record<SchemaName, JsonSchema>;
}

/** Query parameters are documented one by one, so their schema is converted inline and taken apart. */
function inlineSchema(type: z.ZodType): JsonSchema {
  const { $schema: _dialect, ...rest } = z.toJSONSchema(type, {
    io: 'input',
    unrepresentable: 'any',
  }) as JsonSchema;
  return rest;
}

/** Every error code the API answers, with its status, as the Error schema lists them. */
export const ERROR_CODES: Readonly<Record<string, number>> = {
  ...STATUS_BY_CODE,
  ...TRANSPORT_ERRORS,
};

const ref = (name: SchemaName) => ({
  content: { 'application/json': { schema: { $ref: `${COMPONENT_PREFIX}${name}` } } },
});

/** The error answers, one response component each, which operations refer to by status. */
const ERROR_RESPONSES: Record<
  number,
  { name: string; description: string; headers?: Record<string, unknown> }
> = {
  400: {
    name: 'InvalidInput',
    description:
      'Invalid input: `error.details.issues` names each field path and the fix (also: a body nested deeper than 64 levels or with a `__proto__` key, a page token this API did not return for this listing)',
  },
  403: {
    name: 'Forbidden',
    description:
      "The caller may not do this: only a card's owner (or an operator) may replace, heartbeat or deregister it, and a message's `from` must be an agent the caller owns",
  },
  404: { name: 'NotFound', description: 'Unknown agent, coordination or route' },
  409: {
    name: 'Conflict',
    description:
      'The state does not allow it: a different card is registered under this id; the coordination already finished or is express (cancel); the agent has no queue or a redrive is already moving its dead letters',
  },
  413: {
    name: 'PayloadTooLarge',
    description:
      'The body is larger than 6 MB, or the message or coordination input is larger than SQS, EventBridge or Step Functions accept',
  },
  431: {
    name: 'HeadersTooLarge',
    description: `The request line and headers are larger than the server takes (${MAX_HEADER_BYTES / 1024} KB in the embedded runtime; API Gateway has limits of its own)`,
  },
  502: { name: 'AgentFailed', description: 'An agent failed' },
  503: {
    name: 'Unavailable',
    description:
      'NO_AGENT_AVAILABLE: no healthy agent can do it (its circuit breaker is open, or an operator drained it). CAPACITY_EXCEEDED: a limit (Step Functions quotas, admission control, SQS throttling on the queue routes) refused it for now; `Retry-After` says when to try again. EVENTS_NOT_CONFIGURED: live events were asked for (`Accept: text/event-stream`) and this API keeps no coordination event log (`details.missing` names the setting); trying again does not help',
    headers: {
      'Retry-After': {
        description: 'With CAPACITY_EXCEEDED: seconds after which trying again makes sense',
        schema: { type: 'integer', minimum: 0 },
      },
    },
  },
  504: { name: 'TimedOut', description: 'An agent or the coordination timed out' },
};

function errorResponses(): Record<string, unknown> {
  return Object.fromEntries(
    Object.values(ERROR_RESPONSES).map(({ name, description, headers }) => [
      name,
      { description, ...(headers ? { headers } : {}), ...ref('Error') },
    ]),
  );
}

/** Named request examples: the README's example coordinations, for the example agents of `mobius dev`. */
function coordinationExamples(): Record<string, { summary: string; value: unknown }> {
  const folder = join(import.meta.dirname, '..', '..', 'examples', 'requests');
  return Object.fromEntries(
    readdirSync(folder)
      .filter((file) => file.endsWith('.json'))
      .sort()
      .map((file) => [
        basename(file, '.json'),
        {
          summary: `examples/requests/${file}`,
          value: JSON.parse(readFileSync(join(folder, file), 'utf8')) as unknown,
        },
      ]),
  );
}

const REQUEST_EXAMPLES: Partial<Record<SchemaName, () => Record<string, unknown>>> = {
  CoordinationRequest: coordinationExamples,
  MessageRequest: () => ({
    queued: { value: { to: 'summarizer', payload: { text: 'Queues decouple producers.' } } },
    waited: {
      value: { to: 'keyword-extractor', payload: { text: 'DynamoDB TTL' }, wait: true },
    },
  }),
  BroadcastRequest: () => ({
    everyone: { value: { payload: { note: 'maintenance at noon' } } },
    event: {
      value: {
        to: { capability: 'keyword-extraction' },
        eventType: 'document.indexed',
        payload: { documentId: 'd-1' },
      },
    },
  }),
  DiscoveryQuery: () => ({
    exact: { value: { capability: 'extractive-summarization', version: '^1' } },
    fuzzy: { value: { capability: 'summarise', match: 'fuzzy' } },
  }),
};

/**
 * What each event of a coordination's stream carries: a CoordinationEvent, or — as the last event
 * of a stream that cannot go on — the API's error body.
 */
const COORDINATION_STREAM = {
  'text/event-stream': sseEvents({
    oneOf: [
      { $ref: `${COMPONENT_PREFIX}CoordinationEvent` },
      {
        $ref: `${COMPONENT_PREFIX}Error`,
        description: 'The `error` event: the last one of a stream that could not go on',
      },
    ],
  }),
};

/** How a coordination's stream ends, for both operations that stream one. */
const COORDINATION_STREAM_END = [
  "A stream that cannot go on ends with an `error` event instead (`event: error`, no id, `data:` the API's error body, Error):",
  'the event log failed under it (5xx: worth resuming with `Last-Event-ID`, as a dropped connection is), or, for the stream of POST /coordinations,',
  'the run failed with an error after it started (its end is logged: GET /coordinations/{id}). A 4xx one is final.',
  '`coordination.finished` comes without an id when the log does not hold the result (it could not keep it, or the events have expired);',
  'it still ends the stream.',
];

interface Operation {
  /** Unique and stable: the typed client's method names (functions/cli/client.ts) are these. */
  operationId: string;
  summary: string;
  /** What the summary has no room for: here, how an operation streams. */
  description?: string;
  requestBody?: unknown;
  parameters?: unknown[];
  responses: Record<string, unknown>;
}

/** References to the error responses for these statuses. */
const errors = (...statuses: number[]) =>
  Object.fromEntries(
    statuses.map((s) => [
      String(s),
      { $ref: `#/components/responses/${ERROR_RESPONSES[s]?.name}` },
    ]),
  );

function operations(): Record<string, Operation> {
  const idParameter = (what: string) => [
    { name: 'id', in: 'path', required: true, description: what, schema: { type: 'string' } },
  ];
  const listQuery = Object.entries(
    (inlineSchema(listFilterSchema).properties ?? {}) as Record<string, unknown>,
  ).map(([name, s]) => ({ name, in: 'query', required: false, schema: s }));
  const body = (name: SchemaName, required = true) => {
    const examples = REQUEST_EXAMPLES[name]?.();
    if (examples === undefined) return { required, ...ref(name) };
    const media = ref(name).content['application/json'];
    return { required, content: { 'application/json': { ...media, examples } } };
  };
  return {
    'GET /agents': {
      operationId: 'listAgents',
      summary: 'List agents with their status',
      parameters: listQuery,
      responses: { 200: { description: 'A page of agents', ...ref('AgentList') }, ...errors(400) },
    },
    'POST /agents': {
      operationId: 'registerAgent',
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
      requestBody: body('AgentCardInput'),
      responses: {
        201: { description: 'Registered', ...ref('Registered') },
        200: { description: 'Unchanged or updated', ...ref('Reregistered') },
        ...errors(400, 403, 409),
      },
    },
    'GET /agents/{id}': {
      operationId: 'getAgent',
      summary: 'Read an agent',
      parameters: idParameter('agent id'),
      responses: { 200: { description: 'The agent', ...ref('AgentRecord') }, ...errors(400, 404) },
    },
    'DELETE /agents/{id}': {
      operationId: 'deregisterAgent',
      summary: 'Deregister an agent',
      parameters: idParameter('agent id'),
      responses: {
        200: { description: 'Removed', ...ref('Deregistered') },
        ...errors(400, 403, 404),
      },
    },
    'POST /agents/{id}/heartbeat': {
      operationId: 'heartbeat',
      summary: 'Refresh liveness',
      parameters: idParameter('agent id'),
      requestBody: body('HeartbeatReport', false),
      responses: {
        200: { description: 'The agent after the heartbeat', ...ref('AgentRecord') },
        ...errors(400, 403, 404),
      },
    },
    'GET /agents/{id}/health': {
      operationId: 'agentHealth',
      summary: 'Status, metrics, last seen, circuit state',
      parameters: idParameter('agent id'),
      responses: { 200: { description: 'Health', ...ref('AgentHealth') }, ...errors(400, 404) },
    },
    'GET /health': {
      operationId: 'fleetHealth',
      summary:
        'Fleet summary: agents by status, open circuits, work in flight, queue and dead-letter depths, recent failure rate, coordinations in flight',
      responses: { 200: { description: 'The fleet', ...ref('FleetHealth') } },
    },
    'POST /discover': {
      operationId: 'discover',
      summary: 'Find agents by capability: exact or fuzzy, semver range, all-of; ranked',
      requestBody: body('DiscoveryQuery'),
      responses: {
        200: { description: 'Matches, best first', ...ref('DiscoveryResult') },
        ...errors(400),
      },
    },
    'POST /messages': {
      operationId: 'sendMessage',
      summary:
        'Send a direct message (202), or a request and wait for the response (`wait`) or stream it (`stream`, SSE)',
      description: [
        'A request sent with `"stream": true`, or with `Accept: text/event-stream` and no `"stream": false`, is answered with server-sent events as the agent produces them:',
        "`chunk` events in order (`id:` the chunk's `seq`, `data:` a StreamChunk: a text delta or a JSON value), then exactly one `response`",
        "(`data:` the response envelope) or `error` (`data:` the API's error body, Error), after which the stream closes.",
        `A request refused before the agent's first chunk, within ${FIRST_FRAME_WAIT_MS / 1000} s (bad input, unknown agent, open circuit, an unreachable or busy agent, one failing before it streams anything), is answered with a plain JSON error and its status; past that wait the answer starts (keep-alive comments while the agent is silent), and a later refusal or failure is its \`error\` event.`,
        `The message \`timeout\` bounds the whole stream and may be up to ${MAX_STREAM_TIMEOUT_SECONDS} seconds when the answer is streamed (\`stream\`, or \`Accept: text/event-stream\`); otherwise it is at most ${MAX_WAIT_TIMEOUT_SECONDS}.`,
        'Only agents reached through Lambda can stream: a queue-only agent answers 400, naming it.',
        "A caller that does not stream (`wait`) gets a streaming agent's final output as the response, as ever.",
      ].join(' '),
      requestBody: body('MessageRequest'),
      responses: {
        202: { description: 'Queued', ...ref('MessageQueued') },
        200: {
          description:
            "The response envelope (`wait`), or, streamed (`stream`), `chunk` events then `response` or `error`: each event's `data` is one of the values described",
          content: {
            ...ref('MessageReply').content,
            'text/event-stream': sseEvents({
              oneOf: [
                { $ref: `${COMPONENT_PREFIX}StreamChunk` },
                {
                  type: 'object',
                  description: 'The `response` event: the response envelope',
                  additionalProperties: true,
                },
                { $ref: `${COMPONENT_PREFIX}Error` },
              ],
            }),
          },
        },
        ...errors(400, 403, 404, 502, 503, 504),
      },
    },
    'POST /broadcasts': {
      operationId: 'broadcast',
      summary:
        'Publish a broadcast (or, with eventType, an event) to everyone or to holders of a capability',
      requestBody: body('BroadcastRequest'),
      responses: {
        202: { description: 'Published', ...ref('BroadcastPublished') },
        ...errors(400, 403),
      },
    },
    'POST /coordinations': {
      operationId: 'runCoordination',
      summary:
        'Run a coordination: the result inline (express), 202 with its id (standard), or its live events (SSE)',
      description: [
        'With `Accept: text/event-stream` the coordination starts and its live events are streamed as server-sent events',
        '(`event:` the type, `id:` the event id, `data:` a CoordinationEvent), express and standard alike, until `coordination.finished`,',
        'which carries the result; the stream then closes. A dropped stream resumes from GET /coordinations/{id}/events with `Last-Event-ID`.',
        ...COORDINATION_STREAM_END,
        'A request refused before it starts (invalid, no agent available, capacity, an API without an event log: EVENTS_NOT_CONFIGURED) is answered with a plain JSON error.',
      ].join(' '),
      requestBody: body('CoordinationRequest'),
      responses: {
        200: {
          description:
            'Succeeded or partial; or, with `Accept: text/event-stream`, the live events (each `data` a CoordinationEvent, or the Error of an `error` event)',
          content: {
            ...ref('CoordinationResult').content,
            ...COORDINATION_STREAM,
          },
        },
        202: { description: 'Started (standard mode)', ...ref('CoordinationRunning') },
        ...errors(400, 404, 502, 503, 504),
      },
    },
    ...a2aOperations(),
    ...a2aImportOperations(),
    'GET /coordinations': {
      operationId: 'listCoordinations',
      summary: 'Recent coordinations, newest first, express and standard (kept 7 days)',
      description:
        'Every run is listed from the coordination event log, express runs included. Filters apply after DynamoDB reads a page, so a page may hold fewer than `limit` coordinations while `nextToken` says more may follow.',
      parameters: [
        {
          name: 'status',
          in: 'query',
          required: false,
          schema: { type: 'string', enum: [...COORDINATION_STATUSES] },
        },
        {
          name: 'pattern',
          in: 'query',
          required: false,
          schema: { type: 'string', enum: [...patternSchema.options] },
        },
        {
          name: 'since',
          in: 'query',
          required: false,
          description: 'Only coordinations started at or after this time (ISO 8601)',
          schema: { type: 'string', format: 'date-time' },
        },
        {
          name: 'limit',
          in: 'query',
          required: false,
          schema: { type: 'integer', minimum: 1, maximum: 100, default: 25 },
        },
        {
          name: 'nextToken',
          in: 'query',
          required: false,
          description: 'From the previous page',
          schema: { type: 'string' },
        },
      ],
      responses: {
        200: { description: 'A page of coordinations', ...ref('CoordinationList') },
        ...errors(400, 503),
      },
    },
    'DELETE /coordinations/{id}': {
      operationId: 'cancelCoordination',
      summary:
        'Cancel a running standard coordination (Step Functions StopExecution); operators only',
      description:
        'The run ends with status `cancelled` (GET /coordinations/{id}, its events, the list). Steps already handed to agents may still finish; their answers are dropped. Express runs cannot be stopped (409): they end within their timeout.',
      parameters: idParameter('coordination id'),
      responses: {
        200: { description: 'Cancelled', ...ref('CoordinationCancelled') },
        ...errors(400, 403, 404, 409),
      },
    },
    'POST /agents/{id}/circuit/reset': {
      operationId: 'resetCircuit',
      summary: "Close an agent's circuit breaker and clear its failure count; operators only",
      parameters: idParameter('agent id'),
      responses: {
        200: { description: 'The breaker, closed', ...ref('CircuitReset') },
        ...errors(400, 403, 404),
      },
    },
    'POST /agents/{id}/drain': {
      operationId: 'drainAgent',
      summary:
        'Drain an agent: no new work is planned, discovered or routed to it; work in flight finishes. Survives heartbeats until resumed; operators only',
      parameters: idParameter('agent id'),
      responses: {
        200: { description: 'Drained (again: the first drain stands)', ...ref('AgentDrained') },
        ...errors(400, 403, 404),
      },
    },
    'POST /agents/{id}/resume': {
      operationId: 'resumeAgent',
      summary: 'Undo a drain: the agent takes work again; operators only',
      parameters: idParameter('agent id'),
      responses: {
        200: { description: 'Resumed, with its status now', ...ref('AgentResumed') },
        ...errors(400, 403, 404),
      },
    },
    'GET /agents/{id}/queue': {
      operationId: 'getAgentQueue',
      summary:
        "An agent's queue: depth, in flight, delayed, age of the oldest message, dead-letter depth; operators only",
      parameters: idParameter('agent id'),
      responses: {
        200: { description: 'The queue now', ...ref('QueueState') },
        ...errors(400, 403, 404, 409, 503),
      },
    },
    'GET /agents/{id}/dead-letters': {
      operationId: 'peekDeadLetters',
      summary:
        "Look at messages in an agent's dead-letter queue without consuming them; operators only",
      parameters: [
        ...idParameter('agent id'),
        {
          name: 'limit',
          in: 'query',
          required: false,
          schema: { type: 'integer', minimum: 1, maximum: 10, default: 10 },
        },
      ],
      responses: {
        200: { description: 'Some of the parked messages', ...ref('DeadLetters') },
        ...errors(400, 403, 404, 409, 503),
      },
    },
    'POST /agents/{id}/dead-letters/redrive': {
      operationId: 'redriveDeadLetters',
      summary:
        "Move an agent's dead letters back to its queue (SQS StartMessageMoveTask); operators only",
      parameters: idParameter('agent id'),
      responses: {
        202: { description: 'The move started', ...ref('RedriveStarted') },
        ...errors(400, 403, 404, 409, 503),
      },
    },
    'GET /coordinations/{id}': {
      operationId: 'getCoordination',
      summary: 'Status, per-step results, errors, timings',
      parameters: idParameter('coordination id'),
      responses: {
        200: {
          description: 'Running, or the result',
          content: {
            'application/json': {
              schema: {
                oneOf: [
                  { $ref: `${COMPONENT_PREFIX}CoordinationResult` },
                  { $ref: `${COMPONENT_PREFIX}CoordinationRunning` },
                ],
              },
            },
          },
        },
        ...errors(400, 404),
      },
    },
    'GET /coordinations/{id}/events': {
      operationId: 'watchCoordination',
      summary:
        'Live events of a coordination (SSE): replayed from the start, then followed until coordination.finished',
      description: [
        'Server-sent events: `event:` the event type, `id:` the event id (1, 2, 3… per coordination), `data:` a CoordinationEvent.',
        'A late subscriber gets every event from the start; `Last-Event-ID` (what EventSource sends when it reconnects) or `?after=`',
        'resumes after that id. Each step reports `step.started` (or `step.fallback`, `step.retried`), its `step.chunk`s in order, then',
        '`step.succeeded` or `step.failed`; the stream ends after `coordination.finished`, which carries the result as',
        'GET /coordinations/{id} answers it. A `: keep-alive` comment line every 15 s keeps proxies from closing a quiet stream.',
        ...COORDINATION_STREAM_END,
        'Events are kept for 7 days.',
      ].join(' '),
      parameters: [
        ...idParameter('coordination id'),
        {
          name: 'after',
          in: 'query',
          required: false,
          description: 'Only events after this id (0: from the start)',
          schema: { type: 'integer', minimum: 0 },
        },
        {
          name: 'Last-Event-ID',
          in: 'header',
          required: false,
          description: 'Resume after this event id (sent by EventSource when it reconnects)',
          schema: { type: 'string', pattern: '^\\d{1,15}$' },
        },
      ],
      responses: {
        200: {
          description: `The events, as they are appended (a chunk carries at most ${MAX_CHUNK_BYTES / 1024} KB), or last an \`error\` event`,
          content: COORDINATION_STREAM,
        },
        204: {
          description:
            'Asked to resume at or after the end (`after` or `Last-Event-ID` at least the id of `coordination.finished`): nothing follows. An EventSource stops reconnecting on it, as it would not on any 200',
        },
        400: {
          description:
            'VALIDATION_FAILED: `after` or `Last-Event-ID` is not an event id (a whole number, 0 for the start); `error.details.issues[].path` names which',
          ...ref('Error'),
        },
        ...errors(404),
        503: {
          description:
            'EVENTS_NOT_CONFIGURED: this API keeps no coordination event log (`details.missing` names the setting: MOBIUS_EVENTS_TABLE); trying again does not help',
          ...ref('Error'),
        },
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
    // Any request can have headers too large, and any body can be too large.
    const responses = {
      ...operation.responses,
      ...(operation.requestBody === undefined ? {} : errors(413)),
      ...errors(431),
    };
    paths[route.path] = {
      ...paths[route.path],
      [route.method.toLowerCase()]: { ...operation, responses, security: [{ sigv4: [] }] },
    };
  }
  const schemas = componentSchemas();
  return {
    openapi: '3.1.0',
    info: {
      title: 'Mobius Coordinator API',
      version: '1.0.0',
      description:
        'Agent registry, discovery, messaging and coordinations. Served by API Gateway (IAM/SigV4 auth) and by the embedded runtime (`mobius dev`). Errors: `{ error: { code, message, details } }`.',
      license: { name: 'Apache-2.0', identifier: 'Apache-2.0' },
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
      responses: errorResponses(),
      securitySchemes: {
        sigv4: {
          type: 'apiKey',
          in: 'header',
          name: 'Authorization',
          description: 'AWS Signature Version 4 (IAM); see README "Calling the API"',
        },
      },
      schemas: {
        ...schemas,
        Error: {
          ...schemas.Error,
          description: `codes: ${Object.entries(ERROR_CODES)
            .map(([code, status]) => `${code} (${status})`)
            .join(', ')}`,
        },
      },
    },
  };
}
