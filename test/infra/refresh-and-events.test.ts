import { Match } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { defaultBroker, logicalId, resourcesOf, roleStatements, actionsOf, synthBroker } from './support.js';

const { template } = defaultBroker();
const refresher = logicalId(template, 'AWS::Lambda::Function', 'BrokerRefresherFunction');
const dlq = logicalId(template, 'AWS::SQS::Queue', 'BrokerDeadLettersQueue');
const mailbox = logicalId(template, 'AWS::SQS::Queue', 'BrokerEventsReauthRequiredMailbox');

describe('RefreshSchedule', () => {
  it('invokes the refresher every 5 minutes through EventBridge Scheduler', () => {
    template.hasResourceProperties('AWS::Scheduler::Schedule', {
      ScheduleExpression: 'rate(5 minutes)',
      State: 'ENABLED',
      Target: Match.objectLike({ Arn: { 'Fn::GetAtt': [refresher, 'Arn'] } }),
    });
  });

  it('retries delivery, drops runs older than one interval, and dead-letters the rest', () => {
    template.hasResourceProperties('AWS::Scheduler::Schedule', {
      Target: Match.objectLike({
        RetryPolicy: { MaximumRetryAttempts: 3, MaximumEventAgeInSeconds: 300 },
        DeadLetterConfig: { Arn: { 'Fn::GetAtt': [dlq, 'Arn'] } },
      }),
    });
  });

  it('a failed run (asynchronous invocation) is retried once, then dead-lettered', () => {
    template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
      FunctionName: { Ref: refresher },
      MaximumRetryAttempts: 1,
      MaximumEventAgeInSeconds: 300,
      DestinationConfig: { OnFailure: { Destination: { 'Fn::GetAtt': [dlq, 'Arn'] } } },
    });
  });

  it("the scheduler's role may invoke the refresher's unqualified ARN and write to the DLQ, nothing else", () => {
    const statements = roleStatements(template, 'SchedulerRoleForTarget');
    expect(statements.map((s) => [actionsOf(s), s.Resource])).toEqual([
      [['lambda:InvokeFunction'], { 'Fn::GetAtt': [refresher, 'Arn'] }],
      [['sqs:SendMessage'], { 'Fn::GetAtt': [dlq, 'Arn'] }],
    ]);
  });

  it('the interval is a stack parameter', () => {
    const { template: t } = synthBroker({ refreshIntervalMinutes: 2 });
    t.hasResourceProperties('AWS::Scheduler::Schedule', { ScheduleExpression: 'rate(2 minutes)' });
  });

  it.each([0, 1.5, 61])('refuses an interval of %s minutes', (minutes) => {
    expect(() => synthBroker({ refreshIntervalMinutes: minutes })).toThrow(/refresh interval/);
  });
});

describe('queues', () => {
  it.each([
    ['dead-letter queue', 'BrokerDeadLettersQueue'],
    ['ReauthRequired mailbox', 'BrokerEventsReauthRequiredMailbox'],
  ])('the %s is encrypted, keeps messages 14 days and refuses requests without TLS', (_name, prefix) => {
    const id = logicalId(template, 'AWS::SQS::Queue', prefix);
    const queue = resourcesOf(template, 'AWS::SQS::Queue')[id]!;
    expect(queue.Properties!.SqsManagedSseEnabled).toBe(true);
    expect(queue.Properties!.MessageRetentionPeriod).toBe(14 * 24 * 3600);
    template.hasResourceProperties('AWS::SQS::QueuePolicy', {
      Queues: [{ Ref: id }],
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Action: 'sqs:*', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        ]),
      },
    });
  });
});

describe('BrokerEvents', () => {
  it('creates the event bus longport-token-broker', () => {
    template.hasResourceProperties('AWS::Events::EventBus', { Name: 'longport-token-broker' });
  });

  it('the bus name is a stack parameter', () => {
    const { template: t } = synthBroker({ eventBusName: 'broker-staging' });
    t.hasResourceProperties('AWS::Events::EventBus', { Name: 'broker-staging' });
  });

  it('copies ReauthRequired events from the broker into the mailbox, dead-lettering failed deliveries', () => {
    template.hasResourceProperties('AWS::Events::Rule', {
      EventBusName: { Ref: logicalId(template, 'AWS::Events::EventBus', 'BrokerEventsBus') },
      EventPattern: { source: ['longport-token-broker'], 'detail-type': ['ReauthRequired'] },
      Targets: [Match.objectLike({ Arn: { 'Fn::GetAtt': [mailbox, 'Arn'] }, DeadLetterConfig: { Arn: { 'Fn::GetAtt': [dlq, 'Arn'] } } })],
    });
  });

  it('only that rule may send to the mailbox', () => {
    template.hasResourceProperties('AWS::SQS::QueuePolicy', {
      Queues: [{ Ref: mailbox }],
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Effect: 'Allow',
            Principal: { Service: 'events.amazonaws.com' },
            Condition: { ArnEquals: { 'aws:SourceArn': { 'Fn::GetAtt': [logicalId(template, 'AWS::Events::Rule', 'BrokerEventsReauthRequiredRule'), 'Arn'] } } },
          }),
        ]),
      },
    });
  });
});

describe('BrokerAlarms', () => {
  const alarms = resourcesOf(template, 'AWS::CloudWatch::Alarm');
  const alarm = (prefix: string) => alarms[logicalId(template, 'AWS::CloudWatch::Alarm', prefix)]!.Properties!;

  it('has the four alarms: refresher errors, dead letters, ReauthRequired, token-route 5xx', () => {
    expect(Object.keys(alarms)).toHaveLength(4);
  });

  it('refresher errors: Lambda Errors of the refresher >= 1 in 5 minutes', () => {
    expect(alarm('BrokerAlarmsRefresherErrors')).toMatchObject({
      Namespace: 'AWS/Lambda',
      MetricName: 'Errors',
      Dimensions: [{ Name: 'FunctionName', Value: { Ref: refresher } }],
      Period: 300,
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      TreatMissingData: 'notBreaching',
    });
  });

  it('dead letters: any visible message in the dead-letter queue', () => {
    expect(alarm('BrokerAlarmsDeadLetters')).toMatchObject({
      Namespace: 'AWS/SQS',
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [dlq, 'QueueName'] } }],
      Threshold: 1,
    });
  });

  it('ReauthRequired: any event delivered to the mailbox in 5 minutes', () => {
    expect(alarm('BrokerAlarmsReauthRequired')).toMatchObject({
      Namespace: 'AWS/SQS',
      MetricName: 'NumberOfMessagesSent',
      Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [mailbox, 'QueueName'] } }],
      Statistic: 'Sum',
      Threshold: 1,
    });
  });

  it('token-route 5xx: counted from the access log by route key and status', () => {
    template.hasResourceProperties('AWS::Logs::MetricFilter', {
      LogGroupName: { Ref: logicalId(template, 'AWS::Logs::LogGroup', 'BrokerHttpAccessLogs') },
      FilterPattern: '{ ($.routeKey = "GET /v1/tenants/{tenant}/accounts/{account}/token") && ($.status >= 500) }',
      MetricTransformations: [Match.objectLike({ MetricNamespace: 'LongPortTokenBroker', MetricName: 'TokenRoute5xx', MetricValue: '1' })],
    });
    expect(alarm('BrokerAlarmsTokenRoute5xx')).toMatchObject({
      Namespace: 'LongPortTokenBroker',
      MetricName: 'TokenRoute5xx',
      Statistic: 'Sum',
      Threshold: 5,
    });
  });

  it('notify nobody by default, and the given SNS topic on alarm and on recovery', () => {
    for (const a of Object.values(alarms)) expect(a.Properties!.AlarmActions).toBeUndefined();
    const topic = 'arn:aws:sns:eu-west-1:111122223333:ops';
    const { template: t } = synthBroker({ alarmTopicArn: topic });
    const withTopic = Object.values(resourcesOf(t, 'AWS::CloudWatch::Alarm'));
    expect(withTopic).toHaveLength(4);
    for (const a of withTopic) {
      expect(a.Properties!.AlarmActions).toEqual([topic]);
      expect(a.Properties!.OKActions).toEqual([topic]);
    }
  });
});
