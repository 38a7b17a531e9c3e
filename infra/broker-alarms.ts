import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as sns from 'aws-cdk-lib/aws-sns';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { routeKey, TOKEN_ROUTE } from './routes.js';

/** Namespace of the metrics this stack derives itself (the handlers' own metrics share it). */
export const METRICS_NAMESPACE = 'LongPortTokenBroker';
export const TOKEN_5XX_THRESHOLD = 5;

export interface BrokerAlarmsProps {
  refresher: lambda.IFunction;
  deadLetterQueue: sqs.IQueue;
  reauthMailbox: sqs.IQueue;
  accessLogs: logs.ILogGroup;
  /** Notified when an alarm fires and when it clears. */
  topic?: sns.ITopic;
}

/**
 * What needs a person. Each alarm names its metric's source; docs/deploy.md says how to answer it.
 *
 * - RefresherErrors: the scheduled refresher failed (Lambda `Errors` >= 1 in 5 min).
 * - DeadLetters: a scheduled run or a ReauthRequired event could not be delivered (DLQ not empty).
 * - ReauthRequired: at least one account needs its end user to link again (events delivered to the
 *   mailbox queue in 5 min); the mailbox holds the events.
 * - TokenRoute5xx: the token route answered 5xx at least TOKEN_5XX_THRESHOLD times in 5 min (metric
 *   filter on the access log, which records the route key and status of every request). A lone 503
 *   during an upstream blip is expected and answered with `Retry-After`; a run of them is not.
 */
export class BrokerAlarms extends Construct {
  readonly refresherErrors: cloudwatch.Alarm;
  readonly deadLetters: cloudwatch.Alarm;
  readonly reauthRequired: cloudwatch.Alarm;
  readonly tokenRoute5xx: cloudwatch.Alarm;

  constructor(scope: Construct, id: string, props: BrokerAlarmsProps) {
    super(scope, id);
    const period = Duration.minutes(5);

    this.refresherErrors = new cloudwatch.Alarm(this, 'RefresherErrors', {
      alarmDescription: 'The scheduled token refresher failed. Read its log group; tokens are still refreshed on demand by the token route.',
      metric: props.refresher.metricErrors({ period, statistic: 'Sum' }),
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });

    this.deadLetters = new cloudwatch.Alarm(this, 'DeadLetters', {
      alarmDescription: 'A scheduled refresher run or a ReauthRequired event could not be delivered. Inspect, then purge, the dead-letter queue.',
      metric: props.deadLetterQueue.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(1), statistic: 'Maximum' }),
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });

    this.reauthRequired = new cloudwatch.Alarm(this, 'ReauthRequired', {
      alarmDescription: 'An account needs its end user to link again (LongPort refused its refresh token). The ReauthRequired mailbox queue names tenant and account.',
      metric: props.reauthMailbox.metricNumberOfMessagesSent({ period, statistic: 'Sum' }),
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });

    const token5xx = new logs.MetricFilter(this, 'TokenRoute5xxFilter', {
      logGroup: props.accessLogs,
      metricNamespace: METRICS_NAMESPACE,
      metricName: 'TokenRoute5xx',
      filterPattern: logs.FilterPattern.all(
        logs.FilterPattern.stringValue('$.routeKey', '=', routeKey(TOKEN_ROUTE)),
        logs.FilterPattern.numberValue('$.status', '>=', 500),
      ),
      metricValue: '1',
      defaultValue: 0,
    });
    this.tokenRoute5xx = new cloudwatch.Alarm(this, 'TokenRoute5xx', {
      alarmDescription: 'The token route answered 5xx (upstream LongPort trouble, KMS or DynamoDB errors). Read the token function log group.',
      metric: token5xx.metric({ period, statistic: 'Sum' }),
      threshold: TOKEN_5XX_THRESHOLD,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });

    if (props.topic) {
      const action = new actions.SnsAction(props.topic);
      for (const alarm of this.all) {
        alarm.addAlarmAction(action);
        alarm.addOkAction(action);
      }
    }
  }

  get all(): cloudwatch.Alarm[] {
    return [this.refresherErrors, this.deadLetters, this.reauthRequired, this.tokenRoute5xx];
  }
}
