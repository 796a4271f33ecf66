import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { SFNClient } from '@aws-sdk/client-sfn';
import { SQSClient } from '@aws-sdk/client-sqs';

/**
 * Process-wide SDK clients, each created on first use (Lambda init stays cheap for handlers that
 * never need it) from the standard environment: AWS_REGION, AWS_ENDPOINT_URL and the
 * service-specific AWS_ENDPOINT_URL_<SERVICE> variables. Code that needs another client
 * (tests, emulators) passes its own instead.
 */
let sqs: SQSClient | undefined;
let eventBridge: EventBridgeClient | undefined;
let lambda: LambdaClient | undefined;
let sfn: SFNClient | undefined;

export const sharedSqsClient = (): SQSClient => {
  sqs ??= new SQSClient({});
  return sqs;
};

export const sharedEventBridgeClient = (): EventBridgeClient => {
  eventBridge ??= new EventBridgeClient({});
  return eventBridge;
};

export const sharedLambdaClient = (): LambdaClient => {
  lambda ??= new LambdaClient({});
  return lambda;
};

/**
 * `disableHostPrefix`: StartSyncExecution otherwise prefixes the host with `sync-`, which breaks
 * custom endpoints such as LocalStack's; AWS itself accepts unprefixed requests.
 */
export const sharedSfnClient = (): SFNClient => {
  sfn ??= new SFNClient(
    process.env.AWS_ENDPOINT_URL || process.env.AWS_ENDPOINT_URL_SFN
      ? { disableHostPrefix: true }
      : {},
  );
  return sfn;
};
