import semverCompare from 'semver/functions/compare.js';
import type { AgentCard as MobiusCard } from '../core/model/agent-card.ts';
import {
  A2A_PROTOCOL_VERSION,
  type AgentCard,
  type AgentSkill,
  JSON_MEDIA_TYPE,
  type SecurityScheme,
  TEXT_MEDIA_TYPE,
} from './protocol.ts';

/** Both ways a Mobius agent takes input and gives output (see parts.ts). */
const MODES = [JSON_MEDIA_TYPE, TEXT_MEDIA_TYPE] as const;

/** How callers of this API authenticate: SigV4 behind API Gateway, nothing in the embedded runtime. */
export type A2aAuthentication = 'sigv4' | 'none';

/** The scheme name SigV4 signatures carry in the Authorization header. */
const SIGV4_SCHEME: SecurityScheme = {
  httpAuthSecurityScheme: {
    scheme: 'AWS4-HMAC-SHA256',
    description:
      'AWS Signature Version 4 (IAM) for service execute-api, as every route of this API takes it; the caller needs execute-api:Invoke on the route',
  },
};

/**
 * The A2A 1.0 card of a registered Mobius agent. Its name, description and version come from the
 * Mobius card (the version is the highest of its capabilities'); each capability is a skill (one
 * per name, its highest version); its one interface is JSON-RPC at `endpointUrl`, the agent's
 * route on this API. It streams when it has a Lambda endpoint, as streamed requests need one.
 */
export function a2aCardOf(
  card: MobiusCard,
  options: { readonly endpointUrl: string; readonly authentication: A2aAuthentication },
): AgentCard {
  const newest = newestByName(card.capabilities);
  return {
    name: card.agentId,
    description: card.description,
    supportedInterfaces: [
      {
        url: options.endpointUrl,
        protocolBinding: 'JSONRPC',
        protocolVersion: A2A_PROTOCOL_VERSION,
      },
    ],
    version: highestVersion(card.capabilities),
    capabilities: {
      streaming: card.endpoint.lambdaArn !== undefined || card.endpoint.streamArn !== undefined,
      pushNotifications: false,
    },
    ...(options.authentication === 'sigv4'
      ? {
          securitySchemes: { sigv4: SIGV4_SCHEME },
          securityRequirements: [{ schemes: { sigv4: { list: [] } } }],
        }
      : {}),
    defaultInputModes: MODES,
    defaultOutputModes: MODES,
    skills: newest.map((capability) => skillOf(card, capability)),
  };
}

type Capability = MobiusCard['capabilities'][number];

/**
 * A capability as a skill: its name is the skill's id and name; its metadata may give a
 * `description`, `tags` and `examples` (strings; anything else is left out), and the skill is
 * tagged with the agent's type besides.
 */
function skillOf(card: MobiusCard, capability: Capability): AgentSkill {
  const { metadata } = capability;
  const described = typeof metadata.description === 'string' ? metadata.description : undefined;
  const examples = stringsIn(metadata.examples);
  return {
    id: capability.name,
    name: capability.name,
    description: `${described ?? card.description} (${capability.name} ${capability.version})`,
    tags: [...new Set([card.agentType, ...stringsIn(metadata.tags)])],
    ...(examples.length > 0 ? { examples } : {}),
    inputModes: MODES,
    outputModes: MODES,
  };
}

function stringsIn(value: unknown): string[] {
  return Array.isArray(value)
    ? value.filter((item): item is string => typeof item === 'string')
    : [];
}

/** One capability per name, the highest version of each, in the card's order. */
function newestByName(capabilities: readonly Capability[]): Capability[] {
  const byName = new Map<string, Capability>();
  for (const capability of capabilities) {
    const seen = byName.get(capability.name);
    if (seen === undefined || semverCompare(capability.version, seen.version) > 0)
      byName.set(capability.name, capability);
  }
  return [...byName.values()];
}

function highestVersion(capabilities: readonly Capability[]): string {
  return capabilities
    .map((capability) => capability.version)
    .reduce((highest, version) => (semverCompare(version, highest) > 0 ? version : highest));
}
