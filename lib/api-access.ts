import type { RestApi } from 'aws-cdk-lib/aws-apigateway';
import { Effect, ManagedPolicy, PolicyStatement } from 'aws-cdk-lib/aws-iam';
import type { Construct } from 'constructs';
import { acknowledgeWildcard } from './nag.ts';

/** The API's callers, as its managed policies divide them (docs/security.md). */
export type ApiRole = 'invoker' | 'agent' | 'operator';

/** Reading the registry: what both invokers and agents need to know who is there. */
const READ_REGISTRY = [
  'GET /agents',
  'GET /agents/{id}',
  'GET /agents/{id}/health',
  'POST /discover',
  'GET /health',
];

/**
 * The routes each role's policy allows, as `METHOD /path` of the API's route table. Operators may
 * call every route. A route listed nowhere (a new one, an operator action) is operators' only: the
 * table fails closed. Routes not served yet are left out of the policies until they are.
 */
export const ROLE_ROUTES: Readonly<Record<Exclude<ApiRole, 'operator'>, readonly string[]>> = {
  /** Run and read coordinations, and read the registry the requests name agents from. */
  invoker: [
    ...READ_REGISTRY,
    'POST /coordinations',
    'GET /coordinations',
    'GET /coordinations/{id}',
    'GET /coordinations/{id}/events',
    // A2A clients (docs/a2a.md): an agent's card, and calling it through the router.
    'GET /a2a/{agentId}/.well-known/agent-card.json',
    'POST /a2a/{agentId}',
  ],
  /**
   * Register a card and keep it (update, heartbeat, deregister: the handler admits only the
   * card's owner), send messages and broadcasts (as itself or as `api`).
   */
  agent: [
    ...READ_REGISTRY,
    'POST /agents',
    'DELETE /agents/{id}',
    'POST /agents/{id}/heartbeat',
    'POST /messages',
    'POST /broadcasts',
  ],
};

/** The stage the API deploys to (its URL ends in it). */
export const API_STAGE = 'v1';

/**
 * `execute-api:Invoke` resource of one route: path parameters become `*`. The stage is named, not
 * referenced: a reference would make a policy depend on the deployment, and so on the API
 * function, whose environment may name a role the policy is attached to (grantOperator).
 */
export function routeArn(api: RestApi, method: string, path: string): string {
  return api.arnForExecuteApi(method, path.replace(/\{[^}]+\}/g, '*'), API_STAGE);
}

/**
 * The managed policy of `role`: `execute-api:Invoke` on exactly its routes among `routes` (the
 * API's route table); for operators, on every method and path of the stage.
 */
export function roleManagedPolicy(
  scope: Construct,
  id: string,
  api: RestApi,
  role: ApiRole,
  routes: readonly { readonly method: string; readonly path: string }[],
): ManagedPolicy {
  const served = new Set(routes.map((r) => `${r.method} ${r.path}`));
  const resources =
    role === 'operator'
      ? [routeArn(api, '*', '/*')]
      : ROLE_ROUTES[role]
          .filter((route) => served.has(route))
          .map((route) => {
            const [method = '', path = ''] = route.split(' ');
            return routeArn(api, method, path);
          });
  // In an execute-api resource `*` also matches `/`: `GET /agents/*` (for `GET /agents/{id}`)
  // would allow every GET below it, operator routes included. Each served route the role is not
  // given is therefore denied outright, so the policy fails closed whatever routes come later.
  const refusedRoutes =
    role === 'operator' ? [] : [...served].filter((route) => !ROLE_ROUTES[role].includes(route));
  if (role !== 'operator') assertNoShadowing(role, refusedRoutes, ROLE_ROUTES[role]);
  const refused = refusedRoutes.map((route) => {
    const [method = '', path = ''] = route.split(' ');
    return routeArn(api, method, path);
  });
  const name = `${role[0]?.toUpperCase()}${role.slice(1)}`;
  const policy = new ManagedPolicy(scope, id, {
    description: DESCRIPTIONS[role],
    statements: [
      new PolicyStatement({
        sid: `Mobius${name}Routes`,
        effect: Effect.ALLOW,
        actions: ['execute-api:Invoke'],
        resources,
      }),
      ...(refused.length === 0
        ? []
        : [
            new PolicyStatement({
              sid: `Mobius${name}NotOtherRoutes`,
              effect: Effect.DENY,
              actions: ['execute-api:Invoke'],
              resources: refused,
            }),
          ]),
    ],
  });
  for (const resource of resources.filter((r) => r.includes('*'))) {
    acknowledgeWildcard(
      policy,
      resource,
      role === 'operator'
        ? 'Operators may call every route of the API stage; that is what an operator is.'
        : 'A path parameter of the route ({id}) is "*" in an execute-api resource.',
    );
  }
  return policy;
}

/**
 * A denied route must not cover one the role is given: `GET /agents/{id}` denied is
 * `GET/agents/*`, which would deny `GET /agents/{id}/health` too. Refused at synth, naming both.
 */
function assertNoShadowing(
  role: ApiRole,
  refused: readonly string[],
  allowed: readonly string[],
): void {
  const literal = (text: string) => text.replace(/[.*+?^$()|[\]\\]/g, '\\$&');
  // A path parameter is `*` in the resource, and `*` matches across `/`.
  const glob = (route: string) =>
    new RegExp(
      `^${route
        .split(/\{[^}]+\}/)
        .map(literal)
        .join('.*')}$`,
    );
  const sample = (route: string) => route.replace(/\{[^}]+\}/g, 'x');
  for (const denied of refused) {
    const pattern = glob(denied);
    const covered = allowed.find((route) => route !== denied && pattern.test(sample(route)));
    if (covered !== undefined) {
      throw new Error(
        `The ${role} policy cannot deny "${denied}" without denying "${covered}" (a "*" in an execute-api resource also matches "/"): give the ${role} role both routes or neither (lib/api-access.ts).`,
      );
    }
  }
}

const DESCRIPTIONS: Record<ApiRole, string> = {
  invoker: 'Mobius invoker: run and read coordinations, read the agent registry',
  agent: 'Mobius agent: register and keep its own card, send messages and broadcasts',
  operator: 'Mobius operator: every route; the API also needs the principal named as operator',
};
