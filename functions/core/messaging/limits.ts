/**
 * Service limits messages are checked against before sending, so an oversized message fails fast
 * with a clear error instead of a service exception halfway through a batch.
 */
export const LIMITS = {
  /** SQS MaximumMessageSize default (the queues this project creates keep it): 256 KiB. */
  sqsMessageBytes: 262_144,
  /** SendMessageBatch: 10 entries, and the whole batch within the message size limit. */
  sqsBatchEntries: 10,
  sqsBatchBytes: 262_144,
  /** PutEvents: 10 entries per call, 256 KiB per entry (and per request). */
  eventBridgeEntries: 10,
  eventBridgeEntryBytes: 262_144,
  eventBridgeRequestBytes: 262_144,
  /** Step Functions: an execution's input, and any state's input or output, at most 256 KiB. */
  stepFunctionsStateBytes: 262_144,
} as const;
