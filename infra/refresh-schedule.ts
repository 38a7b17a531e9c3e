import { Duration } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as destinations from 'aws-cdk-lib/aws-lambda-destinations';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import { LambdaInvoke, type ScheduleTargetBaseProps } from 'aws-cdk-lib/aws-scheduler-targets';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';

/**
 * LambdaInvoke, but the Scheduler's role may invoke the function's unqualified ARN only
 * (the stock target also allows `<arn>:*`, every version and alias).
 */
class InvokeFunction extends LambdaInvoke {
  constructor(
    private readonly target: lambda.IFunction,
    props: ScheduleTargetBaseProps,
  ) {
    super(target, props);
  }

  protected override addTargetActionToRole(role: iam.IRole): void {
    role.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ['lambda:InvokeFunction'], resources: [this.target.functionArn] }));
  }
}

export interface RefreshScheduleProps {
  refresher: lambda.IFunction;
  /** Minutes between runs (EventBridge Scheduler's smallest rate is one minute). */
  intervalMinutes: number;
  deadLetterQueue: sqs.IQueue;
}

/**
 * Runs the refresher every `intervalMinutes`, so tokens are renewed before anyone asks for them.
 *
 * Two hops can fail, and both end in the dead-letter queue (which raises an alarm):
 * - Scheduler → Lambda delivery (throttling, service errors): retried, then the DLQ;
 * - the run itself (Scheduler invokes Lambda asynchronously): Lambda retries once, then the DLQ.
 * A run older than one interval is dropped rather than retried: the next run supersedes it.
 */
export class RefreshSchedule extends Construct {
  readonly schedule: scheduler.Schedule;

  constructor(scope: Construct, id: string, props: RefreshScheduleProps) {
    super(scope, id);
    if (!Number.isInteger(props.intervalMinutes) || props.intervalMinutes < 1 || props.intervalMinutes > 60) {
      throw new Error(`refresh interval must be a whole number of minutes from 1 to 60, got ${props.intervalMinutes}`);
    }
    const interval = Duration.minutes(props.intervalMinutes);

    this.schedule = new scheduler.Schedule(this, 'Schedule', {
      description: `LongPort token broker: refresh tokens that expire soon, every ${props.intervalMinutes} min`,
      schedule: scheduler.ScheduleExpression.rate(interval),
      target: new InvokeFunction(props.refresher, {
        input: scheduler.ScheduleTargetInput.fromObject({
          scheduledTime: scheduler.ContextAttribute.scheduledTime,
          executionId: scheduler.ContextAttribute.executionId,
        }),
        retryAttempts: 3,
        maxEventAge: interval,
        deadLetterQueue: props.deadLetterQueue,
      }),
    });

    props.refresher.configureAsyncInvoke({
      retryAttempts: 1,
      maxEventAge: interval,
      onFailure: new destinations.SqsDestination(props.deadLetterQueue),
    });
  }
}
