import semverCoerce from 'semver/functions/coerce.js';
import * as z from 'zod';
import { jsonByteLength } from '../core/canonical-json.ts';
import { type FieldIssue, ValidationError } from '../core/errors.ts';
import { type AgentCardInput, CARD_LIMITS, DEFAULT_PROTOCOLS } from '../core/model/agent-card.ts';
import { type RemoteHostPolicy, remoteUrlIssue } from '../core/model/remote-hosts.ts';
import { toFieldIssues } from '../core/validation.ts';
import { A2A_PROTOCOL_VERSION, AGENT_CARD_PATH } from './protocol.ts';

/**
 * A remote agent's A2A 1.0 card, as import reads it: what Mobius uses is checked (a name, a
 * JSON-RPC interface for A2A 1.0, skills to become capabilities), each problem by its path in the
 * card; fields Mobius does not use are let through, as ProtoJSON readers do.
 */
const interfaceSchema = z.looseObject({
  url: z.string({ error: 'the interface needs its url' }),
  protocolBinding: z.string({
    error: 'the interface needs its protocolBinding, such as "JSONRPC"',
  }),
  protocolVersion: z.string().optional(),
  tenant: z.string().max(256).optional(),
});

const skillSchema = z.looseObject({
  id: z.string({ error: 'a skill needs its id' }).min(1, 'a skill needs its id'),
  name: z.string().optional(),
  description: z.string().optional(),
  tags: z.array(z.string()).optional(),
  examples: z.array(z.string()).optional(),
});
export type RemoteSkill = z.output<typeof skillSchema>;

export const remoteCardSchema = z.looseObject({
  name: z.string({ error: 'the card needs its name' }).min(1, 'the card needs its name'),
  description: z.string().optional(),
  version: z.string().optional(),
  supportedInterfaces: z
    .array(interfaceSchema, {
      error: 'an A2A 1.0 card lists supportedInterfaces (an A2A 0.3 card has url instead)',
    })
    .min(1, 'list at least one interface'),
  capabilities: z.looseObject({ streaming: z.boolean().optional() }).optional(),
  skills: z
    .array(skillSchema, { error: 'the card needs its skills: they become its capabilities' })
    .min(1, 'an imported agent needs at least one skill: its skills are its capabilities')
    .max(
      CARD_LIMITS.capabilities,
      `at most ${CARD_LIMITS.capabilities} skills: a Mobius agent has at most ${CARD_LIMITS.capabilities} capabilities`,
    ),
  securityRequirements: z.array(z.unknown()).optional(),
});
export type RemoteCard = z.output<typeof remoteCardSchema>;

/** What import takes of a card: where to call the agent, whether it streams, its Mobius card. */
export interface ImportedCard {
  readonly card: RemoteCard;
  /** The JSON-RPC interface Mobius calls (the first for A2A 1.0). */
  readonly url: string;
  readonly tenant?: string;
  readonly streaming: boolean;
}

/**
 * Where a card is read from `url`: `url` itself when it names a JSON document (a path ending in
 * `.json`, such as `/.well-known/agent-card.json`), else `<url>/.well-known/agent-card.json`.
 * A ValidationError (path `url`) when `url` is not an absolute http(s) URL: `mailto:x` or `urn:x`
 * parse, but have no path a card could be under.
 */
export function cardUrlOf(url: string): string {
  const parsed = URL.canParse(url) ? new URL(url) : undefined;
  if (parsed?.protocol !== 'https:' && parsed?.protocol !== 'http:')
    throw new ValidationError('A2A import', [
      {
        path: 'url',
        message: "not an absolute http(s) URL: give the agent's base URL or its card's",
      },
    ]);
  if (parsed.pathname.endsWith('.json')) return parsed.href;
  if (!parsed.pathname.endsWith('/')) parsed.pathname = `${parsed.pathname}/`;
  return new URL(AGENT_CARD_PATH, parsed).href;
}

/**
 * Validates a card read from a remote: a ValidationError ("Invalid A2A agent card") naming every
 * problem by its path in the card. Beyond its shape: an A2A 0.3 card is named as such; it must
 * have a JSON-RPC interface for A2A 1.0, on a host the policy allows; and an agent that requires
 * authentication cannot be imported, as Mobius calls it without credentials.
 */
export function readRemoteCard(raw: unknown, hosts: RemoteHostPolicy): ImportedCard {
  const subject = 'A2A agent card';
  if (
    raw !== null &&
    typeof raw === 'object' &&
    !Array.isArray(raw) &&
    !('supportedInterfaces' in raw) &&
    ('url' in raw || 'preferredTransport' in raw)
  )
    throw new ValidationError(subject, [
      {
        path: 'supportedInterfaces',
        message: `this is an A2A 0.3 card (url, preferredTransport); Mobius imports A2A ${A2A_PROTOCOL_VERSION} agents, whose cards list supportedInterfaces`,
      },
    ]);
  const parsed = remoteCardSchema.safeParse(raw);
  if (!parsed.success) throw new ValidationError(subject, toFieldIssues(parsed.error));
  const card = parsed.data;
  const issues: FieldIssue[] = [];
  const index = card.supportedInterfaces.findIndex(
    (i) =>
      i.protocolBinding.toUpperCase() === 'JSONRPC' &&
      /^1(\.0)?(\.\d+)?$/.test(i.protocolVersion ?? A2A_PROTOCOL_VERSION),
  );
  const chosen = card.supportedInterfaces[index];
  if (chosen === undefined) {
    const offered = card.supportedInterfaces
      .map((i) => `${i.protocolBinding} ${i.protocolVersion ?? '(no version)'}`)
      .join(', ');
    issues.push({
      path: 'supportedInterfaces',
      message: `no JSONRPC interface for A2A ${A2A_PROTOCOL_VERSION} (the card offers ${offered}); Mobius calls agents over JSON-RPC`,
    });
  } else {
    const issue = remoteUrlIssue(chosen.url, hosts);
    if (issue !== undefined)
      issues.push({ path: `supportedInterfaces.${index}.url`, message: issue });
  }
  if ((card.securityRequirements ?? []).length > 0)
    issues.push({
      path: 'securityRequirements',
      message:
        'the agent requires authentication; Mobius calls imported agents without credentials, so it cannot be imported',
    });
  const seen = new Map<string, number>();
  card.skills.forEach((skill, at) => {
    const name = capabilityNameOf(skill.id);
    const first = seen.get(name);
    if (first !== undefined)
      issues.push({
        path: `skills.${at}.id`,
        message: `becomes capability "${name}", as skill ${first} does; give the skills distinct ids`,
      });
    seen.set(name, at);
  });
  if (issues.length > 0) throw new ValidationError(subject, issues);
  const tenant = chosen?.tenant;
  return {
    card,
    url: chosen?.url ?? '',
    ...(tenant ? { tenant } : {}),
    streaming: card.capabilities?.streaming === true,
  };
}

/** An agent id from a card's name: lower case, runs of other characters as one "-", 64 at most. */
export function agentIdOf(name: string): string {
  const slug = name
    .toLowerCase()
    .replace(/[^a-z0-9._-]+/g, '-')
    .replace(/^[^a-z0-9]+/, '')
    .slice(0, 64)
    .replace(/[-._]+$/, '');
  return slug === '' ? 'a2a-agent' : slug;
}

/** A skill id as a capability name: letters, digits and ". _ : / -", starting with a letter. */
export function capabilityNameOf(skillId: string): string {
  const name = skillId.replace(/[^A-Za-z0-9._:/-]+/g, '-');
  return (/^[A-Za-z]/.test(name) ? name : `skill-${name}`).slice(0, 128);
}

/** The Mobius card of an imported agent, reached through the proxy named in `endpoint`. */
export function mobiusCardOf(
  imported: ImportedCard,
  options: {
    readonly agentId: string;
    readonly cardUrl: string;
    readonly proxyArn: string;
    readonly proxyStreamArn?: string | undefined;
  },
): AgentCardInput {
  const { card } = imported;
  const version = semverCoerce(card.version ?? '')?.version ?? '1.0.0';
  const description = (card.description ?? '').trim().slice(0, 1024) || `A2A agent ${card.name}`;
  return {
    agentId: options.agentId,
    agentType: 'a2a',
    description,
    capabilities: card.skills.map((skill) => ({
      name: capabilityNameOf(skill.id),
      version,
      metadata: metadataOf(skill, card.name),
    })),
    protocols: [...DEFAULT_PROTOCOLS, { name: 'a2a', versions: [A2A_PROTOCOL_VERSION] }],
    endpoint: {
      lambdaArn: options.proxyArn,
      ...(options.proxyStreamArn === undefined ? {} : { streamArn: options.proxyStreamArn }),
      a2a: {
        url: imported.url,
        cardUrl: options.cardUrl,
        ...(imported.tenant === undefined ? {} : { tenant: imported.tenant }),
        streaming: imported.streaming,
      },
    },
  };
}

/**
 * A skill's description, tags and examples as its capability's metadata (the export reads them
 * back the same way), cut to fit the 4 KiB a capability's metadata may hold.
 */
function metadataOf(skill: RemoteSkill, agentName: string): Record<string, unknown> {
  const metadata: Record<string, unknown> = {
    skill: skill.id,
    ...(skill.name ? { name: skill.name.slice(0, 200) } : {}),
    description: (skill.description || skill.name || `${skill.id} (${agentName})`).slice(0, 1000),
    tags: (skill.tags ?? []).slice(0, 20).map((tag) => tag.slice(0, 64)),
    examples: (skill.examples ?? []).slice(0, 5).map((example) => example.slice(0, 300)),
  };
  for (const key of ['examples', 'tags'] as const)
    if (jsonByteLength(metadata) > CARD_LIMITS.metadataBytes) delete metadata[key];
  return metadata;
}
