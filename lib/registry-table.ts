import { RemovalPolicy } from 'aws-cdk-lib';
import {
  AttributeType,
  BillingMode,
  StreamViewType,
  Table,
  TableEncryption,
} from 'aws-cdk-lib/aws-dynamodb';
import { type IGrantable, PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import { IDEMPOTENCY_TABLE, REGISTRY_TABLE } from '../functions/core/registry/table.ts';

export interface RegistryTablesProps {
  /** @default RemovalPolicy.RETAIN — the registry outlives a stack deletion unless you say otherwise. */
  readonly removalPolicy?: RemovalPolicy;
}

const READ = ['dynamodb:GetItem', 'dynamodb:BatchGetItem', 'dynamodb:Query', 'dynamodb:Scan'];
const WRITE = [
  'dynamodb:PutItem',
  'dynamodb:UpdateItem',
  'dynamodb:DeleteItem',
  'dynamodb:BatchWriteItem',
  'dynamodb:ConditionCheckItem',
];

/**
 * The agent registry table (keys and index from functions/core/registry/table.ts, TTL on
 * `expiresAt`, a stream of removals for TTL clean-up) and the agent SDK's idempotency table. Both
 * on-demand, encrypted, with point-in-time recovery.
 */
export class RegistryTables extends Construct {
  readonly registry: Table;
  readonly idempotency: Table;

  constructor(scope: Construct, id: string, props: RegistryTablesProps = {}) {
    super(scope, id);
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;
    this.registry = new Table(this, 'Registry', {
      partitionKey: { name: REGISTRY_TABLE.partitionKey, type: AttributeType.STRING },
      sortKey: { name: REGISTRY_TABLE.sortKey, type: AttributeType.STRING },
      billingMode: BillingMode.PAY_PER_REQUEST,
      timeToLiveAttribute: REGISTRY_TABLE.ttlAttribute,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      encryption: TableEncryption.AWS_MANAGED,
      stream: StreamViewType.OLD_IMAGE,
      removalPolicy,
    });
    this.registry.addGlobalSecondaryIndex({
      indexName: REGISTRY_TABLE.byTypeIndex.name,
      partitionKey: { name: REGISTRY_TABLE.byTypeIndex.partitionKey, type: AttributeType.STRING },
      sortKey: { name: REGISTRY_TABLE.byTypeIndex.sortKey, type: AttributeType.STRING },
    });
    this.idempotency = new Table(this, 'Idempotency', {
      partitionKey: { name: IDEMPOTENCY_TABLE.partitionKey, type: AttributeType.STRING },
      billingMode: BillingMode.PAY_PER_REQUEST,
      timeToLiveAttribute: IDEMPOTENCY_TABLE.ttlAttribute,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      encryption: TableEncryption.AWS_MANAGED,
      removalPolicy,
    });
  }

  /**
   * Registry read/write for a function: on the table and its one index by name, so no policy
   * carries a wildcard resource (Table.grant would add `index/*`).
   */
  grantRegistryReadWrite(grantee: IGrantable): void {
    this.#grant(grantee, this.registry, [...READ, ...WRITE]);
  }

  grantRegistryRead(grantee: IGrantable): void {
    this.#grant(grantee, this.registry, READ);
  }

  grantIdempotency(grantee: IGrantable): void {
    this.#grant(grantee, this.idempotency, [
      'dynamodb:GetItem',
      'dynamodb:PutItem',
      'dynamodb:UpdateItem',
      'dynamodb:DeleteItem',
    ]);
  }

  #grant(grantee: IGrantable, table: Table, actions: readonly string[]): void {
    const resources = [table.tableArn];
    if (table === this.registry)
      resources.push(`${table.tableArn}/index/${REGISTRY_TABLE.byTypeIndex.name}`);
    grantee.grantPrincipal.addToPrincipalPolicy(
      new PolicyStatement({ actions: [...actions], resources }),
    );
  }
}
