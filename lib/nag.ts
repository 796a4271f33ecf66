import { Stack, Validations } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';

/**
 * cdk-nag (AwsSolutions) acknowledgements live next to the constructs that cause the finding, each
 * with its reason. cdk-nag 3 acknowledges findings one by one, so wildcard-resource findings are
 * named by the resource as cdk-nag renders it (see nagResource).
 */
export function acknowledge(scope: IConstruct, ruleId: string, reason: string): void {
  Validations.of(scope).acknowledge({ id: `AwsSolutions::${ruleId}`, reason });
}

/** Acknowledges AwsSolutions-IAM5 for one wildcard resource (a string that may hold tokens). */
export function acknowledgeWildcard(scope: IConstruct, resource: string, reason: string): void {
  acknowledge(
    scope,
    `AwsSolutions-IAM5[Resource::${nagResource(Stack.of(scope), resource)}]`,
    reason,
  );
}

/** A resource the way cdk-nag prints it: `<Logical.Attr>` for GetAtt, `<AWS::AccountId>` for Ref. */
export function nagResource(stack: Stack, resource: string): string {
  return render(stack.resolve(resource));
}

function render(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value !== null && typeof value === 'object') {
    const intrinsic = value as Record<string, unknown>;
    if (typeof intrinsic.Ref === 'string') return `<${intrinsic.Ref}>`;
    const getAtt = intrinsic['Fn::GetAtt'];
    if (Array.isArray(getAtt)) return `<${getAtt.join('.')}>`;
    const join = intrinsic['Fn::Join'];
    if (Array.isArray(join)) return (join[1] as unknown[]).map(render).join(String(join[0]));
  }
  return JSON.stringify(value);
}
