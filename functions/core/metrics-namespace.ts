/**
 * The CloudWatch namespace of Mobius's EMF metrics. The CDK stack sets one per deployment
 * (`POWERTOOLS_METRICS_NAMESPACE`, see lib/lambda-defaults.ts) so that two stacks in one account
 * keep their figures, dashboards and alarms apart; elsewhere (embedded, tests) it is `Mobius`.
 */
export function metricsNamespace(): string {
  return process.env.POWERTOOLS_METRICS_NAMESPACE || 'Mobius';
}
