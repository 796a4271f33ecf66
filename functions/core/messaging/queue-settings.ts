/**
 * Settings every agent queue gets, on AWS (the CDK Agent construct) and locally (the embedded
 * runtime), so redelivery and dead-lettering behave the same everywhere.
 */
export const QUEUE_SETTINGS = {
  /** Receives before a message is moved to the dead-letter queue: retried, never looping forever. */
  maxReceiveCount: 5,
  /** Dead letters are kept for the maximum SQS allows, for inspection and redrive. */
  deadLetterRetentionSeconds: 14 * 24 * 3600,
  retentionSeconds: 4 * 24 * 3600,
} as const;

/** SQS queue names allow 80 characters, `.fifo` included. */
export function agentQueueNames(
  agentId: string,
  fifo: boolean,
  prefix = 'mobius',
): { queue: string; deadLetter: string } {
  const base = `${prefix}-${agentId}`.slice(0, 64);
  const suffix = fifo ? '.fifo' : '';
  return { queue: `${base}${suffix}`, deadLetter: `${base}-dlq${suffix}` };
}
