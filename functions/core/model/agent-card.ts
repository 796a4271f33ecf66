// One module per semver function: semver is CommonJS, and its index requires every function and
// class (8 KB more in each bundle that imports it). Ranges are discovery's (registry/discovery.ts):
// their classes stay out of the agents' bundles, which import this module.
import semverValid from 'semver/functions/valid.js';
import * as z from 'zod';
import { jsonByteLength } from '../canonical-json.ts';
import type { FieldIssue } from '../errors.ts';
import { jsonShapeIssue } from './json-value.ts';
import { type RemoteHostPolicy, remoteUrlIssue } from './remote-hosts.ts';

/** Limits that keep one agent row well inside DynamoDB's 400 KB item limit. */
export const CARD_LIMITS = {
  metadataBytes: 4 * 1024,
  jsonSchemaBytes: 16 * 1024,
  cardBytes: 64 * 1024,
  capabilities: 50,
  /**
   * Levels of nesting inside a capability's metadata or JSON schemas (the value itself is 1).
   * DynamoDB refuses items nested deeper than 32 levels, and these values sit four levels down
   * in an agent row (card → capabilities → item → metadata): 24 leaves room to spare.
   */
  nestingLevels: 24,
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

function withinDepth(what: string) {
  return (value: unknown, ctx: z.RefinementCtx) => {
    const issue = jsonShapeIssue(value, CARD_LIMITS.nestingLevels);
    if (issue !== undefined)
      ctx.addIssue({
        code: 'custom',
        path: issue.path === '' ? [] : issue.path.split('.'),
        message: `${what}: ${issue.message} (DynamoDB stores at most 32 levels per item)`,
      });
  };
}

const jsonSchemaObject = z
  .record(z.string(), z.unknown())
  .superRefine(withinBytes(CARD_LIMITS.jsonSchemaBytes, 'JSON schema'))
  .superRefine(withinDepth('JSON schema'));

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
    .superRefine(withinDepth('metadata'))
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

const httpUrlSchema = z.url({
  protocol: /^https?$/,
  message: 'not an absolute http(s) URL',
});

/**
 * An agent outside AWS, imported from its A2A card (POST /agents/import, docs/a2a.md): Mobius
 * reaches it through its A2A proxy function (the endpoint's `lambdaArn`), which calls this URL.
 */
export const a2aEndpointSchema = z.strictObject({
  /** The agent's A2A 1.0 JSON-RPC endpoint, from its card's `supportedInterfaces`. */
  url: httpUrlSchema,
  /** Where its card was read: the health monitor reads it again to see the agent is up. */
  cardUrl: httpUrlSchema,
  /** The card's tenant for that interface, sent as `params.tenant` when set. */
  tenant: z.string().max(256).optional(),
  /** Whether the agent streams (its card's `capabilities.streaming`): SendStreamingMessage. */
  streaming: z.boolean().default(false),
});
export type A2aEndpoint = z.output<typeof a2aEndpointSchema>;

/** How the agent is reached: a Lambda for synchronous/express dispatch, a queue for messages and task tokens. */
export const endpointSchema = z
  .strictObject({
    lambdaArn: lambdaArnSchema.optional(),
    // Only http(s): a card's queue URL is where the router sends signed SQS requests, never a file.
    queueUrl: z
      .url({
        protocol: /^https?$/,
        message: 'not an http(s) URL; give the queue URL SQS returned',
      })
      .optional(),
    queueArn: queueArnSchema.optional(),
    /**
     * The agent's response-streaming function (Lambda response streaming: its chunks as they come),
     * when it has one; streamed requests go there, everything else to lambdaArn or the queue.
     */
    streamArn: lambdaArnSchema.optional(),
    /**
     * An imported A2A agent: `lambdaArn` is then the A2A proxy function, which calls it (and
     * `streamArn` the proxy's streaming function, when the deployment has one).
     */
    a2a: a2aEndpointSchema.optional(),
  })
  .refine((e) => e.lambdaArn !== undefined || e.queueUrl !== undefined, {
    message: 'give at least one of lambdaArn or queueUrl so the agent can be reached',
  })
  .refine((e) => e.a2a === undefined || e.lambdaArn !== undefined, {
    message: 'an A2A agent is reached through the A2A proxy function: give its ARN as lambdaArn',
    path: ['lambdaArn'],
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

/**
 * Names the coordinator itself uses as a message's `from` ("api": the HTTP API on behalf of its
 * caller; "mobius": the coordinator). An agent with one of these ids could pass for it.
 */
export const RESERVED_AGENT_IDS: readonly string[] = ['api', 'mobius'];

export const agentCardSchema = z
  .strictObject({
    agentId: identifierSchema.refine((id) => !RESERVED_AGENT_IDS.includes(id.toLowerCase()), {
      message: `"api" and "mobius" name the coordinator itself; choose another agent id`,
    }),
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

/**
 * Where agents may be reached, beyond what the schema checks: the router signs every SQS request
 * with its own credentials and invokes Lambda ARNs with its own role, so a card naming any URL or
 * any account would let whoever registers it point the coordinator at a listener of theirs (SSRF)
 * or at another account's function. Built from the deployment's environment
 * (functions/api/environment.ts) or from the embedded runtime's endpoints.
 */
export interface EndpointPolicy {
  /** The region of every queue and function (the stack's region). */
  readonly region: string;
  /** Accounts whose queues and functions may be endpoints (by default the stack's own). */
  readonly accounts: readonly string[];
  /**
   * Local mode (LocalStack, the embedded runtime, emulators): queue URLs must be on this SQS
   * endpoint (AWS_ENDPOINT_URL_SQS or AWS_ENDPOINT_URL) instead of SQS's public endpoints of
   * `region`.
   */
  readonly sqsEndpoint?: string;
  /**
   * Imported A2A agents (endpoint.a2a): the hosts they may be on and the proxy that calls them.
   * Absent: A2A agents are not taken, and a card naming one is refused saying how to allow them.
   */
  readonly a2a?: A2aEndpointPolicy;
}

export interface A2aEndpointPolicy {
  readonly hosts: RemoteHostPolicy;
  /** The A2A proxy function every imported agent's lambdaArn names. */
  readonly proxyArn: string;
  /** The proxy's response-streaming function, when the deployment has one (streamArn). */
  readonly proxyStreamArn?: string;
}

/** What a refusal says when a deployment takes no A2A agents. */
export const A2A_IMPORT_OFF =
  "this deployment imports no A2A agents: allow their hosts with the stack's a2aAllowedHosts (MOBIUS_A2A_ALLOWED_HOSTS on the API function), or the embedded runtime's a2a.allowedHosts option";

const SQS_HOSTS = (region: string) => [
  `sqs.${region}.amazonaws.com`,
  `sqs.${region}.amazonaws.com.cn`,
  // The legacy form SQS still returns for queues created long ago.
  `${region}.queue.amazonaws.com`,
];

/** `/<account>/<queue name>`, the path of a queue URL on SQS and on every emulator the project uses. */
const QUEUE_PATH = /^\/(\d{12})\/([A-Za-z0-9_-]{1,80}(?:\.fifo)?)$/;

/** Problems of `endpoint` under `policy`, as field issues relative to the card. */
export function endpointPolicyIssues(
  endpoint: AgentEndpoint,
  policy: EndpointPolicy,
): FieldIssue[] {
  const issues: FieldIssue[] = [];
  const accounts = policy.accounts.join(', ');
  const outside = (what: string, account: string) =>
    `${what} is in account ${account}; agents may be reached in ${accounts} only (the stack's allowedAgentAccounts)`;
  let urlQueue: { account: string; name: string } | undefined;
  // Refinements also run on cards with other problems: a URL the schema refused is reported once.
  const url = parsedUrl(endpoint.queueUrl);
  if (url !== undefined) {
    const path = QUEUE_PATH.exec(url.pathname);
    const expected =
      policy.sqsEndpoint === undefined
        ? `https://sqs.${policy.region}.amazonaws.com/<account>/<queue>`
        : `${new URL(policy.sqsEndpoint).origin}/<account>/<queue>`;
    const onEndpoint =
      policy.sqsEndpoint === undefined
        ? url.protocol === 'https:' &&
          url.port === '' &&
          SQS_HOSTS(policy.region).includes(url.hostname)
        : url.origin === new URL(policy.sqsEndpoint).origin;
    if (!onEndpoint || path === null || url.search !== '' || url.hash !== '' || url.username) {
      issues.push({
        path: 'endpoint.queueUrl',
        message: `not a queue URL of this deployment's SQS endpoint; expected ${expected}`,
      });
    } else {
      const [, account = '', name = ''] = path;
      urlQueue = { account, name };
      if (!policy.accounts.includes(account))
        issues.push({ path: 'endpoint.queueUrl', message: outside('the queue', account) });
    }
  }
  if (endpoint.queueArn !== undefined && queueArnSchema.safeParse(endpoint.queueArn).success) {
    const [, , , region = '', account = '', name = ''] = endpoint.queueArn.split(':');
    if (region !== policy.region) {
      issues.push({
        path: 'endpoint.queueArn',
        message: `the queue is in region ${region}; agents are reached in ${policy.region} only`,
      });
    } else if (!policy.accounts.includes(account)) {
      issues.push({ path: 'endpoint.queueArn', message: outside('the queue', account) });
    } else if (urlQueue !== undefined && (urlQueue.account !== account || urlQueue.name !== name)) {
      // The router sends to the URL, EventBridge rules target the ARN: both must be one queue.
      issues.push({
        path: 'endpoint.queueArn',
        message: `names queue ${account}/${name}, but queueUrl names ${urlQueue.account}/${urlQueue.name}; give the same queue`,
      });
    }
  }
  issues.push(...a2aPolicyIssues(endpoint, policy));
  // The streaming function is invoked as the main one is: the same rules, each field its own issue.
  for (const field of ['lambdaArn', 'streamArn'] as const) {
    const arn = endpoint[field];
    if (arn === undefined || !lambdaArnSchema.safeParse(arn).success) continue;
    const [, , , region = '', account = ''] = arn.split(':');
    if (region !== policy.region) {
      issues.push({
        path: `endpoint.${field}`,
        message: `the function is in region ${region}; agents are reached in ${policy.region} only`,
      });
    } else if (!policy.accounts.includes(account)) {
      issues.push({ path: `endpoint.${field}`, message: outside('the function', account) });
    }
  }
  return issues;
}

/**
 * An A2A endpoint under `policy`: its URLs on allowed hosts, reached through this deployment's
 * proxy — so a card registered with POST /agents is held to the import's rules too.
 */
function a2aPolicyIssues(endpoint: AgentEndpoint, policy: EndpointPolicy): FieldIssue[] {
  const { a2a } = endpoint;
  if (a2a === undefined) return [];
  if (policy.a2a === undefined) return [{ path: 'endpoint.a2a', message: A2A_IMPORT_OFF }];
  const issues: FieldIssue[] = [];
  for (const field of ['url', 'cardUrl'] as const) {
    const issue = remoteUrlIssue(a2a[field], policy.a2a.hosts);
    if (issue !== undefined) issues.push({ path: `endpoint.a2a.${field}`, message: issue });
  }
  if (endpoint.lambdaArn !== undefined && endpoint.lambdaArn !== policy.a2a.proxyArn)
    issues.push({
      path: 'endpoint.lambdaArn',
      message: `an A2A agent is reached through this deployment's A2A proxy, ${policy.a2a.proxyArn}`,
    });
  if (endpoint.streamArn !== undefined && endpoint.streamArn !== policy.a2a.proxyStreamArn)
    issues.push({
      path: 'endpoint.streamArn',
      message:
        policy.a2a.proxyStreamArn === undefined
          ? 'this deployment streams no A2A agent; leave streamArn out'
          : `an A2A agent streams through this deployment's A2A proxy, ${policy.a2a.proxyStreamArn}`,
    });
  if (endpoint.queueUrl !== undefined || endpoint.queueArn !== undefined)
    issues.push({
      path: 'endpoint.queueUrl',
      message: 'an A2A agent has no queue: Mobius calls it through its proxy',
    });
  return issues;
}

function parsedUrl(text: string | undefined): URL | undefined {
  if (text === undefined || !URL.canParse(text)) return undefined;
  const url = new URL(text);
  return url.protocol === 'https:' || url.protocol === 'http:' ? url : undefined;
}

/** The card schema with `policy`'s endpoint checks: what cards registered through the API must pass. */
export function agentCardSchemaUnder(policy: EndpointPolicy) {
  return agentCardSchema.superRefine((card, ctx) => {
    for (const issue of endpointPolicyIssues(card.endpoint, policy)) {
      ctx.addIssue({ code: 'custom', path: issue.path.split('.'), message: issue.message });
    }
  });
}

export function isFifoEndpoint(endpoint: AgentEndpoint): boolean {
  return endpoint.queueUrl?.endsWith('.fifo') ?? false;
}

/**
 * The card fields of an agent definition (defineAgent's input): everything but the handler, the
 * lifecycle hooks and the declared subscriptions, which are the agent's code and its rules.
 */
export function cardFieldsOf<
  T extends {
    readonly handler?: unknown;
    readonly subscriptions?: unknown;
    readonly onStart?: unknown;
    readonly onStop?: unknown;
  },
>(definition: T): Omit<T, 'handler' | 'subscriptions' | 'onStart' | 'onStop'> {
  const {
    handler: _handler,
    subscriptions: _subscriptions,
    onStart: _onStart,
    onStop: _onStop,
    ...card
  } = definition;
  return card;
}
