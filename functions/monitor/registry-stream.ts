import { Logger } from '@aws-lambda-powertools/logger';
import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import type { DynamoDBStreamEvent } from 'aws-lambda';
import { AgentRegistry } from '../core/registry/agent-registry.ts';
import { agentRowSchema } from '../core/registry/agent-row.ts';

const logger = new Logger({ serviceName: 'mobius-registry-stream' });
let registry: AgentRegistry | undefined;

/**
 * DynamoDB stream consumer: when TTL expires an agent row, its capability rows are deleted too,
 * so discovery's index does not accumulate agents that vanished without deregistering. (Reads
 * already ignore them; this is garbage collection.) The event source filter only lets TTL
 * removals of agent rows through.
 */
export async function handler(
  event: DynamoDBStreamEvent,
): Promise<{ batchItemFailures: { itemIdentifier: string }[] }> {
  registry ??= new AgentRegistry({ tableName: process.env.MOBIUS_REGISTRY_TABLE ?? '' });
  const failures: { itemIdentifier: string }[] = [];
  for (const record of event.Records) {
    const image = record.dynamodb?.OldImage;
    if (record.eventName !== 'REMOVE' || image === undefined) continue;
    try {
      const row = agentRowSchema.parse(unmarshall(image as Record<string, AttributeValue>));
      await registry.removeIndex(row.card);
    } catch (error) {
      failures.push({ itemIdentifier: record.dynamodb?.SequenceNumber ?? '' });
      logger.error('could not remove the capability rows of an expired agent', { error });
    }
  }
  return { batchItemFailures: failures };
}
