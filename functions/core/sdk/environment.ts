/** Environment variables the CDK Agent construct sets and defineAgent reads. */
export const AGENT_ENVIRONMENT = {
  registryTable: 'MOBIUS_REGISTRY_TABLE',
  idempotencyTable: 'MOBIUS_IDEMPOTENCY_TABLE',
  queueUrl: 'MOBIUS_AGENT_QUEUE_URL',
  queueArn: 'MOBIUS_AGENT_QUEUE_ARN',
  deadLetterQueueUrl: 'MOBIUS_AGENT_DLQ_URL',
} as const;
