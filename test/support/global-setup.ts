import type { TestProject } from 'vitest/node';
import { startDynalite } from '../../functions/embedded/dynamodb-engine.ts';
import { startSqsServer } from '../../functions/embedded/sqs-server.ts';
import type { DynamoEndpoints } from './dynamo.ts';
import { startMoto } from './moto.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Endpoints of the DynamoDB engines the registry tests run on, by engine. */
    dynamoEndpoints: DynamoEndpoints;
    /** moto server (DynamoDB, SQS, EventBridge, Step Functions); its MOTO_PORT is its own port. */
    motoEndpoint: string;
    /** local-aws-sqs, the embedded runtime's SQS: fast enough for the 10 000-message fault test. */
    localSqsEndpoint: string;
  }
}

/**
 * Starts the emulators every integration test shares, each on a free 127.0.0.1 port, and stops
 * them when the run ends. Missing prerequisites fail the run with the fix in the message rather
 * than silently skipping tests.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const [dynalite, moto, localSqs] = await Promise.all([
    startDynalite(),
    startMoto(),
    startSqsServer(),
  ]);
  // moto serves DynamoDB on the same endpoint as its other services.
  project.provide('dynamoEndpoints', { moto: moto.endpoint, dynalite: dynalite.endpoint });
  project.provide('motoEndpoint', moto.endpoint);
  project.provide('localSqsEndpoint', localSqs.endpoint);
  return async () => {
    await Promise.all([dynalite.stop(), moto.stop(), localSqs.stop()]);
  };
}
