import { Annotations, Duration, Stack, Validations } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { AUDIT_INDEX, DUE_INDEX } from '../lib/store/schema.js';
import type { BrokerApi } from './broker-api.js';
import type { BrokerFunction } from './broker-function.js';
import type { BrokerMetrics } from './broker-metrics.js';
import type { FunctionName, HttpFunctionName } from './routes.js';
import type { TokenKey } from './token-key.js';
import type { TokenTable } from './token-table.js';

export interface BrokerAlarmsProps {
  functions: Readonly<Record<FunctionName, BrokerFunction>>;
  api: BrokerApi;
  table: TokenTable;
  /** Every table operation a function is granted (FUNCTIONS): the system-error alarm watches each. */
  /** The DynamoDB operations the functions use (see `operationOf`). */
  tableOperations: readonly dynamodb.Operation[];
  key: TokenKey;
  metrics: BrokerMetrics;
  refreshIntervalMinutes: number;
  deadLetterQueue: sqs.IQueue;
  reauthMailbox: sqs.IQueue;
  /** Notified when an alarm fires and when it clears. @default a topic this construct creates */
  topic?: sns.ITopic;
  /** Subscribe this address to the topic (a confirmation mail comes first). */
  email?: string;
}

/** Thresholds, in one place: the docs' runbook quotes them. */
export const THRESHOLDS = {
  /** Share of refresher attempts that failed, over 15 minutes, twice in a row, once at least 3 failed. */
  refreshFailureRate: 0.25,
  refreshFailureMinimum: 3,
  /** The oldest ReauthRequired message waited this long: nobody is handling the mailbox. */
  reauthMailboxAgeS: 24 * 3600,
  /** So many accounts wait for a new link at once: something systemic (a region move, a revoked client). */
  reauthMailboxDepth: 25,
  /** 5xx answers of one function (access log) plus its crashes and timeouts (Lambda Errors), in 5 minutes. */
  function5xx: 5,
  /** 5xx answers of the whole HTTP API (API Gateway's own count, integration failures included), in 5 minutes. */
  api5xx: 10,
  tableThrottles: 10,
  storeUnavailable: 5,
  callbackFailures: 3,
  kmsThrottled: 5,
} as const;

const cap = (s: string): string => `${s[0]!.toUpperCase()}${s.slice(1)}`;

/**
 * What needs a person, each alarm on a rate or a level rather than a single event, each with an
 * alarm and an OK action on the topic (docs/deploy.md, "Alarms", has a runbook line for each):
 *
 * - RefreshFailureRate, RefresherSilent (no completed run for three intervals: missing data breaches);
 * - DeadLetters; ReauthMailboxAge and ReauthMailboxDepth (the mailbox, not the messages sent, so one
 *   end user who must link again does not page anyone);
 * - EventsLost (EventsPublishFailed + EventsDropped);
 * - TableThrottled, TableErrors (DynamoDB system errors), StoreUnavailable;
 * - <Function>5xx for every HTTP function, and Api5xx for the API as a whole;
 * - CallbackFailures (linking broken), KmsThrottled.
 *
 * And a rule that notifies the topic when anyone changes the token key's policy or grants, disables
 * it or schedules its deletion (needs a CloudTrail trail that records management events).
 */
export class BrokerAlarms extends Construct {
  readonly topic: sns.ITopic;
  readonly alarms: Record<string, cloudwatch.Alarm> = {};
  readonly keyPolicyChanged?: events.Rule;

  constructor(scope: Construct, id: string, props: BrokerAlarmsProps) {
    super(scope, id);
    const stackName = Stack.of(this).stackName;
    const m = props.metrics;
    const five = Duration.minutes(5);

    if (props.topic) {
      this.topic = props.topic;
    } else {
      const topic = new sns.Topic(this, 'Topic', { displayName: `${stackName} alarms`, enforceSSL: true });
      Validations.of(topic).acknowledge({
        id: 'AwsSolutions-SNS2',
        reason:
          'Alarm notifications carry alarm names, thresholds and CloudTrail records of key-policy changes, never token material; SSE would need a second customer-managed key whose policy lets CloudWatch and EventBridge use it.',
      });
      this.topic = topic;
    }
    if (props.email) this.topic.addSubscription(new subscriptions.EmailSubscription(props.email));
    else if (!props.topic) {
      Annotations.of(this).addWarning('alarms notify a topic without subscribers: set broker:alarmEmail, or subscribe to the AlarmTopicArn output');
    }

    const add = (name: string, alarm: Omit<cloudwatch.AlarmProps, 'alarmName'>): void => {
      this.alarms[name] = new cloudwatch.Alarm(this, name, { alarmName: `${stackName}-${name}`, ...alarm });
    };

    // --- refreshes ---------------------------------------------------------------------------------
    const fifteen = Duration.minutes(15);
    add('RefreshFailureRate', {
      alarmDescription: `At least ${THRESHOLDS.refreshFailureRate * 100} % of the refresher's attempts failed for 30 minutes. RefreshFailedByReason on the dashboard names the error code.`,
      metric: new cloudwatch.MathExpression({
        expression: `IF(failed >= ${THRESHOLDS.refreshFailureMinimum}, failed / (FILL(succeeded, 0) + failed), 0)`,
        usingMetrics: { failed: m.metric('RefreshFailed', { period: fifteen }), succeeded: m.metric('RefreshSucceeded', { period: fifteen }) },
        period: fifteen,
        label: 'refresh failure rate',
      }),
      threshold: THRESHOLDS.refreshFailureRate,
      evaluationPeriods: 2,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    const silentPeriod = Duration.minutes(Math.max(5, props.refreshIntervalMinutes * 3));
    add('RefresherSilent', {
      alarmDescription: `No refresher run completed in ${silentPeriod.toMinutes()} minutes (three intervals). Tokens are still refreshed when read, but not ahead of time.`,
      metric: m.metric('AccountsDue', { period: silentPeriod, statistic: 'SampleCount' }),
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
      // silence is the failure this alarm exists for
      treatMissingData: cloudwatch.TreatMissingData.BREACHING,
    });

    // --- queues ------------------------------------------------------------------------------------
    add('DeadLetters', {
      alarmDescription: 'A scheduled refresher run or a ReauthRequired event could not be delivered. Inspect, then purge, the dead-letter queue.',
      metric: props.deadLetterQueue.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(1), statistic: 'Maximum' }),
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    add('ReauthMailboxAge', {
      alarmDescription: 'A ReauthRequired message has waited a day in the mailbox: an end user still needs a new link and nobody has told the tenant.',
      metric: props.reauthMailbox.metricApproximateAgeOfOldestMessage({ period: five, statistic: 'Maximum' }),
      threshold: THRESHOLDS.reauthMailboxAgeS,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    add('ReauthMailboxDepth', {
      alarmDescription: `${THRESHOLDS.reauthMailboxDepth} or more accounts wait for a new link at once: something systemic (a region move, a revoked or expired client).`,
      metric: props.reauthMailbox.metricApproximateNumberOfMessagesVisible({ period: five, statistic: 'Maximum' }),
      threshold: THRESHOLDS.reauthMailboxDepth,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    add('EventsLost', {
      alarmDescription: 'Events could not be published to the event bus (event.publish_failed) or were dropped: consumers of AccountLinked, ReauthRequired, … missed them.',
      metric: new cloudwatch.MathExpression({
        expression: 'FILL(failed, 0) + FILL(dropped, 0)',
        usingMetrics: { failed: m.metric('EventsPublishFailed'), dropped: m.metric('EventsDropped') },
        period: five,
        label: 'events lost',
      }),
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });

    // --- DynamoDB ----------------------------------------------------------------------------------
    const table = props.table.table;
    add('TableThrottled', {
      alarmDescription: `DynamoDB throttled ${THRESHOLDS.tableThrottles}+ requests in 5 minutes, twice in 15 (table or its ${DUE_INDEX} or ${AUDIT_INDEX} index). Callers get 503 with Retry-After.`,
      metric: new cloudwatch.MathExpression({
        expression: 'FILL(reads, 0) + FILL(writes, 0) + FILL(indexWrites, 0) + FILL(auditIndexWrites, 0)',
        usingMetrics: {
          reads: table.metric('ReadThrottleEvents', { period: five, statistic: 'Sum' }),
          writes: table.metric('WriteThrottleEvents', { period: five, statistic: 'Sum' }),
          indexWrites: table.metric('WriteThrottleEvents', { period: five, statistic: 'Sum', dimensionsMap: { TableName: table.tableName, GlobalSecondaryIndexName: DUE_INDEX } }),
          auditIndexWrites: table.metric('WriteThrottleEvents', { period: five, statistic: 'Sum', dimensionsMap: { TableName: table.tableName, GlobalSecondaryIndexName: AUDIT_INDEX } }),
        },
        period: five,
        label: 'throttled requests',
      }),
      threshold: THRESHOLDS.tableThrottles,
      evaluationPeriods: 3,
      datapointsToAlarm: 2,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    add('TableErrors', {
      alarmDescription: 'DynamoDB answered with system errors (HTTP 500) in two of the last three 5-minute periods.',
      metric: table.metricSystemErrorsForOperations({
        operations: [...props.tableOperations],
        period: five,
      }),
      threshold: 1,
      evaluationPeriods: 3,
      datapointsToAlarm: 2,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    add('StoreUnavailable', {
      alarmDescription: `${THRESHOLDS.storeUnavailable}+ requests in 5 minutes were answered 503 because DynamoDB was unreachable, slow or throttled.`,
      metric: m.metric('StoreUnavailable'),
      threshold: THRESHOLDS.storeUnavailable,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });

    // --- HTTP --------------------------------------------------------------------------------------
    const { refresher: _refresher, ...http } = props.functions;
    for (const [name, fn] of Object.entries(http) as [HttpFunctionName, BrokerFunction][]) {
      add(`${cap(name)}5xx`, {
        alarmDescription: `The ${name} function answered ${THRESHOLDS.function5xx}+ times with 5xx, crashed or timed out in 5 minutes. Read its log group (request.failed lines).`,
        metric: new cloudwatch.MathExpression({
          expression: 'answered + FILL(crashed, 0)',
          usingMetrics: { answered: m.serverErrorsOf(name, five), crashed: fn.fn.metricErrors({ period: five, statistic: 'Sum' }) },
          period: five,
          label: `${name}: 5xx, crashes, time-outs`,
        }),
        threshold: THRESHOLDS.function5xx,
        evaluationPeriods: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      });
    }
    add('Api5xx', {
      alarmDescription: `The HTTP API answered ${THRESHOLDS.api5xx}+ times with 5xx in 5 minutes (API Gateway's own count, integration failures included).`,
      metric: props.api.api.metricServerError({ period: five, statistic: 'Sum' }),
      threshold: THRESHOLDS.api5xx,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    add('CallbackFailures', {
      alarmDescription: `${THRESHOLDS.callbackFailures}+ OAuth callbacks in 15 minutes failed for a reason the end user cannot fix: linking is broken (client rejected, provider errors).`,
      metric: m.metric('CallbackFailed', { period: fifteen }),
      threshold: THRESHOLDS.callbackFailures,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    add('KmsThrottled', {
      alarmDescription: `KMS throttled ${THRESHOLDS.kmsThrottled}+ calls in 5 minutes: token reads that miss the cache and refreshes answer 503. Ask for a higher KMS request quota.`,
      metric: m.metric('KmsThrottled'),
      threshold: THRESHOLDS.kmsThrottled,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });

    const action = new actions.SnsAction(this.topic);
    for (const alarm of this.all) {
      alarm.addAlarmAction(action);
      alarm.addOkAction(action);
    }

    if (props.key.ownsPolicy) {
      this.keyPolicyChanged = new events.Rule(this, 'KeyPolicyChanged', {
        description: 'Tells the alarm topic when anyone changes who may use the token key',
        eventPattern: {
          source: ['aws.kms'],
          detailType: ['AWS API Call via CloudTrail'],
          detail: {
            eventSource: ['kms.amazonaws.com'],
            eventName: ['PutKeyPolicy', 'CreateGrant', 'DisableKey', 'ScheduleKeyDeletion', 'DisableKeyRotation'],
            resources: { ARN: [props.key.keyArn] },
          },
        },
        targets: [new targets.SnsTopic(this.topic)],
      });
    }
  }

  get all(): cloudwatch.Alarm[] {
    return Object.values(this.alarms);
  }
}
