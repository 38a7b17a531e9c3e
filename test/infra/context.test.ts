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
      'broker:alarmEmail': 'oncall@example.com',
      'broker:throttleRate': '30',
      'broker:tokenThrottleBurst': '2000',
      'broker:refresherConcurrency': '2',
      'broker:logRetentionDays': '90',
      'broker:tracing': 'active',
      'broker:permissionsBoundaryArn': 'arn:aws:iam::111122223333:policy/boundary',
      'broker:existingTableName': 'LongPortTokenBroker-tokens-restored',
      'broker:existingKeyArn': 'arn:aws:kms:eu-west-1:111122223333:key/abc',
      'broker:keyAdminArns': 'arn:aws:iam::111122223333:role/a,arn:aws:iam::111122223333:role/b',
      'broker:breakGlassRoleArn': 'arn:aws:iam::111122223333:role/glass',
      'broker:tags': 'team=platform, cost-center=42',
    });
    expect(stackName).toBe('BrokerStaging');
    expect(props).toEqual({
      regions: ['global'],
      refreshIntervalMinutes: 2,
      customDomain: { domainName: 'broker.example.com', certificateArn: 'arn:aws:acm:eu-west-1:111122223333:certificate/abc' },
      alarmTopicArn: 'arn:aws:sns:eu-west-1:111122223333:ops',
      alarmEmail: 'oncall@example.com',
      throttles: { v1: { rateLimit: 30, burstLimit: 40 }, token: { rateLimit: 500, burstLimit: 2000 } },
      refresherConcurrency: 2,
      logRetention: logs.RetentionDays.THREE_MONTHS,
      tracing: true,
      permissionsBoundaryArn: 'arn:aws:iam::111122223333:policy/boundary',
      existingTableName: 'LongPortTokenBroker-tokens-restored',
      existingKeyArn: 'arn:aws:kms:eu-west-1:111122223333:key/abc',
      keyAdminArns: ['arn:aws:iam::111122223333:role/a', 'arn:aws:iam::111122223333:role/b'],
      breakGlassRoleArn: 'arn:aws:iam::111122223333:role/glass',
      tags: { team: 'platform', 'cost-center': '42' },
    });
  });

  it('refresherConcurrency "none" reserves nothing (the default)', () => {
    expect(read({ 'broker:refresherConcurrency': 'none' }).props).toEqual({});
  });

  it.each([
    [{ 'broker:refreshIntervalMinutes': 'five' }, /broker:refreshIntervalMinutes must be a whole number/],
    [{ 'broker:domainName': 'broker.example.com' }, /go together/],
    [{ 'broker:logRetentionDays': '31' }, /not a CloudWatch Logs retention/],
    [{ 'broker:tracing': 'yes' }, /broker:tracing must be "active" or "off"/],
    [{ 'broker:existingKeyArn': 'alias/broker' }, /broker:existingKeyArn must be an kms ARN/],
    [{ 'broker:keyAdminArns': 'admins' }, /"admins" is not an ARN/],
    [{ 'broker:tags': 'team' }, /"team" is not key=value/],
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

  it('a permissions boundary from context is set on every role the stack creates', () => {
    const boundary = 'arn:aws:iam::111122223333:policy/boundary';
    const { template } = synthBroker({ permissionsBoundaryArn: boundary });
    const roles = Object.values(template.findResources('AWS::IAM::Role'));
    expect(roles.length).toBeGreaterThan(8);
    for (const r of roles) expect(r.Properties.PermissionsBoundary).toBe(boundary);
  });

  it('every resource that takes tags carries the application tag, the stack name and the operator\'s tags', () => {
    const { template } = synthBroker({ tags: { team: 'platform' } });
    for (const type of ['AWS::DynamoDB::Table', 'AWS::KMS::Key', 'AWS::Lambda::Function', 'AWS::SQS::Queue', 'AWS::Logs::LogGroup']) {
      for (const r of Object.values(template.findResources(type))) {
        expect(r.Properties.Tags, type).toEqual(
          expect.arrayContaining([
            { Key: 'application', Value: 'longport-token-broker' },
            { Key: 'broker-stack', Value: 'Broker' },
            { Key: 'team', Value: 'platform' },
          ]),
        );
      }
    }
  });
});
