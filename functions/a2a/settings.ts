import type { A2aEndpointPolicy } from '../core/model/agent-card.ts';
import type { RemoteHostPolicy } from '../core/model/remote-hosts.ts';

/** Environment variables the CDK stack sets for imported A2A agents (API function and A2A proxy). */
export const A2A_ENVIRONMENT = {
  /** Comma-separated host allow-list (core/model/remote-hosts.ts); import is off when empty. */
  allowedHosts: 'MOBIUS_A2A_ALLOWED_HOSTS',
  /** The A2A proxy function's ARN, which imported agents' cards name as their lambdaArn. */
  proxyArn: 'MOBIUS_A2A_PROXY_ARN',
  /** The proxy's response-streaming function's ARN, their streamArn. */
  proxyStreamArn: 'MOBIUS_A2A_PROXY_STREAM_ARN',
  /** `streaming` on the proxy's response-streaming function (see proxy-entry.ts). */
  proxyEntry: 'MOBIUS_A2A_PROXY_ENTRY',
} as const;

/** How a deployment's users change the allow-list, named in every refusal. */
export const STACK_SETTING = `the stack's a2aAllowedHosts (${A2A_ENVIRONMENT.allowedHosts})`;

/** How the embedded runtime's users change it. */
export const EMBEDDED_SETTING = "the embedded runtime's a2a.allowedHosts option";

const listOf = (value: string | undefined): string[] =>
  (value ?? '')
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item.length > 0);

/**
 * The allow-list from the environment, or undefined when none is set (import is off). http is
 * allowed besides https only with an endpoint configured (AWS_ENDPOINT_URL): LocalStack, which
 * sets it on every function it runs, as accessFromEnvironment reads it too. On AWS, https only.
 */
export function hostPolicyFromEnvironment(
  env: NodeJS.ProcessEnv = process.env,
): RemoteHostPolicy | undefined {
  const allowedHosts = listOf(env[A2A_ENVIRONMENT.allowedHosts]);
  if (allowedHosts.length === 0) return undefined;
  return { allowedHosts, allowHttp: Boolean(env.AWS_ENDPOINT_URL), setting: STACK_SETTING };
}

/**
 * The A2A part of the API's endpoint policy (EndpointPolicy.a2a), from the environment: spread
 * into endpointPolicyFromEnvironment's answer. Empty when the deployment imports no A2A agents.
 */
export function a2aPolicyFromEnvironment(env: NodeJS.ProcessEnv = process.env): {
  a2a?: A2aEndpointPolicy;
} {
  const hosts = hostPolicyFromEnvironment(env);
  const proxyArn = env[A2A_ENVIRONMENT.proxyArn];
  if (hosts === undefined || !proxyArn) return {};
  const proxyStreamArn = env[A2A_ENVIRONMENT.proxyStreamArn];
  return { a2a: { hosts, proxyArn, ...(proxyStreamArn ? { proxyStreamArn } : {}) } };
}
