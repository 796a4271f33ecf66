import { Duration } from 'aws-cdk-lib';
import { EventBus } from 'aws-cdk-lib/aws-events';
import { Construct } from 'constructs';
import { EVENT_SOURCE } from '../functions/core/messaging/routing-rules.ts';

export interface MessageBusProps {
  /** @default 'mobius-bus' */
  readonly eventBusName?: string;
  /** How long broadcasts and events stay replayable. @default 30 days */
  readonly archiveRetention?: Duration;
}

/** The EventBridge bus broadcasts and events travel on, with an archive for replay. */
export class MessageBus extends Construct {
  readonly bus: EventBus;

  constructor(scope: Construct, id: string, props: MessageBusProps = {}) {
    super(scope, id);
    this.bus = new EventBus(this, 'Bus', { eventBusName: props.eventBusName ?? 'mobius-bus' });
    this.bus.archive('Archive', {
      description: 'Every Mobius broadcast and event, for replay',
      eventPattern: { source: [EVENT_SOURCE] },
      retention: props.archiveRetention ?? Duration.days(30),
    });
  }
}
