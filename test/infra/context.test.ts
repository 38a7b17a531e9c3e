import { App } from 'aws-cdk-lib';
import * as logs from 'aws-cdk-lib/aws-logs';
import { describe, expect, it } from 'vitest';
import { brokerContext, DEFAULT_STACK_NAME } from '../../infra/context.js';
import { cdkJsonContext, synthBroker } from './support.js';

const read = (context: Record<string, unknown>) => brokerContext(new App({ context }).node);

describe('operator parameters (CDK context)', () => {
  it('cdk.json holds the documented defaults', () => {
    expect(read(cdkJsonContext())).toEqual({
      stackName: DEFAULT_STACK_NAME,
      props: {
        regions: ['global', 'cn'],
        issuer: 'https://openapi.longportapp.com',
        issuerCn: 'https://openapi.longportapp.cn',
        refreshIntervalMinutes: 5,
        refreshHorizonSeconds: 900,
        auditDays: 90,
        refresherConcurrency: 2,
        logRetention: logs.RetentionDays.ONE_MONTH,
      },
    });
  });

  it('reads -c overrides, which arrive as strings', () => {
    const { stackName, props } = read({
      'broker:stackName': 'BrokerStaging',
      'broker:regions': 'global',
      'broker:refreshIntervalMinutes': '2',
      'broker:domainName': 'broker.example.com',
      'broker:certificateArn': 'arn:aws:acm:eu-west-1:111122223333:certificate/abc',
      'broker:alarmTopicArn': 'arn:aws:sns:eu-west-1:111122223333:ops',
      'broker:throttleRate': '20',
      'broker:refresherConcurrency': 'none',
      'broker:logRetentionDays': '90',
    });
    expect(stackName).toBe('BrokerStaging');
    expect(props).toEqual({
      regions: ['global'],
      refreshIntervalMinutes: 2,
      customDomain: { domainName: 'broker.example.com', certificateArn: 'arn:aws:acm:eu-west-1:111122223333:certificate/abc' },
      alarmTopicArn: 'arn:aws:sns:eu-west-1:111122223333:ops',
      throttle: { rateLimit: 20, burstLimit: 100 },
      refresherConcurrency: undefined,
      logRetention: logs.RetentionDays.THREE_MONTHS,
    });
    expect('refresherConcurrency' in props).toBe(true);
  });

  it.each([
    [{ 'broker:refreshIntervalMinutes': 'five' }, /broker:refreshIntervalMinutes must be a whole number/],
    [{ 'broker:domainName': 'broker.example.com' }, /go together/],
    [{ 'broker:logRetentionDays': '31' }, /not a CloudWatch Logs retention/],
  ])('refuses %j', (context, message) => {
    expect(() => read(context)).toThrow(message);
  });

  it('the chosen regions reach every function', () => {
    const { template } = synthBroker({ regions: ['cn'] });
    for (const fn of Object.values(template.findResources('AWS::Lambda::Function'))) {
      expect(fn.Properties.Environment.Variables.BROKER_REGIONS).toBe('cn');
    }
  });

  it.each([
    [{ regions: [] }, /at least one LongPort region/],
    [{ regions: ['eu' as never] }, /unknown region "eu"/],
    [{ issuer: 'http://openapi.longportapp.com' }, /issuer must be an https URL/],
    [{ issuerCn: 'https://openapi.longportapp.cn/?x=1' }, /issuerCn must be an https URL/],
    [{ refreshHorizonSeconds: 10 }, /refreshHorizonSeconds/],
    [{ auditDays: 0 }, /auditDays/],
  ])('the stack refuses %j', (props, message) => {
    expect(() => synthBroker(props)).toThrow(message);
  });

  it('without reserved concurrency when asked', () => {
    const { template } = synthBroker({ refresherConcurrency: undefined });
    for (const fn of Object.values(template.findResources('AWS::Lambda::Function'))) {
      expect(fn.Properties.ReservedConcurrentExecutions).toBeUndefined();
    }
  });
});
