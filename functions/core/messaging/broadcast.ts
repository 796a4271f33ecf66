import { type EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { ValidationError } from '../errors.ts';
import { parseWith } from '../validation.ts';
import { chunkBySize, MAX_ENTRY_ATTEMPTS, pause } from './chunks.ts';
import { assertFits, envelopeSchema } from './envelope.ts';
import { LIMITS } from './limits.ts';
import { busEntryOf } from './routing-rules.ts';

/**
 * Broadcasts and events onto the bus. Who receives them is the rules' business (subscriptions.ts):
 * EventBridge delivers to each subscriber's queue on its own, so on AWS one subscriber whose queue
 * is gone fails neither the publication nor the other subscribers' deliveries.
 */
export class Broadcaster {
  readonly #eventBridge: EventBridgeClient;
  readonly #eventBusName: string;

  constructor(eventBridge: EventBridgeClient, eventBusName: string) {
    this.#eventBridge = eventBridge;
    this.#eventBusName = eventBusName;
  }

  /** Publishes broadcasts/events on the bus, 10 entries per PutEvents, failed entries retried. */
  async publish(inputs: readonly unknown[]): Promise<{ published: number }> {
    const messages = inputs.map((input, i) => parseWith(envelopeSchema, input, `message ${i}`));
    for (const [i, message] of messages.entries()) {
      if (message.type !== 'broadcast' && message.type !== 'event') {
        throw new ValidationError(`message ${i}`, [
          {
            path: 'type',
            message: 'only broadcasts and events go on the bus; send requests to one agent',
          },
        ]);
      }
      // An event addressed to one agent id matches no rule on the bus: it would vanish.
      if (typeof message.to === 'string' && message.to !== '*') {
        throw new ValidationError(`message ${i}`, [
          {
            path: 'to',
            message:
              'an event to one agent goes to its queue (send it); publish events to "*" or { "capability": … }',
          },
        ]);
      }
      assertFits(message, LIMITS.eventBridgeEntryBytes - 1024, 'EventBridge'); // room for the routing fields
    }
    const entries = messages.map((m) => busEntryOf(m, this.#eventBusName));
    let published = 0;
    for (const batch of chunkBySize(
      entries,
      LIMITS.eventBridgeEntries,
      LIMITS.eventBridgeRequestBytes,
    )) {
      let pending = batch;
      for (let attempt = 0; pending.length > 0; attempt++) {
        if (attempt >= MAX_ENTRY_ATTEMPTS) {
          throw new Error(
            `PutEvents left ${pending.length} entries unpublished after ${attempt} attempts`,
          );
        }
        if (attempt > 0) await pause(attempt);
        const response = await this.#eventBridge.send(
          new PutEventsCommand({ Entries: pending.map((e) => ({ ...e })) }),
        );
        const results = response.Entries ?? [];
        published += results.filter((r) => r.EventId !== undefined).length;
        pending = pending.filter((_, i) => results[i]?.ErrorCode !== undefined);
      }
    }
    return { published };
  }
}
