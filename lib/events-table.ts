import { RemovalPolicy } from 'aws-cdk-lib';
import { AttributeType, BillingMode, Table, TableEncryption } from 'aws-cdk-lib/aws-dynamodb';
import type { IGrantable } from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import { EVENTS_TABLE } from '../functions/core/streaming/table.ts';
import { acknowledge } from './nag.ts';

/** What the agents, the API and the outcome recorder need of the event log's table. */
export interface IEventLogTable {
  readonly tableName: string;
  /** UpdateItem and PutItem: append events, count step starts. */
  grantAppend(grantee: IGrantable): void;
  /** Appending, and reading events back. */
  grantReadAppend(grantee: IGrantable): void;
}

export interface CoordinationEventsTableProps {
  /** @default RemovalPolicy.RETAIN, as the registry tables */
  readonly removalPolicy?: RemovalPolicy;
}

/**
 * The coordination event log (functions/core/streaming/table.ts): one item collection per
 * coordination, its events in order; each item is removed by TTL a week after it was appended (a
 * run longer than that loses the start of its replay). Agents append
 * their steps' events and chunks, the API appends a run's start and (express) end and serves the
 * SSE routes from it, the outcome recorder appends a standard run's end. On-demand, encrypted, no
 * point-in-time recovery: its items live for days and are rebuilt by nobody.
 */
export class CoordinationEventsTable extends Construct implements IEventLogTable {
  readonly table: Table;

  constructor(scope: Construct, id: string, props: CoordinationEventsTableProps = {}) {
    super(scope, id);
    this.table = new Table(this, 'Table', {
      partitionKey: { name: EVENTS_TABLE.partitionKey, type: AttributeType.STRING },
      sortKey: { name: EVENTS_TABLE.sortKey, type: AttributeType.NUMBER },
      billingMode: BillingMode.PAY_PER_REQUEST,
      timeToLiveAttribute: EVENTS_TABLE.ttlAttribute,
      encryption: TableEncryption.AWS_MANAGED,
      removalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN,
    });
    acknowledge(
      this.table,
      'AwsSolutions-DDB3',
      'Live coordination events expire a week after their run; a restore to a point in time would serve no one.',
    );
  }

  get tableName(): string {
    return this.table.tableName;
  }

  /**
   * Appending events (and counting step starts): UpdateItem allocates ids on the coordination's
   * head item, PutItem writes the events (DynamoEventLog). What agents and the outcome recorder need.
   */
  grantAppend(grantee: IGrantable): void {
    this.table.grant(grantee, 'dynamodb:UpdateItem', 'dynamodb:PutItem');
  }

  /** Appending, and reading a coordination's events back (Query): what the API's SSE routes need. */
  grantReadAppend(grantee: IGrantable): void {
    this.table.grant(grantee, 'dynamodb:UpdateItem', 'dynamodb:PutItem', 'dynamodb:Query');
  }
}
