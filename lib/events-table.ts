import { RemovalPolicy } from 'aws-cdk-lib';
import {
  AttributeType,
  BillingMode,
  ProjectionType,
  Table,
  TableEncryption,
} from 'aws-cdk-lib/aws-dynamodb';
import { type IGrantable, PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import { EVENTS_TABLE } from '../functions/core/streaming/table.ts';
import { acknowledge } from './nag.ts';

const APPEND = ['dynamodb:UpdateItem', 'dynamodb:PutItem', 'dynamodb:GetItem'];

/** What the agents, the API and the outcome recorder need of the event log's table. */
export interface IEventLogTable {
  readonly tableName: string;
  /** UpdateItem and PutItem: append events, count step starts (GetItem: a retried write's check). */
  grantAppend(grantee: IGrantable): void;
  /** Appending, reading events back, and listing coordinations (the `byStart` index). */
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
    // GET /coordinations: every coordination's head item, newest first (see table.ts).
    const { listIndex } = EVENTS_TABLE;
    this.table.addGlobalSecondaryIndex({
      indexName: listIndex.name,
      partitionKey: { name: listIndex.partitionKey, type: AttributeType.STRING },
      sortKey: { name: listIndex.sortKey, type: AttributeType.STRING },
      projectionType: ProjectionType.INCLUDE,
      nonKeyAttributes: [...listIndex.attributes],
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
   * head item, PutItem writes the events, and GetItem reads back an item whose PutItem the SDK
   * retried, to tell its own first try from another writer's (DynamoEventLog). What agents and
   * the outcome recorder need.
   */
  grantAppend(grantee: IGrantable): void {
    // On the table alone: `Table.grant` would add every index (`/index/*`) too.
    grantee.grantPrincipal.addToPrincipalPolicy(
      new PolicyStatement({ actions: APPEND, resources: [this.table.tableArn] }),
    );
  }

  /**
   * Appending, and reading back: a coordination's events (Query) and where its log ends (GetItem
   * of its head), for the SSE routes; the listing of coordinations (Query on the `byStart` index
   * alone), for GET /coordinations. What the API needs.
   */
  grantReadAppend(grantee: IGrantable): void {
    grantee.grantPrincipal.addToPrincipalPolicy(
      new PolicyStatement({
        actions: [...APPEND, 'dynamodb:Query'],
        resources: [this.table.tableArn],
      }),
    );
    grantee.grantPrincipal.addToPrincipalPolicy(
      new PolicyStatement({
        actions: ['dynamodb:Query'],
        resources: [`${this.table.tableArn}/index/${EVENTS_TABLE.listIndex.name}`],
      }),
    );
  }
}
