import * as z from 'zod';
import { jsonShapeIssue, jsonValueSchema } from '../core/model/json-value.ts';
import { toFieldIssues } from '../core/validation.ts';
import { A2aError, describeIssues, type JsonRpcId } from './json-rpc.ts';
import { A2A_PROTOCOL_VERSION } from './protocol.ts';

/**
 * What the A2A endpoint reads: a JSON-RPC 2.0 request, and the parameters of the four methods it
 * serves, in A2A 1.0's ProtoJSON. Fields Mobius does not use are accepted and ignored, as ProtoJSON
 * readers do with unknown fields; a field of the wrong type is refused with its path.
 */
export const A2A_METHODS = [
  'SendMessage',
  'SendStreamingMessage',
  'GetTask',
  'CancelTask',
] as const;
export type A2aMethod = (typeof A2A_METHODS)[number];

export interface RpcCall {
  readonly id: JsonRpcId;
  readonly method: A2aMethod;
  readonly params: unknown;
}

/** A request that could not be read, and the id to answer it with (null when none was readable). */
export interface RpcRefusal {
  readonly id: JsonRpcId;
  readonly error: A2aError;
}

const idSchema = z.union([z.string(), z.number(), z.null()]);

const envelopeSchema = z.object({
  jsonrpc: z.literal('2.0', { error: 'jsonrpc must be "2.0"' }),
  id: idSchema.optional(),
  method: z.string({ error: 'method must be a string' }),
  params: z.unknown().optional(),
});

/**
 * Reads a request body: -32700 when it is not JSON, -32600 when it is not a JSON-RPC 2.0 request
 * (a batch, a missing `jsonrpc` or `method`, or JSON nested too deep or with a `__proto__` key),
 * -32601 for a method other than the four. A request without an id is answered with id null.
 */
export function readCall(body: string | null): RpcCall | RpcRefusal {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body ?? '');
  } catch (error) {
    return {
      id: null,
      error: new A2aError('parseError', `The body is not JSON: ${(error as Error).message}`),
    };
  }
  const id = idIn(parsed);
  if (Array.isArray(parsed))
    return {
      id: null,
      error: new A2aError(
        'invalidRequest',
        'Batches are not supported: send one JSON-RPC request per HTTP request.',
      ),
    };
  const shape = jsonShapeIssue(parsed);
  if (shape !== undefined)
    return {
      id,
      error: new A2aError('invalidRequest', describeIssues([shape]), [shape]),
    };
  const envelope = envelopeSchema.safeParse(parsed);
  if (!envelope.success) {
    const issues = toFieldIssues(envelope.error);
    return {
      id,
      error: new A2aError(
        'invalidRequest',
        `Not a JSON-RPC 2.0 request: ${describeIssues(issues)}`,
        issues,
      ),
    };
  }
  const { method, params } = envelope.data;
  if (!(A2A_METHODS as readonly string[]).includes(method))
    return {
      id,
      error: new A2aError(
        'methodNotFound',
        `Unknown method "${method}": this agent serves ${A2A_METHODS.join(', ')} (A2A ${A2A_PROTOCOL_VERSION} names).`,
      ),
    };
  return { id, method: method as A2aMethod, params };
}

/** The request's id when it has a valid one, so that even a refusal answers to it. */
function idIn(parsed: unknown): JsonRpcId {
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return null;
  const id = idSchema.safeParse((parsed as { id?: unknown }).id);
  return id.success ? id.data : null;
}

const metadataSchema = z.record(z.string(), jsonValueSchema);

/**
 * One part: exactly one of `text`, `data`, `url` or `raw` (a `data` of null counts as absent, as
 * ProtoJSON readers take it).
 */
export const partSchema = z
  .object({
    text: z.string().optional(),
    data: jsonValueSchema.optional(),
    url: z.string().optional(),
    raw: z.string().optional(),
    mediaType: z.string().optional(),
    filename: z.string().optional(),
    metadata: metadataSchema.optional(),
  })
  .refine(
    (part) =>
      [part.text, part.data, part.url, part.raw].filter((v) => v !== undefined && v !== null)
        .length === 1,
    { message: 'a part holds exactly one of text, data, url or raw' },
  );
export type IncomingPart = z.output<typeof partSchema>;

export const messageSchema = z.object({
  messageId: z
    .string({ error: 'messageId is required' })
    .min(1, 'messageId is required: a fresh id for each message'),
  /**
   * The conversation the message belongs to; Mobius carries it as the message's conversationId,
   * which holds at most 128 characters. An empty one is no context (ProtoJSON's default).
   */
  contextId: z.string().max(128, 'a contextId holds at most 128 characters').optional(),
  taskId: z.string().max(128, 'a task id holds at most 128 characters').optional(),
  /** By name or, as ProtoJSON readers also take enums, by number; not used. */
  role: z.union([z.enum(['ROLE_USER', 'ROLE_AGENT', 'ROLE_UNSPECIFIED']), z.int()]).optional(),
  parts: z.array(partSchema).min(1, 'a message needs at least one part'),
  metadata: metadataSchema.optional(),
  extensions: z.array(z.string()).optional(),
  referenceTaskIds: z.array(z.string()).optional(),
});
export type IncomingMessage = z.output<typeof messageSchema>;

export const sendMessageParamsSchema = z.object({
  tenant: z.string().optional(),
  message: messageSchema,
  configuration: z
    .object({
      acceptedOutputModes: z.array(z.string()).optional(),
      historyLength: z.int().min(0).optional(),
      /** Ignored: a Mobius task answers once the agent has (see docs/a2a.md). */
      returnImmediately: z.boolean().optional(),
      taskPushNotificationConfig: z.unknown().optional(),
    })
    .optional(),
  /**
   * The request's metadata; `timeout` (seconds) bounds the agent's answer as a message's timeout
   * does, within the limits of POST /messages.
   */
  metadata: z
    .object({ timeout: z.int('timeout is a whole number of seconds').min(1).optional() })
    .catchall(jsonValueSchema)
    .optional(),
});
export type SendMessageParams = z.output<typeof sendMessageParamsSchema>;

/** Task ids are UUIDs; 128 characters keep any id a client sends a valid key of the log. */
const taskIdSchema = z
  .string({ error: 'id is required' })
  .min(1, 'id is required: the task id')
  .max(128, 'a task id holds at most 128 characters');

export const getTaskParamsSchema = z.object({
  tenant: z.string().optional(),
  id: taskIdSchema,
  historyLength: z.int().min(0).optional(),
});

export const cancelTaskParamsSchema = z.object({
  tenant: z.string().optional(),
  id: taskIdSchema,
  metadata: metadataSchema.optional(),
});

/** Parses a method's params: -32602 naming each bad field by its path in `params`. */
export function parseParams<S extends z.ZodType>(schema: S, params: unknown): z.output<S> {
  if (params === null || typeof params !== 'object' || Array.isArray(params))
    throw new A2aError('invalidParams', 'params must be an object', [
      { path: '', message: 'params must be an object' },
    ]);
  const result = schema.safeParse(params);
  if (result.success) return result.data;
  const issues = toFieldIssues(result.error);
  throw new A2aError('invalidParams', `Invalid params: ${describeIssues(issues)}`, issues);
}
