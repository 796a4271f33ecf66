import { readFileSync } from 'node:fs';
import { App, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { A2A_ENVIRONMENT } from '../../functions/a2a/settings.ts';
import { ROLE_ROUTES } from '../../lib/api-access.ts';
import { A2A_ALLOWED_HOSTS_CONTEXT, MobiusCoordinator } from '../../lib/mobius-coordinator.ts';

/**
 * The A2A proxy in the stack (docs/a2a.md, "Importing remote agents"): deployed only where hosts
 * are allowed, invoked by the engine, the API and the health monitor, its ARNs and the allow-list
 * in the API's environment, which the endpoint policy reads.
 */
const stackWith = (context: Record<string, unknown> = {}) =>
  new Stack(new App({ context: { 'aws:cdk:bundling-stacks': [], ...context } }), 'A2aApp', {
    env: { account: '123456789012', region: 'eu-west-1' },
  });

const proxyFunctions = (template: Template) =>
  Object.entries(
    template.findResources('AWS::Lambda::Function', {
      Properties: {
        Environment: { Variables: { [A2A_ENVIRONMENT.allowedHosts]: Match.anyValue() } },
      },
    }) as Record<
      string,
      { Properties: { Description: string; Environment: { Variables: Record<string, unknown> } } }
    >,
  );

describe('the A2A proxy', () => {
  it('is not deployed without allowed hosts', () => {
    const stack = stackWith();
    const mobius = new MobiusCoordinator(stack, 'Mobius');
    expect(mobius.a2aProxy).toBeUndefined();
    expect(proxyFunctions(Template.fromStack(stack))).toEqual([]);
  });

  it('is deployed with a2aAllowedHosts: two functions (main, streaming), the API told its ARNs and the list, invoke rights for engine, API and monitor', () => {
    const stack = stackWith();
    const mobius = new MobiusCoordinator(stack, 'Mobius', {
      a2aAllowedHosts: ['agents.example.com', '*.partner.example'],
    });
    const proxy = mobius.a2aProxy;
    if (proxy === undefined) throw new Error('no proxy');
    const template = Template.fromStack(stack);
    const functions = proxyFunctions(template);
    // The proxy's two functions and the API function carry the list.
    expect(
      functions.map(([, f]) => f.Properties.Environment.Variables[A2A_ENVIRONMENT.allowedHosts]),
    ).toEqual([
      'agents.example.com,*.partner.example',
      'agents.example.com,*.partner.example',
      'agents.example.com,*.partner.example',
    ]);
    const streaming = functions.filter(
      ([, f]) => f.Properties.Environment.Variables[A2A_ENVIRONMENT.proxyEntry] === 'streaming',
    );
    expect(streaming).toHaveLength(1);
    const api = functions.find(
      ([, f]) => f.Properties.Environment.Variables[A2A_ENVIRONMENT.proxyArn] !== undefined,
    );
    expect(api?.[1].Properties.Environment.Variables).toMatchObject({
      [A2A_ENVIRONMENT.proxyArn]: {
        'Fn::GetAtt': [stack.getLogicalId(proxy.function.node.defaultChild as never), 'Arn'],
      },
      [A2A_ENVIRONMENT.proxyStreamArn]: {
        'Fn::GetAtt': [stack.getLogicalId(proxy.streamFunction.node.defaultChild as never), 'Arn'],
      },
    });
    // Invoke rights: the engine's role, the API's and the monitor's.
    const proxyArn = {
      'Fn::GetAtt': [stack.getLogicalId(proxy.function.node.defaultChild as never), 'Arn'],
    };
    const invokers = Object.keys(
      template.findResources('AWS::IAM::Policy', {
        Properties: {
          PolicyDocument: {
            Statement: Match.arrayWith([
              Match.objectLike({
                Action: 'lambda:InvokeFunction',
                Resource: Match.arrayWith([proxyArn]),
              }),
            ]),
          },
        },
      }),
    );
    expect(invokers).toHaveLength(3);
  });

  it('takes the list from the context mobius:a2aAllowedHosts, and refuses an entry it cannot read', () => {
    const stack = stackWith({ [A2A_ALLOWED_HOSTS_CONTEXT]: '127.0.0.1' });
    expect(new MobiusCoordinator(stack, 'Mobius').a2aProxy?.allowedHosts).toEqual(['127.0.0.1']);
    expect(
      () => new MobiusCoordinator(stackWith(), 'Mobius', { a2aAllowedHosts: ['http://x.example'] }),
    ).toThrow(/a2aAllowedHosts: "http:\/\/x.example" is a URL; give the host only/);
  });
});

describe('who may call the A2A routes', () => {
  const security = readFileSync(new URL('../../docs/security.md', import.meta.url), 'utf8');
  const rowOf = (role: string) =>
    security.split('\n').find((line) => line.startsWith(`| ${role} |`));

  it("is what docs/security.md says: the invoker's row names every route of its policy", () => {
    const row = rowOf('invoker') ?? '';
    expect(ROLE_ROUTES.invoker).toContain('POST /a2a/{agentId}');
    for (const route of ROLE_ROUTES.invoker) expect(row, route).toContain(`\`${route}\``);
  });

  it("names no A2A route in a role's row that its policy does not allow", () => {
    for (const role of ['invoker', 'agent'] as const) {
      const named = (rowOf(role) ?? '').match(/`(GET|POST) \/a2a\/[^`]*`/g) ?? [];
      const allowed = ROLE_ROUTES[role].filter((route) => route.includes(' /a2a/'));
      expect(named.map((route) => route.slice(1, -1)).sort(), role).toEqual([...allowed].sort());
    }
  });
});
