import { Duration } from 'aws-cdk-lib';
import { Rule, Schedule } from 'aws-cdk-lib/aws-events';
import { LambdaFunction } from 'aws-cdk-lib/aws-events-targets';
import type { Function as FunctionConstruct } from 'aws-cdk-lib/aws-lambda';
import { FilterCriteria, FilterRule, StartingPosition } from 'aws-cdk-lib/aws-lambda';
import { DynamoEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import type { IAgentTarget } from './agent-target.ts';
import { mobiusOwnFunction } from './lambda-defaults.ts';
import { eventDeadLetterQueue } from './message-bus.ts';
import { acknowledgeWildcard } from './nag.ts';
import type { RegistryTables } from './registry-table.ts';

export interface HealthMonitorProps {
  readonly tables: RegistryTables;
  /** How often agents are pinged. @default 1 minute */
  readonly interval?: Duration;
  /** Where the schedule's undeliverable invocations go. @default a queue of its own */
  readonly eventDeadLetterQueue?: IQueue;
}

/**
 * Keeps the registry honest: a schedule pings every agent (so it heartbeats) and publishes the
 * fleet's health as metrics; a stream consumer deletes the capability rows of agents TTL expired.
 */
export class HealthMonitor extends Construct {
  readonly monitor: FunctionConstruct;
  readonly janitor: FunctionConstruct;

  constructor(scope: Construct, id: string, props: HealthMonitorProps) {
    super(scope, id);
    this.monitor = mobiusOwnFunction(this, 'Monitor', {
      entry: 'functions/monitor/health-monitor.ts',
      description: 'Pings Mobius agents and publishes fleet health',
      timeout: Duration.seconds(60),
      environment: {
        MOBIUS_REGISTRY_TABLE: props.tables.registry.tableName,
        POWERTOOLS_SERVICE_NAME: 'mobius-health-monitor',
      },
    });
    props.tables.grantRegistryRead(this.monitor);
    new Rule(this, 'Schedule', {
      description: 'Mobius health sweep',
      schedule: Schedule.rate(props.interval ?? Duration.minutes(1)),
      targets: [
        new LambdaFunction(this.monitor, {
          retryAttempts: 0,
          deadLetterQueue:
            props.eventDeadLetterQueue ?? eventDeadLetterQueue(this, 'UndeliveredSweeps'),
        }),
      ],
    });

    this.janitor = mobiusOwnFunction(this, 'Janitor', {
      entry: 'functions/monitor/registry-stream.ts',
      description: 'Removes capability rows of agents whose registry row TTL expired',
      environment: {
        MOBIUS_REGISTRY_TABLE: props.tables.registry.tableName,
        POWERTOOLS_SERVICE_NAME: 'mobius-registry-stream',
      },
    });
    props.tables.grantRegistryReadWrite(this.janitor);
    this.janitor.addEventSource(
      new DynamoEventSource(props.tables.registry, {
        startingPosition: StartingPosition.LATEST,
        batchSize: 25,
        reportBatchItemFailures: true,
        retryAttempts: 5,
        // Only TTL deletions (done by the DynamoDB service) of agent rows.
        filters: [
          FilterCriteria.filter({
            eventName: FilterRule.isEqual('REMOVE'),
            userIdentity: {
              type: FilterRule.isEqual('Service'),
              principalId: FilterRule.isEqual('dynamodb.amazonaws.com'),
            },
            dynamodb: { Keys: { sk: { S: FilterRule.isEqual('AGENT') } } },
          }),
        ],
      }),
    );
  }

  /**
   * The monitor pings `agent` through its Lambda, and reads its queue's and dead-letter queue's
   * depths for the utilisation it reports (GET /agents/{id}/health, GET /health).
   */
  addAgent(agent: IAgentTarget): void {
    agent.function.grantInvoke(this.monitor);
    agent.queue.grant(this.monitor, 'sqs:GetQueueAttributes');
    agent.deadLetterQueue.grant(this.monitor, 'sqs:GetQueueAttributes');
    acknowledgeWildcard(
      this.monitor,
      `${agent.function.functionArn}:*`,
      `Pinging agent ${agent.agentId} may invoke its versions and aliases.`,
    );
  }
}
