#!/usr/bin/env node
/**
 * The example app: Mobius Coordinator with the document-research team of examples/agents and the
 * example requests declared as workflows. `cdk synth` / `cdk deploy` run this (see cdk.json).
 *
 * Context:
 *   -c mobius:bedrockModelId=<id>   also deploy the optional Bedrock writer agent
 *   -c mobius:corsOrigins=a,b       allow these browser origins
 *   -c mobius:operators=arn,arn     IAM roles or users the API treats as operators (docs/security.md)
 *   -c mobius:agentAccounts=id,id   further accounts whose queues and functions cards may name
 *   -c mobius:nag=false             skip the cdk-nag AwsSolutions checks (on by default)
 *   -c mobius:agents=<module>       also deploy the agents a module exports as
 *                                   `agents: { definition, entry, streaming? }[]` (entries
 *                                   relative to this repository; the LocalStack suite adds its
 *                                   test agents so)
 *   -c mobius:a2aAllowedHosts=h,h   hosts remote A2A agents may be imported from (POST /agents/import;
 *                                   deploys the A2A proxy; docs/a2a.md)
 *   -c mobius:apiTransferMode=BUFFERED  buffered API integrations instead of STREAM: LocalStack
 *                                   only (its API Gateway cannot stream; localstack/deploy.ts
 *                                   sets it), never on AWS
 */
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { exampleStackProps } from '../examples/stack.ts';
import { MobiusStack, type StackAgent } from '../lib/mobius-stack.ts';

const app = new App();
const bedrockModelId = app.node.tryGetContext('mobius:bedrockModelId') as string | undefined;
const corsOrigins = String(app.node.tryGetContext('mobius:corsOrigins') ?? '')
  .split(',')
  .filter((origin) => origin.length > 0);

const listContext = (key: string) =>
  String(app.node.tryGetContext(key) ?? '')
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item.length > 0);

const example = exampleStackProps({ ...(bedrockModelId ? { bedrockModelId } : {}), corsOrigins });
const extraModule = app.node.tryGetContext('mobius:agents') as string | undefined;
const extra: StackAgent[] = extraModule
  ? (
      (await import(pathToFileURL(resolve(extraModule)).href)) as {
        agents: readonly StackAgent[];
      }
    ).agents.map((agent) => ({ ...agent, projectRoot: join(import.meta.dirname, '..') }))
  : [];

await MobiusStack.create(app, 'MobiusCoordinator', {
  ...example,
  agents: [...example.agents, ...extra],
  operators: listContext('mobius:operators'),
  allowedAgentAccounts: listContext('mobius:agentAccounts'),
  description: 'Mobius Coordinator: agent registry, messaging, coordination engine and HTTP API',
  env: { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION },
});

if (app.node.tryGetContext('mobius:nag') !== 'false')
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
app.synth();
