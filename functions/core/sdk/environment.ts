/** Environment variables the CDK Agent construct sets and defineAgent reads. */
export const AGENT_ENVIRONMENT = {
  registryTable: 'MOBIUS_REGISTRY_TABLE',
  idempotencyTable: 'MOBIUS_IDEMPOTENCY_TABLE',
  queueUrl: 'MOBIUS_AGENT_QUEUE_URL',
  queueArn: 'MOBIUS_AGENT_QUEUE_ARN',
  deadLetterQueueUrl: 'MOBIUS_AGENT_DLQ_URL',
  /** The coordination event log (step events and chunks of coordination tasks). */
  eventsTable: 'MOBIUS_EVENTS_TABLE',
  /** The agent's response-streaming function, when the construct deployed one (`streaming`). */
  streamArn: 'MOBIUS_AGENT_STREAM_ARN',
  /**
   * `streaming` in the agent's response-streaming function: there the module's `handler` export
   * is the SDK's streaming entry (see defineAgent).
   */
  entry: 'MOBIUS_AGENT_ENTRY',
} as const;
