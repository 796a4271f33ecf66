import type { TestProject } from 'vitest/node';
import {
  javaAvailable,
  startDynalite,
  startDynamoDbLocal,
} from '../../functions/embedded/dynamodb-engine.ts';
import { startSqsServer } from '../../functions/embedded/sqs-server.ts';
import { startMoto } from './moto.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Endpoints of the DynamoDB engines the registry tests run on, by engine kind. */
    dynamoEndpoints: { 'dynamodb-local': string; dynalite: string };
    /** moto server (SQS, EventBridge, Step Functions); its MOTO_PORT is its own port. */
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
  if (!javaAvailable()) {
    throw new Error(
      'Java is required for the DynamoDB Local integration tests: install OpenJDK 17 or newer.',
    );
  }
  const [dynamoDbLocal, dynalite, moto, localSqs] = await Promise.all([
    startDynamoDbLocal(),
    startDynalite(),
    startMoto(),
    startSqsServer(),
  ]);
  project.provide('dynamoEndpoints', {
    'dynamodb-local': dynamoDbLocal.endpoint,
    dynalite: dynalite.endpoint,
  });
  project.provide('motoEndpoint', moto.endpoint);
  project.provide('localSqsEndpoint', localSqs.endpoint);
  return async () => {
    await Promise.all([dynamoDbLocal.stop(), dynalite.stop(), moto.stop(), localSqs.stop()]);
  };
}
