import { Logger } from '@aws-lambda-powertools/logger';
import type { Context } from 'aws-lambda';
import { type StreamingHandler, streamifyResponse } from '../core/aws/lambda-streaming.ts';
import { AgentRegistry } from '../core/registry/agent-registry.ts';
import { createA2aProxy } from './proxy.ts';
import { A2aRemoteClient } from './remote-client.ts';
import { A2A_ENVIRONMENT, hostPolicyFromEnvironment } from './settings.ts';

/**
 * Lambda entry of the A2A proxy (functions/a2a/proxy.ts), built once per container from the
 * environment the CDK stack sets: the registry table, the host allow-list, the event log. The same
 * bundle is deployed twice: as the proxy, and with MOBIUS_A2A_PROXY_ENTRY=streaming as its
 * response-streaming function, where `handler` is the streaming entry (Lambda finds handlers by
 * export name, and streams when the function it finds is marked by streamifyResponse).
 */
const logger = new Logger({ serviceName: 'mobius-a2a-proxy' });
const hosts = hostPolicyFromEnvironment();
const proxy = createA2aProxy({
  registry: new AgentRegistry({ tableName: process.env.MOBIUS_REGISTRY_TABLE ?? '' }),
  // No allow-list, no calls: every URL is refused, naming the setting.
  client: new A2aRemoteClient(
    hosts ?? { allowedHosts: [], allowHttp: false, setting: `${A2A_ENVIRONMENT.allowedHosts}` },
  ),
  logger,
});

const main = (event: unknown, context: Context): Promise<unknown> => proxy.handler(event, context);
const streaming: StreamingHandler = streamifyResponse((event, responseStream, context) =>
  proxy.streaming(event, responseStream, context),
);

export const handler = process.env[A2A_ENVIRONMENT.proxyEntry] === 'streaming' ? streaming : main;
