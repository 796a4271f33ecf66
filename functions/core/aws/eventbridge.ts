import { EventBridgeClient } from '@aws-sdk/client-eventbridge';

let shared: EventBridgeClient | undefined;

/** The process-wide EventBridge client, created on first use (one module per service: see sqs.ts). */
export function sharedEventBridgeClient(): EventBridgeClient {
  shared ??= new EventBridgeClient({});
  return shared;
}
