import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { Monitoring } from '../../lib/monitoring.ts';

interface Widget {
  readonly properties: { readonly title?: string; readonly metrics?: readonly unknown[][] };
}

/** The dashboard's widgets, its Fn::Join read with every token (the region, ARNs) as a placeholder. */
function widgetsOf(stack: Stack): Widget[] {
  const [dashboard] = Object.values(
    Template.fromStack(stack).findResources('AWS::CloudWatch::Dashboard'),
  );
  if (dashboard === undefined) throw new Error('the stack has no dashboard');
  const joined = dashboard.Properties.DashboardBody as { 'Fn::Join': [string, unknown[]] };
  const [, parts] = joined['Fn::Join'];
  const body = parts.map((part) => (typeof part === 'string' ? part : 'TOKEN')).join('');
  return (JSON.parse(body) as { widgets: Widget[] }).widgets;
}

/** The dashboard's fleet widget: every status the health monitor counts, drains included. */
describe('the fleet health widget', () => {
  it('shows agents draining and agents drained beside every other status', () => {
    const stack = new Stack(new App(), 'Fleet', { env: { region: 'eu-west-1' } });
    new Monitoring(stack, 'Monitoring', { machines: [], machineNamePrefix: 'fleet' });
    const fleet = widgetsOf(stack).find((w) => w.properties.title === 'Fleet health (last sweep)');
    const names = (fleet?.properties.metrics ?? []).map((metric) => metric[1]);
    expect(names).toEqual(
      expect.arrayContaining([
        'AgentsInitializing',
        'AgentsHealthy',
        'AgentsDegraded',
        'AgentsUnhealthy',
        'AgentsDraining',
        'AgentsDrained',
        'AgentsOffline',
      ]),
    );
  });
});
