import { Duration } from 'aws-cdk-lib';
import type { IGrantable } from 'aws-cdk-lib/aws-iam';
import type { Function as FunctionConstruct } from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';
import { A2A_ENVIRONMENT } from '../functions/a2a/settings.ts';
import { hostEntryIssue } from '../functions/core/model/remote-hosts.ts';
import { AGENT_ENVIRONMENT } from '../functions/core/sdk/environment.ts';
import type { IEventLogTable } from './events-table.ts';
import { mobiusOwnFunction } from './lambda-defaults.ts';
import { acknowledgeWildcard } from './nag.ts';
import type { RegistryTables } from './registry-table.ts';

export interface A2aProxyProps {
  readonly tables: RegistryTables;
  /**
   * The hosts imported A2A agents may be on (core/model/remote-hosts.ts: `agents.example.com`,
   * `*.example.com`, `203.0.113.7`, `10.0.0.0/8`, with `:port` where it matters). https only,
   * except on LocalStack (AWS_ENDPOINT_URL set on the functions), where http is allowed too.
   */
  readonly allowedHosts: readonly string[];
  /** Where imported agents' coordination steps report their events, as agents do. @default none */
  readonly eventsTable?: IEventLogTable;
  /**
   * The proxy's function timeout: the longest one call to a remote agent may take (a step's own
   * timeout ends it sooner for Step Functions). @default 5 minutes, an Express run's maximum
   */
  readonly timeout?: Duration;
}

/**
 * The A2A proxy (functions/a2a/proxy.ts) in the stack: the function every imported A2A agent's
 * card names as its `lambdaArn` — the engine's tasks, the router's requests and the health
 * monitor's pings invoke it as they invoke an agent, and it calls the remote agent over HTTPS —
 * and its response-streaming twin (the cards' `streamArn`) for streamed requests. It reads the
 * registry (the agent's card) and heartbeats for the agents it pings.
 */
export class A2aProxy extends Construct {
  readonly function: FunctionConstruct;
  readonly streamFunction: FunctionConstruct;
  readonly allowedHosts: readonly string[];

  constructor(scope: Construct, id: string, props: A2aProxyProps) {
    super(scope, id);
    const bad = props.allowedHosts.flatMap((entry) => {
      const issue = hostEntryIssue(entry);
      return issue === undefined ? [] : [issue];
    });
    if (bad.length > 0) throw new RangeError(`a2aAllowedHosts: ${bad.join('; ')}`);
    this.allowedHosts = [...props.allowedHosts];
    const environment = {
      POWERTOOLS_SERVICE_NAME: 'mobius-a2a-proxy',
      MOBIUS_REGISTRY_TABLE: props.tables.registry.tableName,
      [A2A_ENVIRONMENT.allowedHosts]: this.allowedHosts.join(','),
      ...(props.eventsTable
        ? { [AGENT_ENVIRONMENT.eventsTable]: props.eventsTable.tableName }
        : {}),
    };
    const timeout = props.timeout ?? Duration.minutes(5);
    this.function = mobiusOwnFunction(this, 'Function', {
      entry: 'functions/a2a/proxy-entry.ts',
      description: 'Mobius A2A proxy: calls imported A2A agents',
      timeout,
      environment,
    });
    this.streamFunction = mobiusOwnFunction(this, 'StreamFunction', {
      entry: 'functions/a2a/proxy-entry.ts',
      description: 'Mobius A2A proxy, response streaming: streamed requests to imported A2A agents',
      // A streamed request may run as long as the API lets one (880 s).
      timeout: Duration.minutes(15),
      environment: { ...environment, [A2A_ENVIRONMENT.proxyEntry]: 'streaming' },
    });
    for (const fn of [this.function, this.streamFunction]) {
      props.tables.grantRegistryReadWrite(fn);
      props.eventsTable?.grantAppend(fn);
    }
  }

  /** Lets `grantee` (the engine, the API, the health monitor) invoke the proxy as it invokes agents. */
  grantInvoke(grantee: IGrantable & Construct, options: { streaming?: boolean } = {}): void {
    const functions = options.streaming ? [this.function, this.streamFunction] : [this.function];
    for (const fn of functions) {
      fn.grantInvoke(grantee);
      acknowledgeWildcard(
        grantee,
        `${fn.functionArn}:*`,
        'Invoking the A2A proxy covers its versions and aliases.',
      );
    }
  }
}
