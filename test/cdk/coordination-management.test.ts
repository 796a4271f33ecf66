import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { EVENTS_TABLE } from '../../functions/core/streaming/table.ts';
import { MobiusCoordinator } from '../../lib/mobius-coordinator.ts';

/**
 * What GET /coordinations and DELETE /coordinations/{id} need of the stack: the event log's
 * `byStart` index, built from the description the emulator bootstrap builds it from, and the
 * API function's rights to query it and to stop executions.
 */
let template: Template;
let resources: Record<string, { Type: string; Properties: Record<string, unknown> }>;
let mobius: MobiusCoordinator;
let stack: Stack;

type Statement = { Action: string | string[]; Resource: unknown; Effect: string };

beforeAll(() => {
  stack = new Stack(new App({ context: { 'aws:cdk:bundling-stacks': [] } }), 'Managed', {
    env: { account: '123456789012', region: 'eu-west-1' },
  });
  mobius = new MobiusCoordinator(stack, 'Mobius', {});
  template = Template.fromStack(stack);
  resources = template.toJSON().Resources;
});

const logicalId = (construct: { node: { defaultChild?: unknown } }) =>
  stack.getLogicalId(construct.node.defaultChild as never);

/** The logical id of the role the function `functionId` runs as. */
function roleOf(functionId: string): string {
  const role = (
    resources[functionId]?.Properties.Role as { 'Fn::GetAtt': [string, string] } | undefined
  )?.['Fn::GetAtt'][0];
  expect(role).toEqual(expect.any(String));
  return role as string;
}

/** The policies attached to the role `role`. */
const policiesOf = (role: string) =>
  Object.values(resources)
    .filter((r) => r.Type === 'AWS::IAM::Policy')
    .filter((r) => JSON.stringify(r.Properties.Roles).includes(`"${role}"`));

/** The statements of the policies attached to the role of the function `functionId`. */
const statementsOf = (functionId: string): Statement[] =>
  policiesOf(roleOf(functionId)).flatMap(
    (r) => (r.Properties.PolicyDocument as { Statement: Statement[] }).Statement,
  );

const actions = (statement: Statement) => [statement.Action].flat();

describe('listing and cancelling coordinations on the deployed stack', () => {
  it('indexes every head item by start, projecting the summary the listing answers from', () => {
    const { listIndex } = EVENTS_TABLE;
    const table = resources[logicalId(mobius.eventsTable.table)];
    expect(table?.Type).toBe('AWS::DynamoDB::Table');
    expect(table?.Properties.GlobalSecondaryIndexes).toEqual([
      {
        IndexName: listIndex.name,
        KeySchema: [
          { AttributeName: listIndex.partitionKey, KeyType: 'HASH' },
          { AttributeName: listIndex.sortKey, KeyType: 'RANGE' },
        ],
        Projection: { ProjectionType: 'INCLUDE', NonKeyAttributes: [...listIndex.attributes] },
      },
    ]);
    expect(table?.Properties.AttributeDefinitions).toEqual(
      expect.arrayContaining([
        { AttributeName: listIndex.partitionKey, AttributeType: 'S' },
        { AttributeName: listIndex.sortKey, AttributeType: 'S' },
      ]),
    );
  });

  it('lets the API query the index, and nobody do anything else with it', () => {
    const table = logicalId(mobius.eventsTable.table);
    const api = logicalId(mobius.api.function);
    const onIndex = Object.values(resources)
      .filter((r) => r.Type === 'AWS::IAM::Policy')
      .flatMap((r) => (r.Properties.PolicyDocument as { Statement: Statement[] }).Statement)
      .filter((s) => {
        const resource = JSON.stringify(s.Resource);
        return resource.includes(`"${table}"`) && resource.includes('/index/');
      });
    expect(onIndex).toHaveLength(1);
    expect(statementsOf(api)).toContainEqual(onIndex[0]);
    expect(JSON.stringify(onIndex[0]?.Resource)).toContain(
      `/index/${EVENTS_TABLE.listIndex.name}"`,
    );
    expect(actions(onIndex[0] as Statement)).toEqual(['dynamodb:Query']);
  });

  it('lets the API stop the executions of its own machines, and nothing else', () => {
    const api = logicalId(mobius.api.function);
    const stopping = statementsOf(api).filter((s) => actions(s).includes('states:StopExecution'));
    expect(stopping).toHaveLength(1);
    expect(JSON.stringify(stopping[0]?.Resource)).toContain(
      `:execution:${mobius.engine.machineNamePrefix}-*:*`,
    );
    expect(stopping[0]?.Effect).toBe('Allow');
    // Nobody else in the stack may stop a coordination.
    const apiPolicies = new Set(policiesOf(roleOf(api)));
    const others = Object.values(resources)
      .filter((r) => r.Type === 'AWS::IAM::Policy' || r.Type === 'AWS::IAM::ManagedPolicy')
      .filter((r) => !apiPolicies.has(r))
      .filter((r) => JSON.stringify(r.Properties.PolicyDocument).includes('states:StopExecution'));
    expect(others).toEqual([]);
  });
});
