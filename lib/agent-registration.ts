import { CustomResource, Duration, Stack } from 'aws-cdk-lib';
import type { Function as FunctionConstruct } from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';
import type { AgentCardInput } from '../functions/core/model/agent-card.ts';
import { mobiusOwnFunction } from './lambda-defaults.ts';
import type { RegistryTables } from './registry-table.ts';

/**
 * One function per stack registers every agent's card at deploy time
 * (functions/deploy/register-agent.ts). CloudFormation invokes it directly and it answers on the
 * event's ResponseURL itself: no CDK Provider framework in between, whose response helper only
 * ever reaches port 443 and so cannot answer LocalStack, and one Lambda function fewer.
 */
class RegistrationFunction extends Construct {
  readonly function: FunctionConstruct;
  readonly #granted = new Set<RegistryTables>();

  constructor(scope: Construct, id: string) {
    super(scope, id);
    this.function = mobiusOwnFunction(this, 'OnEvent', {
      entry: 'functions/deploy/register-agent.ts',
      description: 'Registers agent cards at deploy time',
    });
  }

  /** The stack's registration function, allowed to write `tables` (each coordinator's own). */
  static of(scope: Construct, tables: RegistryTables): RegistrationFunction {
    const stack = Stack.of(scope);
    const id = 'MobiusAgentRegistration';
    const registration =
      (stack.node.tryFindChild(id) as RegistrationFunction | undefined) ??
      new RegistrationFunction(stack, id);
    if (!registration.#granted.has(tables)) {
      tables.grantRegistryReadWrite(registration.function);
      registration.#granted.add(tables);
    }
    return registration;
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
    const registration = RegistrationFunction.of(this, props.tables);
    new CustomResource(this, 'Card', {
      serviceToken: registration.function.functionArn,
      // The function answers within its own timeout; should it crash before answering,
      // CloudFormation gives up after this rather than its one-hour default.
      serviceTimeout: Duration.minutes(5),
      resourceType: 'Custom::MobiusAgentCard',
      properties: {
        TableName: props.tables.registry.tableName,
        Card: Stack.of(this).toJsonString(props.card),
      },
    });
  }
}
