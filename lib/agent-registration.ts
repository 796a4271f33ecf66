import { CustomResource, Stack } from 'aws-cdk-lib';
import { Provider } from 'aws-cdk-lib/custom-resources';
import { Construct } from 'constructs';
import type { AgentCardInput } from '../functions/core/model/agent-card.ts';
import { mobiusFunction } from './lambda-defaults.ts';
import { acknowledge, acknowledgeWildcard } from './nag.ts';
import type { RegistryTables } from './registry-table.ts';

/** One provider per stack registers every agent's card at deploy time (functions/deploy/register-agent.ts). */
class RegistrationProvider extends Construct {
  readonly provider: Provider;

  constructor(scope: Construct, id: string, tables: RegistryTables) {
    super(scope, id);
    const onEvent = mobiusFunction(this, 'OnEvent', {
      entry: 'functions/deploy/register-agent.ts',
      description: 'Registers agent cards at deploy time',
    });
    tables.grantRegistryReadWrite(onEvent);
    this.provider = new Provider(this, 'Provider', { onEventHandler: onEvent });
    const framework = this.provider.node.findChild('framework-onEvent');
    acknowledge(
      framework,
      'AwsSolutions-L1',
      'The CDK Provider framework chooses the runtime of its own function.',
    );
    acknowledge(
      framework,
      'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
      'The CDK Provider framework function only writes its own CloudWatch Logs with it.',
    );
    acknowledgeWildcard(
      framework,
      `${onEvent.functionArn}:*`,
      'The Provider framework invokes versions of the registration function.',
    );
  }

  static of(scope: Construct, tables: RegistryTables): RegistrationProvider {
    const stack = Stack.of(scope);
    const id = 'MobiusAgentRegistration';
    return (
      (stack.node.tryFindChild(id) as RegistrationProvider | undefined) ??
      new RegistrationProvider(stack, id, tables)
    );
  }
}

/** Registers `card` in the registry when deployed; updates it on change; deregisters on removal. */
export class AgentRegistration extends Construct {
  constructor(
    scope: Construct,
    id: string,
    props: { readonly tables: RegistryTables; readonly card: AgentCardInput },
  ) {
    super(scope, id);
    const { provider } = RegistrationProvider.of(this, props.tables);
    new CustomResource(this, 'Card', {
      serviceToken: provider.serviceToken,
      resourceType: 'Custom::MobiusAgentCard',
      properties: {
        TableName: props.tables.registry.tableName,
        Card: Stack.of(this).toJsonString(props.card),
      },
    });
  }
}
