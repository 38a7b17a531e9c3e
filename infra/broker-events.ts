import { Duration, Stack, Validations } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { EVENT_SOURCE } from '../lib/events.js';

/** The `source` of every event the broker publishes (lib/events.ts). */
export { EVENT_SOURCE };

/** The variable lib/config.ts reads the bus name from. */
export const EVENTS_ENV = 'BROKER_EVENT_BUS_NAME';

export interface BrokerEventsProps {
  /** @default the stack name, so that two copies of the stack in one account and region do not collide */
  eventBusName?: string;
  /** Where the ReauthRequired rule puts events it could not deliver. */
  deadLetterQueue: sqs.IQueue;
}

/**
 * The broker's event bus, and a mailbox that keeps every `ReauthRequired` event for 14 days.
 *
 * `ReauthRequired` means an end user must link their account again: a person has to act. The rule
 * copies those events into the mailbox queue: the alarms watch how many wait there and for how
 * long, and whoever answers them reads which tenant and account need a new link (events carry
 * ids and status, never token material).
 */
export class BrokerEvents extends Construct {
  readonly bus: events.EventBus;
  readonly reauthMailbox: sqs.Queue;

  constructor(scope: Construct, id: string, props: BrokerEventsProps) {
    super(scope, id);
    this.bus = new events.EventBus(this, 'Bus', { eventBusName: props.eventBusName ?? Stack.of(this).stackName });

    this.reauthMailbox = new sqs.Queue(this, 'ReauthRequiredMailbox', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    Validations.of(this.reauthMailbox).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason:
        'Operator mailbox with no consuming code: no processing can fail, so there is nothing for a DLQ to catch, and a redrive would move messages an operator merely read. Failed deliveries into it go to the broker dead-letter queue (rule target DLQ).',
    });

    new events.Rule(this, 'ReauthRequiredRule', {
      eventBus: this.bus,
      description: 'Copies ReauthRequired events (an end user must link again) into the operator mailbox',
      eventPattern: { source: [EVENT_SOURCE], detailType: ['ReauthRequired'] },
      targets: [new targets.SqsQueue(this.reauthMailbox, { deadLetterQueue: props.deadLetterQueue })],
    });
  }

  get eventBusName(): string {
    return this.bus.eventBusName;
  }

  /** Allows `events:PutEvents` on this bus, and only with the broker's own `source`. */
  grantPublish(grantee: iam.IGrantable): iam.Grant {
    return iam.Grant.addToPrincipal({
      grantee,
      actions: ['events:PutEvents'],
      resourceArns: [this.bus.eventBusArn],
      conditions: { StringEquals: { 'events:source': EVENT_SOURCE } },
    });
  }
}
