import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { type EventPattern, matchesPattern } from '../core/messaging/event-pattern.ts';
import { readBody } from './http.ts';

interface Target {
  readonly Id: string;
  readonly Arn: string;
  readonly SqsParameters?: { MessageGroupId?: string };
  readonly DeadLetterConfig?: { Arn?: string };
}

interface Rule {
  readonly name: string;
  readonly bus: string;
  pattern: EventPattern;
  state: string;
  targets: Map<string, Target>;
}

export interface EventBusServer {
  readonly endpoint: string;
  stop(): Promise<void>;
}

/**
 * The embedded runtime's EventBridge: an HTTP endpoint speaking the EventBridge JSON protocol for
 * the operations the router uses (CreateEventBus, PutRule, PutTargets, RemoveTargets, DeleteRule,
 * DescribeRule, PutEvents), so the router's EventBridgeClient runs unchanged. There is no npm
 * EventBridge emulator; this adapter keeps rules in memory and decides routing with the project's
 * matchesPattern — the same function the integration tests check against moto's rule engine — then
 * delivers to SQS targets as EventBridge does (the event JSON as the message body).
 */
export async function startEventBusServer(options: {
  sqs: SQSClient;
  queueUrlOf: (queueArn: string) => string;
  region?: string;
  accountId?: string;
}): Promise<EventBusServer> {
  const region = options.region ?? 'us-east-1';
  const account = options.accountId ?? '000000000000';
  const buses = new Set(['default']);
  const rules = new Map<string, Rule>();
  const ruleKey = (bus: string | undefined, name: string) => `${bus ?? 'default'}/${name}`;

  const sendToQueue = (queueUrl: string, body: string, groupId: string, id: string) =>
    options.sqs.send(
      new SendMessageCommand({
        QueueUrl: queueUrl,
        MessageBody: body,
        ...(queueUrl.endsWith('.fifo')
          ? { MessageGroupId: groupId, MessageDeduplicationId: id }
          : {}),
      }),
    );

  /**
   * One target's delivery. A failure goes to the target's dead-letter queue with EventBridge's
   * attributes (RULE_ARN, TARGET_ARN, ERROR_CODE, ERROR_MESSAGE); a target without one loses the
   * event, as on AWS, and says so on stderr.
   */
  const deliver = async (target: Target, rule: Rule, event: unknown, id: string) => {
    const body = JSON.stringify(event);
    try {
      await sendToQueue(
        options.queueUrlOf(target.Arn),
        body,
        target.SqsParameters?.MessageGroupId ?? 'events',
        id,
      );
    } catch (error) {
      const code = error instanceof Error ? error.name : 'Error';
      const message = error instanceof Error ? error.message : String(error);
      const dlq = target.DeadLetterConfig?.Arn;
      if (dlq === undefined) {
        console.warn(
          `event ${id} not delivered to ${target.Arn} (rule ${rule.name}): ${code}: ${message}`,
        );
        return;
      }
      const attribute = (value: string) => ({ DataType: 'String', StringValue: value });
      await options.sqs.send(
        new SendMessageCommand({
          QueueUrl: options.queueUrlOf(dlq),
          MessageBody: body,
          MessageAttributes: {
            RULE_ARN: attribute(
              `arn:aws:events:${region}:${account}:rule/${rule.bus}/${rule.name}`,
            ),
            TARGET_ARN: attribute(target.Arn),
            ERROR_CODE: attribute(code),
            ERROR_MESSAGE: attribute(message.slice(0, 1000) || code),
          },
        }),
      );
    }
  };

  const operations: Record<string, (input: Record<string, unknown>) => Promise<unknown> | unknown> =
    {
      CreateEventBus: (input) => {
        buses.add(String(input.Name));
        return { EventBusArn: `arn:aws:events:${region}:${account}:event-bus/${input.Name}` };
      },
      PutRule: (input) => {
        const bus = String(input.EventBusName ?? 'default');
        if (!buses.has(bus))
          throw fault('ResourceNotFoundException', `Event bus ${bus} does not exist.`);
        const key = ruleKey(bus, String(input.Name));
        const pattern = JSON.parse(String(input.EventPattern ?? '{}')) as EventPattern;
        const existing = rules.get(key);
        if (existing) {
          existing.pattern = pattern;
          existing.state = String(input.State ?? 'ENABLED');
        } else {
          rules.set(key, {
            name: String(input.Name),
            bus,
            pattern,
            state: String(input.State ?? 'ENABLED'),
            targets: new Map(),
          });
        }
        return { RuleArn: `arn:aws:events:${region}:${account}:rule/${bus}/${input.Name}` };
      },
      PutTargets: (input) => {
        const rule = rules.get(
          ruleKey(input.EventBusName as string | undefined, String(input.Rule)),
        );
        if (!rule) throw fault('ResourceNotFoundException', `Rule ${input.Rule} does not exist.`);
        for (const target of input.Targets as Target[]) rule.targets.set(target.Id, target);
        return { FailedEntryCount: 0, FailedEntries: [] };
      },
      RemoveTargets: (input) => {
        const rule = rules.get(
          ruleKey(input.EventBusName as string | undefined, String(input.Rule)),
        );
        if (!rule) throw fault('ResourceNotFoundException', `Rule ${input.Rule} does not exist.`);
        for (const id of input.Ids as string[]) rule.targets.delete(id);
        return { FailedEntryCount: 0, FailedEntries: [] };
      },
      DeleteRule: (input) => {
        rules.delete(ruleKey(input.EventBusName as string | undefined, String(input.Name)));
        return {};
      },
      DescribeRule: (input) => {
        const rule = rules.get(
          ruleKey(input.EventBusName as string | undefined, String(input.Name)),
        );
        if (!rule) throw fault('ResourceNotFoundException', `Rule ${input.Name} does not exist.`);
        return {
          Name: rule.name,
          EventBusName: rule.bus,
          EventPattern: JSON.stringify(rule.pattern),
          State: rule.state,
        };
      },
      PutEvents: async (input) => {
        const entries = input.Entries as {
          Source: string;
          DetailType: string;
          Detail: string;
          EventBusName?: string;
        }[];
        const results = await Promise.all(
          entries.map(async (entry) => {
            const id = randomUUID();
            const event = {
              version: '0',
              id,
              'detail-type': entry.DetailType,
              source: entry.Source,
              account,
              time: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
              region,
              resources: [],
              detail: JSON.parse(entry.Detail) as unknown,
            };
            const bus = entry.EventBusName ?? 'default';
            for (const rule of rules.values()) {
              if (
                rule.bus !== bus ||
                rule.state !== 'ENABLED' ||
                !matchesPattern(rule.pattern, event)
              )
                continue;
              // EventBridge delivers to each target on its own: one target whose queue is gone
              // fails neither the PutEvents nor the other targets' deliveries.
              for (const target of rule.targets.values()) {
                await deliver(target, rule, event, id);
              }
            }
            return { EventId: id };
          }),
        );
        return { FailedEntryCount: 0, Entries: results };
      },
    };

  const server: Server = createServer(async (request, response) => {
    const operation = String(request.headers['x-amz-target'] ?? '').split('.')[1] ?? '';
    const send = (status: number, body: unknown) => {
      response.writeHead(status, { 'content-type': 'application/x-amz-json-1.1' });
      response.end(JSON.stringify(body));
    };
    const handler = operations[operation];
    if (!handler)
      return send(400, {
        __type: 'UnknownOperationException',
        message: `${operation} is not supported by the embedded event bus`,
      });
    try {
      send(
        200,
        await handler(JSON.parse((await readBody(request)) || '{}') as Record<string, unknown>),
      );
    } catch (error) {
      const failure = error as Error & { type?: string };
      send(400, { __type: failure.type ?? 'InternalException', message: failure.message });
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    stop: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
}

function fault(type: string, message: string): Error {
  return Object.assign(new Error(message), { type });
}
