import { randomUUID } from 'node:crypto';
import { DynamoDBPersistenceLayer } from '@aws-lambda-powertools/idempotency/dynamodb';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { CreateEventBusCommand } from '@aws-sdk/client-eventbridge';
import { createDocumentClient } from '../../functions/core/aws/dynamodb.ts';
import type { AgentCardInput } from '../../functions/core/model/agent-card.ts';
import { AgentRegistry } from '../../functions/core/registry/agent-registry.ts';
import {
  ensureIdempotencyTable,
  ensureRegistryTable,
} from '../../functions/core/registry/create-table.ts';
import { type AgentDefinition, defineAgent } from '../../functions/core/sdk/define-agent.ts';
import { type AgentQueues, createAgentQueues } from '../../functions/embedded/queues.ts';
import { emulatorClients } from './aws.ts';
import { dynamoConfig } from './dynamo.ts';

/**
 * A registry (dynalite: in process, as fast as the 10 000-message fault test needs), an event bus
 * (moto) and SQS (moto or local-aws-sqs) for one test file.
 */
export async function messagingWorld(sqs: 'moto' | 'local' = 'moto') {
  const raw = new DynamoDBClient(dynamoConfig('dynalite'));
  const suffix = randomUUID().slice(0, 8);
  const registryTable = `registry-${suffix}`;
  const idempotencyTable = `idempotency-${suffix}`;
  await ensureRegistryTable(raw, registryTable);
  await ensureIdempotencyTable(raw, idempotencyTable);
  const documents = createDocumentClient(dynamoConfig('dynalite'));
  const registry = new AgentRegistry({ tableName: registryTable, client: documents });
  const clients = emulatorClients(sqs);
  const eventBusName = `bus-${suffix}`;
  await clients.eventBridge.send(new CreateEventBusCommand({ Name: eventBusName }));
  /** A persistence layer for one agent (Powertools keeps the agent's key prefix on it). */
  const idempotency = () =>
    new DynamoDBPersistenceLayer({ tableName: idempotencyTable, awsSdkV3Client: raw });

  /** Registers a live agent whose card points at fresh queues, and returns its queues. */
  async function agentWithQueue(
    agentId: string,
    options: {
      fifo?: boolean;
      capabilities?: AgentCardInput['capabilities'];
      maxReceiveCount?: number;
      visibilityTimeoutSeconds?: number;
      protocols?: AgentCardInput['protocols'];
    } = {},
  ): Promise<AgentQueues> {
    const queues = await createAgentQueues(clients.sqs, `${agentId}-${suffix}`, {
      fifo: options.fifo ?? false,
      ...(options.maxReceiveCount === undefined
        ? {}
        : { maxReceiveCount: options.maxReceiveCount }),
      ...(options.visibilityTimeoutSeconds === undefined
        ? {}
        : { visibilityTimeoutSeconds: options.visibilityTimeoutSeconds }),
    });
    await registry.register({
      agentId,
      agentType: 'test',
      description: `test agent ${agentId}`,
      capabilities: options.capabilities ?? [{ name: 'echo', version: '1.0.0' }],
      ...(options.protocols ? { protocols: options.protocols } : {}),
      endpoint: { queueUrl: queues.queueUrl, queueArn: queues.queueArn },
    });
    await registry.heartbeat(agentId);
    return queues;
  }

  /** The agent's Lambda handler, wired to this world's emulators. */
  function agentHandler(
    agentId: string,
    handler: AgentDefinition['handler'],
    queues?: AgentQueues,
  ) {
    return defineAgent(
      {
        agentId,
        agentType: 'test',
        description: `test agent ${agentId}`,
        capabilities: [{ name: 'echo', version: '1.0.0' }],
        handler,
      },
      {
        registry,
        sqs: clients.sqs,
        sfn: clients.sfn,
        idempotency: idempotency(),
        ...(queues
          ? {
              endpoint: { queueUrl: queues.queueUrl, queueArn: queues.queueArn },
              deadLetterQueueUrl: queues.deadLetterQueueUrl,
            }
          : {}),
      },
    );
  }

  return { registry, ...clients, eventBusName, agentWithQueue, agentHandler, idempotency };
}
