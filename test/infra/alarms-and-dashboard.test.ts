import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Match } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { DASHBOARD_WIDGETS } from '../../infra/broker-dashboard.js';
import { THRESHOLDS } from '../../infra/broker-alarms.js';
import { PROJECT_ROOT } from '../../infra/bundling.js';
import { ROUTES, routeKey, type HttpFunctionName } from '../../infra/routes.js';
import { METRICS } from '../../lib/metrics.js';
import { defaultBroker, logicalId, resourcesOf, synthBroker } from './support.js';

const { stack, template } = defaultBroker();
const alarms = resourcesOf(template, 'AWS::CloudWatch::Alarm');
const HTTP: HttpFunctionName[] = [...new Set(ROUTES.map((r) => r.fn))];
const cap = (s: string) => `${s[0]!.toUpperCase()}${s.slice(1)}`;
const EXPECTED = [
  'RefreshFailureRate',
  'RefresherSilent',
  'DeadLetters',
  'ReauthMailboxAge',
  'ReauthMailboxDepth',
  'EventsLost',
  'TableThrottled',
  'TableErrors',
  'StoreUnavailable',
  ...HTTP.map((f) => `${cap(f)}5xx`),
  'Api5xx',
  'CallbackFailures',
  'KmsThrottled',
];
const alarm = (name: string) => alarms[logicalId(template, 'AWS::CloudWatch::Alarm', `BrokerAlarms${name}`)]!.Properties!;
/** The metrics an alarm reads: its own, or those of its metric math. */
const metricsOf = (a: Record<string, any>): { Namespace: string; MetricName: string; Dimensions?: unknown[]; Stat?: string }[] =>
  a.MetricName ? [a as never] : (a.Metrics as { MetricStat?: { Metric: never; Stat: string } }[]).filter((m) => m.MetricStat).map((m) => ({ ...(m.MetricStat!.Metric as object), Stat: m.MetricStat!.Stat }) as never);
const topicId = logicalId(template, 'AWS::SNS::Topic', 'BrokerAlarmsTopic');

describe('alarms', () => {
  it('are exactly these: refreshes, queues, events, DynamoDB, 5xx of every HTTP function and of the API, callbacks, KMS', () => {
    expect(Object.keys(stack.broker.alarms.alarms).sort()).toEqual([...EXPECTED].sort());
    expect(Object.keys(alarms)).toHaveLength(EXPECTED.length);
  });

  it('with no topic given, the stack creates one, and every alarm notifies it when it fires and when it clears', () => {
    for (const a of Object.values(alarms)) {
      expect(a.Properties!.AlarmActions).toEqual([{ Ref: topicId }]);
      expect(a.Properties!.OKActions).toEqual([{ Ref: topicId }]);
    }
    template.hasResourceProperties('AWS::SNS::TopicPolicy', {
      PolicyDocument: { Statement: Match.arrayWith([Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })]) },
    });
  });

  it('an email address from context subscribes to the topic', () => {
    const { template: t } = synthBroker({ alarmEmail: 'oncall@example.com' });
    t.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', Endpoint: 'oncall@example.com' });
  });

  it('a given topic replaces the created one for every alarm', () => {
    const topic = 'arn:aws:sns:eu-west-1:111122223333:ops';
    const { template: t } = synthBroker({ alarmTopicArn: topic });
    expect(Object.keys(resourcesOf(t, 'AWS::SNS::Topic'))).toEqual([]);
    for (const a of Object.values(resourcesOf(t, 'AWS::CloudWatch::Alarm'))) {
      expect(a.Properties!.AlarmActions).toEqual([topic]);
      expect(a.Properties!.OKActions).toEqual([topic]);
    }
  });

  it('are named after the stack, so two copies in one account do not collide', () => {
    for (const name of EXPECTED) expect(alarm(name).AlarmName).toBe(`Broker-${name}`);
  });

  it('refresh failures alarm on a rate (failed / attempted, at least 3 failed), over 30 minutes', () => {
    const a = alarm('RefreshFailureRate');
    const expr = (a.Metrics as { Expression?: string }[]).find((m) => m.Expression)!.Expression;
    expect(expr).toBe(`IF(failed >= ${THRESHOLDS.refreshFailureMinimum}, failed / (FILL(succeeded, 0) + failed), 0)`);
    expect(metricsOf(a).map((m) => m.MetricName).sort()).toEqual(['RefreshFailed', 'RefreshSucceeded']);
    expect(a).toMatchObject({ Threshold: THRESHOLDS.refreshFailureRate, EvaluationPeriods: 2, TreatMissingData: 'notBreaching' });
  });

  it('a silent refresher breaches: no completed run in three intervals, and missing data counts as breaching', () => {
    expect(alarm('RefresherSilent')).toMatchObject({
      Namespace: 'LongPortTokenBroker',
      MetricName: 'AccountsDue',
      Statistic: 'SampleCount',
      Period: 900,
      ComparisonOperator: 'LessThanThreshold',
      Threshold: 1,
      TreatMissingData: 'breaching',
    });
  });

  it('the reauth mailbox alarms on its oldest message and its depth, never on messages sent', () => {
    const mailbox = logicalId(template, 'AWS::SQS::Queue', 'BrokerEventsReauthRequiredMailbox');
    expect(alarm('ReauthMailboxAge')).toMatchObject({
      Namespace: 'AWS/SQS',
      MetricName: 'ApproximateAgeOfOldestMessage',
      Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [mailbox, 'QueueName'] } }],
      Threshold: THRESHOLDS.reauthMailboxAgeS,
    });
    expect(alarm('ReauthMailboxDepth')).toMatchObject({ MetricName: 'ApproximateNumberOfMessagesVisible', Threshold: THRESHOLDS.reauthMailboxDepth });
    for (const a of Object.values(alarms)) expect(JSON.stringify(a.Properties)).not.toContain('NumberOfMessagesSent');
  });

  it('dead letters: any visible message in the dead-letter queue', () => {
    const dlq = logicalId(template, 'AWS::SQS::Queue', 'BrokerDeadLettersQueue');
    expect(alarm('DeadLetters')).toMatchObject({
      Namespace: 'AWS/SQS',
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [dlq, 'QueueName'] } }],
      Threshold: 1,
    });
  });

  it('events that failed to publish or were dropped alarm (event.publish_failed is a metric)', () => {
    expect(metricsOf(alarm('EventsLost')).map((m) => m.MetricName).sort()).toEqual(['EventsDropped', 'EventsPublishFailed']);
  });

  it('DynamoDB throttles (table and indexes) and system errors alarm', () => {
    expect(metricsOf(alarm('TableThrottled')).map((m) => m.MetricName).sort()).toEqual(['ReadThrottleEvents', 'WriteThrottleEvents', 'WriteThrottleEvents', 'WriteThrottleEvents']);
    const ops = metricsOf(alarm('TableErrors')).map((m) => JSON.stringify(m.Dimensions));
    for (const op of ['GetItem', 'PutItem', 'UpdateItem', 'DeleteItem', 'Query', 'TransactWriteItems']) expect(ops.some((d) => d.includes(`"${op}"`)), op).toBe(true);
    expect(ops.some((d) => d.includes('ConditionCheckItem'))).toBe(false);
    expect(alarm('StoreUnavailable')).toMatchObject({ MetricName: 'StoreUnavailable', Threshold: THRESHOLDS.storeUnavailable });
  });

  it.each(HTTP)('the %s function alarms on 5xx of every route it serves (from ROUTES), its crashes and time-outs', (fn) => {
    const a = alarm(`${cap(fn)}5xx`);
    const routes = metricsOf(a).filter((m) => m.MetricName === 'ServerErrors').map((m) => (m.Dimensions as { Value: string }[])[0]!.Value);
    expect(routes.sort()).toEqual(ROUTES.filter((r) => r.fn === fn).map(routeKey).sort());
    expect(metricsOf(a).filter((m) => m.Namespace === 'AWS/Lambda').map((m) => m.MetricName)).toEqual(['Errors']);
    expect(a.Threshold).toBe(THRESHOLDS.function5xx);
  });

  it('the API as a whole alarms on API Gateway\'s own 5xx count', () => {
    expect(alarm('Api5xx')).toMatchObject({ Namespace: 'AWS/ApiGateway', MetricName: '5xx', Threshold: THRESHOLDS.api5xx });
  });

  it('callback failures (linking broken) and KMS throttling alarm', () => {
    expect(alarm('CallbackFailures')).toMatchObject({ Namespace: 'LongPortTokenBroker', MetricName: 'CallbackFailed', Period: 900 });
    expect(alarm('KmsThrottled')).toMatchObject({ Namespace: 'LongPortTokenBroker', MetricName: 'KmsThrottled' });
  });

  it('every broker metric an alarm reads is in the catalogue of lib/metrics.ts', () => {
    for (const a of Object.values(alarms)) {
      for (const m of metricsOf(a.Properties!)) if (m.Namespace === 'LongPortTokenBroker') expect(Object.keys(METRICS)).toContain(m.MetricName);
    }
  });

  it('a change of the key policy or its grants notifies the topic (CloudTrail through EventBridge)', () => {
    template.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: {
        source: ['aws.kms'],
        'detail-type': ['AWS API Call via CloudTrail'],
        detail: Match.objectLike({ eventName: Match.arrayWith(['PutKeyPolicy', 'CreateGrant', 'ScheduleKeyDeletion']) }),
      },
      Targets: [Match.objectLike({ Arn: { Ref: topicId } })],
    });
  });

  it('docs/deploy.md has a runbook line for every alarm', () => {
    const docs = readFileSync(join(PROJECT_ROOT, 'docs', 'deploy.md'), 'utf8');
    for (const name of [...EXPECTED, 'KeyPolicyChanged']) expect(docs, name).toMatch(new RegExp(`^\\| \`${name}\` \\|`, 'm'));
  });
});

describe('metric filters', () => {
  it('count requests, 5xx and latency per route from the API access log', () => {
    const logs = logicalId(template, 'AWS::Logs::LogGroup', 'BrokerHttpAccessLogs');
    for (const [name, value] of [['Requests', '1'], ['ServerErrors', '1'], ['Latency', '$.responseLatency']]) {
      template.hasResourceProperties('AWS::Logs::MetricFilter', {
        LogGroupName: { Ref: logs },
        MetricTransformations: [Match.objectLike({ MetricNamespace: 'LongPortTokenBroker', MetricName: name, MetricValue: value, Dimensions: [{ Key: 'route', Value: '$.routeKey' }] })],
      });
    }
    template.hasResourceProperties('AWS::Logs::MetricFilter', { FilterPattern: '{ ($.routeKey = "*") && ($.status >= 500) }' });
  });

  it('count token reads by cache outcome from the token function\'s http.access lines', () => {
    template.hasResourceProperties('AWS::Logs::MetricFilter', {
      LogGroupName: { Ref: logicalId(template, 'AWS::Logs::LogGroup', 'BrokerTokenFunctionLogs') },
      FilterPattern: '{ ($.event = "http.access") && ($.cache = "*") }',
      MetricTransformations: [Match.objectLike({ MetricName: 'TokenReads', Dimensions: [{ Key: 'cache', Value: '$.cache' }] })],
    });
  });
});

describe('dashboard', () => {
  const [dashboard] = Object.values(resourcesOf(template, 'AWS::CloudWatch::Dashboard'));
  const body = JSON.stringify(dashboard!.Properties!.DashboardBody);

  it('is one dashboard named after the stack', () => {
    expect(Object.keys(resourcesOf(template, 'AWS::CloudWatch::Dashboard'))).toHaveLength(1);
    expect(dashboard!.Properties!.DashboardName).toBe('Broker');
  });

  it.each(DASHBOARD_WIDGETS)('shows "%s"', (title) => {
    expect(body).toContain(JSON.stringify(title).slice(1, -1));
  });

  it('token reads: rate, latency p50 and p99 and the cache hit ratio', () => {
    expect(body).toContain('GET /v1/tenants/{tenant}/accounts/{account}/token');
    expect(body).toMatch(/\\"stat\\":\\"p50\\"/);
    expect(body).toMatch(/\\"stat\\":\\"p99\\"/);
    expect(body).toContain('100 * FILL(hit, 0)');
  });

  it('refreshes by reason, DynamoDB capacity and Lambda concurrency', () => {
    expect(body).toContain('MetricName=\\\\\\"RefreshFailedByReason\\\\\\"');
    expect(body).toContain('ConsumedReadCapacityUnits');
    expect(body).toContain('ConcurrentExecutions');
    expect(body).toContain('AccountsNeedReauth');
  });
});
