// One module per semver function: semver is CommonJS, and its index requires every function and
// class (8 KB more in each bundle that imports it). Ranges are discovery's (registry/discovery.ts):
// their classes stay out of the agents' bundles, which import this module.
import semverValid from 'semver/functions/valid.js';
import * as z from 'zod';
import { jsonByteLength } from '../canonical-json.ts';

/** Limits that keep one agent row well inside DynamoDB's 400 KB item limit. */
export const CARD_LIMITS = {
  metadataBytes: 4 * 1024,
  jsonSchemaBytes: 16 * 1024,
  cardBytes: 64 * 1024,
  capabilities: 50,
} as const;

const ID_HINT = 'use 1-64 letters, digits, ".", "_" or "-", starting with a letter or digit';
export const identifierSchema = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, `invalid identifier; ${ID_HINT}`);

export const capabilityNameSchema = z
  .string()
  .regex(
    /^[A-Za-z][A-Za-z0-9._:/-]{0,127}$/,
    'invalid capability name; use 1-128 letters, digits or ". _ : / -", starting with a letter',
  );

export const semverSchema = z.string().refine((v) => semverValid(v) !== null, {
  message: 'not a semantic version; use MAJOR.MINOR.PATCH such as "1.2.0"',
});

/** Protocol versions are MAJOR.MINOR; negotiation picks the highest version both sides list. */
export const protocolVersionSchema = z
  .string()
  .regex(/^\d+\.\d+$/, 'protocol versions are MAJOR.MINOR, such as "1.0"');

function withinBytes(limit: number, what: string) {
  return (value: unknown, ctx: z.RefinementCtx) => {
    const size = jsonByteLength(value);
    if (size > limit) {
      ctx.addIssue({
        code: 'custom',
        message: `${what} is ${size} bytes as JSON; the limit is ${limit} bytes — move large data out of the card`,
      });
    }
  };
}

const jsonSchemaObject = z
  .record(z.string(), z.unknown())
  .superRefine(withinBytes(CARD_LIMITS.jsonSchemaBytes, 'JSON schema'));

export const capabilitySchema = z.strictObject({
  name: capabilityNameSchema,
  version: semverSchema,
  /** Higher wins when two agents match equally well. */
  priority: z
    .int('priority must be an integer')
    .min(-1000, 'priority must be between -1000 and 1000')
    .max(1000, 'priority must be between -1000 and 1000')
    .default(0),
  metadata: z
    .record(z.string(), z.unknown())
    .superRefine(withinBytes(CARD_LIMITS.metadataBytes, 'metadata'))
    .default({}),
  inputSchema: jsonSchemaObject.optional(),
  outputSchema: jsonSchemaObject.optional(),
});

export const protocolSchema = z.strictObject({
  name: z
    .string()
    .regex(/^[a-z][a-z0-9-]{0,31}$/, 'protocol names are lower-case, such as "mobius"'),
  versions: z.array(protocolVersionSchema).min(1, 'list at least one version'),
});

export const DEFAULT_PROTOCOLS = [{ name: 'mobius', versions: ['1.0'] }];

const lambdaArnSchema = z
  .string()
  .regex(
    /^arn:aws[a-z-]*:lambda:[a-z0-9-]+:\d{12}:function:[A-Za-z0-9_-]{1,64}(:[A-Za-z0-9$_-]+)?$/,
    'not a Lambda function ARN (arn:aws:lambda:<region>:<account>:function:<name>)',
  );
const queueArnSchema = z
  .string()
  .regex(
    /^arn:aws[a-z-]*:sqs:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,80}(\.fifo)?$/,
    'not an SQS queue ARN (arn:aws:sqs:<region>:<account>:<queue>)',
  );

/** How the agent is reached: a Lambda for synchronous/express dispatch, a queue for messages and task tokens. */
export const endpointSchema = z
  .strictObject({
    lambdaArn: lambdaArnSchema.optional(),
    queueUrl: z.url('not a URL; give the queue URL SQS returned').optional(),
    queueArn: queueArnSchema.optional(),
  })
  .refine((e) => e.lambdaArn !== undefined || e.queueUrl !== undefined, {
    message: 'give at least one of lambdaArn or queueUrl so the agent can be reached',
  })
  .refine(
    (e) =>
      e.queueUrl === undefined ||
      e.queueArn === undefined ||
      e.queueUrl.endsWith('.fifo') === e.queueArn.endsWith('.fifo'),
    { message: 'queueUrl and queueArn disagree about FIFO (the .fifo suffix)', path: ['queueArn'] },
  );

export const healthCheckSchema = z
  .strictObject({
    heartbeatIntervalSeconds: z.int().min(1).max(3600).default(30),
    /** After this long without a heartbeat the agent reads as offline. */
    heartbeatTimeoutSeconds: z.int().min(1).max(86_400).default(90),
  })
  .refine((h) => h.heartbeatTimeoutSeconds >= h.heartbeatIntervalSeconds, {
    message: 'heartbeatTimeoutSeconds must be at least heartbeatIntervalSeconds',
    path: ['heartbeatTimeoutSeconds'],
  });

export const agentCardSchema = z
  .strictObject({
    agentId: identifierSchema,
    agentType: identifierSchema,
    description: z.string().min(1, 'describe what the agent does').max(1024),
    capabilities: z
      .array(capabilitySchema)
      .min(1, 'an agent needs at least one capability')
      .max(CARD_LIMITS.capabilities, `at most ${CARD_LIMITS.capabilities} capabilities per agent`),
    protocols: z.array(protocolSchema).min(1).default(DEFAULT_PROTOCOLS),
    endpoint: endpointSchema,
    maxConcurrency: z.int().min(1).max(10_000).optional(),
    healthCheck: healthCheckSchema.default({
      heartbeatIntervalSeconds: 30,
      heartbeatTimeoutSeconds: 90,
    }),
  })
  .superRefine((card, ctx) => {
    const seen = new Set<string>();
    card.capabilities.forEach((capability, index) => {
      const key = `${capability.name}@${capability.version}`;
      if (seen.has(key)) {
        ctx.addIssue({
          code: 'custom',
          path: ['capabilities', index, 'name'],
          message: `capability ${key} is listed twice; list each name and version once`,
        });
      }
      seen.add(key);
    });
    const size = jsonByteLength(card);
    if (size > CARD_LIMITS.cardBytes) {
      ctx.addIssue({
        code: 'custom',
        path: [],
        message: `card is ${size} bytes as JSON; the limit is ${CARD_LIMITS.cardBytes} bytes`,
      });
    }
  });

export type AgentCardInput = z.input<typeof agentCardSchema>;
export type AgentCard = z.output<typeof agentCardSchema>;
export type Capability = z.output<typeof capabilitySchema>;
export type Protocol = z.output<typeof protocolSchema>;
export type AgentEndpoint = z.output<typeof endpointSchema>;
export type HealthCheckSettings = z.output<typeof healthCheckSchema>;

export function isFifoEndpoint(endpoint: AgentEndpoint): boolean {
  return endpoint.queueUrl?.endsWith('.fifo') ?? false;
}

/**
 * The card fields of an agent definition (defineAgent's input): everything but the handler and
 * the declared subscriptions, which are the agent's code and its rules, not its card.
 */
export function cardFieldsOf<
  T extends { readonly handler?: unknown; readonly subscriptions?: unknown },
>(definition: T): Omit<T, 'handler' | 'subscriptions'> {
  const { handler: _handler, subscriptions: _subscriptions, ...card } = definition;
  return card;
}
