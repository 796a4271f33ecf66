import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { traced } from './tracing.ts';

let shared: EventBridgeClient | undefined;

/** The process-wide EventBridge client, created on first use (one module per service: see sqs.ts). */
export function sharedEventBridgeClient(): EventBridgeClient {
  shared ??= traced(new EventBridgeClient({}));
  return shared;
}
