import { A2A_ERRORS } from '../a2a/json-rpc.ts';
import { A2A_PROTOCOL_VERSION, A2A_VERSION_HEADER, TASK_STATES } from '../a2a/protocol.ts';
import { A2A_METHODS } from '../a2a/requests.ts';
import { sseEvents } from './openapi-sse.ts';
import { MAX_STREAM_TIMEOUT_SECONDS, MAX_WAIT_TIMEOUT_SECONDS } from './routes/messages.ts';

/**
 * The OpenAPI operations of the A2A routes (docs/a2a.md), spread into openapi.ts's operations().
 * A2A's own shapes are documented inline, as JSON Schema of their ProtoJSON wire form: they are
 * A2A 1.0's, not Mobius's, so they stay out of the API's component schemas.
 */
export interface A2aOperation {
  operationId: string;
  summary: string;
  description?: string;
  requestBody?: unknown;
  parameters?: unknown[];
  responses: Record<string, unknown>;
}

const agentIdParameter = {
  name: 'agentId',
  in: 'path',
  required: true,
  description: 'The id of a registered agent',
  schema: { type: 'string' },
};

const response = (name: 'InvalidInput' | 'NotFound') => ({
  $ref: `#/components/responses/${name}`,
});

const idSchema = {
  // JSON-RPC allows any number (fractions SHOULD NOT be used, but are answered).
  type: ['string', 'number', 'null'],
  description: 'Echoed in the answer (and in every event of a stream)',
};

const metadataSchema = { type: 'object', additionalProperties: true };

const partSchema = {
  type: 'object',
  description:
    'Exactly one of `text` or `data` (`url` and `raw`, file parts, are refused with -32005: a Mobius agent takes JSON)',
  properties: {
    text: { type: 'string' },
    data: { description: 'Any JSON value' },
    mediaType: { type: 'string' },
    metadata: metadataSchema,
  },
};

const messageSchema = {
  type: 'object',
  required: ['messageId', 'parts'],
  properties: {
    messageId: { type: 'string', minLength: 1 },
    contextId: {
      type: 'string',
      maxLength: 128,
      description: "The conversation; the Mobius message's conversationId. A new one when absent",
    },
    taskId: {
      type: 'string',
      description:
        'Continuing a task is not supported: a known task gives -32004, an unknown one -32001',
    },
    role: {
      oneOf: [
        { type: 'string', enum: ['ROLE_USER', 'ROLE_AGENT', 'ROLE_UNSPECIFIED'] },
        { type: 'integer' },
      ],
      description: 'By name or number (ProtoJSON); not used',
    },
    parts: {
      type: 'array',
      minItems: 1,
      items: partSchema,
      description:
        'One data part (its value is the agent\'s input) or text parts (the input is `{ "text": … }`, several joined by newlines)',
    },
    metadata: metadataSchema,
  },
};

const requestSchema = {
  type: 'object',
  required: ['jsonrpc', 'method'],
  properties: {
    jsonrpc: { const: '2.0' },
    id: idSchema,
    method: { type: 'string', enum: [...A2A_METHODS] },
    params: {
      type: 'object',
      description:
        'SendMessage and SendStreamingMessage: `message`, `configuration` and `metadata`; GetTask: `id` (`historyLength` is ignored); CancelTask: `id`',
      properties: {
        message: messageSchema,
        configuration: {
          type: 'object',
          properties: {
            acceptedOutputModes: { type: 'array', items: { type: 'string' } },
            returnImmediately: {
              type: 'boolean',
              description: 'Ignored: the answer comes when the agent has answered',
            },
          },
        },
        metadata: {
          type: 'object',
          additionalProperties: true,
          properties: {
            timeout: {
              type: 'integer',
              minimum: 1,
              description: `Seconds the agent has to answer: at most ${MAX_WAIT_TIMEOUT_SECONDS} (the default) for SendMessage, ${MAX_STREAM_TIMEOUT_SECONDS} for SendStreamingMessage (default 30)`,
            },
          },
        },
        id: { type: 'string', minLength: 1, description: 'GetTask, CancelTask: the task id' },
        historyLength: { type: 'integer', minimum: 0 },
      },
    },
  },
};

const rpcResponseSchema = {
  type: 'object',
  required: ['jsonrpc', 'id'],
  properties: {
    jsonrpc: { const: '2.0' },
    id: idSchema,
    result: {
      type: 'object',
      description: `SendMessage: \`{ task }\`. GetTask, CancelTask: the Task. A stream's events: one of \`task\`, \`statusUpdate\`, \`artifactUpdate\`. Task states: ${Object.values(TASK_STATES).join(', ')}`,
    },
    error: {
      type: 'object',
      required: ['code', 'message'],
      properties: {
        code: {
          type: 'integer',
          description: Object.entries(A2A_ERRORS)
            .map(([name, { code }]) => `${code} ${name}`)
            .join(', '),
        },
        message: { type: 'string' },
        data: {
          type: 'array',
          items: { type: 'object' },
          description:
            '`google.rpc.ErrorInfo` (`reason`, domain `a2a-protocol.org`); for -32602 also `google.rpc.BadRequest` naming each bad field',
        },
      },
    },
  },
};

const skillSchema = {
  type: 'object',
  required: ['id', 'name', 'description', 'tags', 'inputModes', 'outputModes'],
  properties: {
    id: { type: 'string', description: 'The capability name' },
    name: { type: 'string' },
    description: { type: 'string' },
    tags: { type: 'array', items: { type: 'string' } },
    examples: { type: 'array', items: { type: 'string' } },
    inputModes: { type: 'array', items: { type: 'string' } },
    outputModes: { type: 'array', items: { type: 'string' } },
  },
};

const agentCardSchema = {
  type: 'object',
  required: [
    'name',
    'description',
    'supportedInterfaces',
    'version',
    'capabilities',
    'defaultInputModes',
    'defaultOutputModes',
    'skills',
  ],
  properties: {
    name: { type: 'string', description: 'The agent id' },
    description: { type: 'string' },
    supportedInterfaces: {
      type: 'array',
      items: {
        type: 'object',
        required: ['url', 'protocolBinding', 'protocolVersion'],
        properties: {
          url: { type: 'string', description: 'POST /a2a/{agentId} on this API' },
          protocolBinding: { const: 'JSONRPC' },
          protocolVersion: { const: A2A_PROTOCOL_VERSION },
        },
      },
    },
    version: { type: 'string', description: "The highest of the agent's capability versions" },
    capabilities: {
      type: 'object',
      properties: {
        streaming: { type: 'boolean', description: 'True when the agent has a Lambda endpoint' },
        pushNotifications: { const: false },
      },
    },
    securitySchemes: {
      type: 'object',
      additionalProperties: true,
      description: 'On AWS: `sigv4`, HTTP scheme AWS4-HMAC-SHA256. Absent in the embedded runtime',
    },
    securityRequirements: { type: 'array', items: { type: 'object' } },
    defaultInputModes: { type: 'array', items: { type: 'string' } },
    defaultOutputModes: { type: 'array', items: { type: 'string' } },
    skills: { type: 'array', items: skillSchema, description: 'One per capability name' },
  },
};

export function a2aOperations(): Record<string, A2aOperation> {
  return {
    'GET /a2a/{agentId}/.well-known/agent-card.json': {
      operationId: 'getA2aAgentCard',
      summary: "An agent's A2A 1.0 agent card: its capabilities as skills, its JSON-RPC endpoint",
      parameters: [agentIdParameter],
      responses: {
        200: {
          description: 'The AgentCard (A2A 1.0, ProtoJSON)',
          content: { 'application/json': { schema: agentCardSchema } },
        },
        400: response('InvalidInput'),
        404: response('NotFound'),
      },
    },
    'POST /a2a/{agentId}': {
      operationId: 'callA2aAgent',
      summary:
        'A2A 1.0 JSON-RPC: SendMessage, SendStreamingMessage (SSE), GetTask and CancelTask, routed to the agent through Mobius',
      description: [
        'Every JSON-RPC answer is a 200, errors included. Each message is a task of its own, answered once the agent has: completed, with the output as the artifact `output`, or failed, the error in its status message.',
        'SendStreamingMessage answers with server-sent events, each a JSON-RPC response with the request id: the task, working, the agent chunks (artifact `stream`, appended), the output, the end.',
        `A request without the \`${A2A_VERSION_HEADER}\` header is taken as ${A2A_PROTOCOL_VERSION}; another version gives -32009.`,
      ].join(' '),
      parameters: [
        agentIdParameter,
        {
          name: A2A_VERSION_HEADER,
          in: 'header',
          required: false,
          schema: { type: 'string', default: A2A_PROTOCOL_VERSION },
        },
      ],
      requestBody: {
        required: true,
        content: { 'application/json': { schema: requestSchema } },
      },
      responses: {
        200: {
          description:
            'A JSON-RPC response; for SendStreamingMessage, server-sent events whose `data` each is one (`event: error` for an error)',
          content: {
            'application/json': { schema: rpcResponseSchema },
            'text/event-stream': sseEvents(rpcResponseSchema),
          },
        },
        400: response('InvalidInput'),
        404: response('NotFound'),
      },
    },
  };
}
