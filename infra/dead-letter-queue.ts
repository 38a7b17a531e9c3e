import { Duration, Validations } from 'aws-cdk-lib';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';

/**
 * Where undeliverable invocations land: scheduled refresher runs that could not be delivered or
 * failed after their retries, and events the `ReauthRequired` rule could not deliver. Any message here raises an alarm (BrokerAlarms).
 * Messages carry no token material: only the schedule's input or the event (ids and status).
 */
export class DeadLetterQueue extends Construct {
  readonly queue: sqs.Queue;

  constructor(scope: Construct, id: string) {
    super(scope, id);
    this.queue = new sqs.Queue(this, 'Queue', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    Validations.of(this.queue).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason:
        'This queue is itself a dead-letter queue (of the Scheduler target, the refresher async invocations and the ReauthRequired rule target); cdk-nag only recognises SQS redrive policies and Lambda DeadLetterConfig as DLQ use.',
    });
  }
}
