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
  it('creates an event bus named after the stack, so a second copy in the same account and region does not collide', () => {
    template.hasResourceProperties('AWS::Events::EventBus', { Name: 'Broker' });
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
