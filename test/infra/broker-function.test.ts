import { describe, expect, it } from 'vitest';
import { FUNCTIONS } from '../../infra/token-broker.js';
import { actionsOf, defaultBroker, logicalId, resourcesOf, resourcesOfStatement, roleStatements } from './support.js';

const { template } = defaultBroker();
const functions = resourcesOf(template, 'AWS::Lambda::Function');
const NAMES = ['register', 'authorize', 'callback', 'token', 'refresh', 'accounts', 'meta', 'refresher'] as const;
const cap = (n: string) => `${n[0]!.toUpperCase()}${n.slice(1)}`;
const fnOf = (name: string) => functions[logicalId(template, 'AWS::Lambda::Function', `Broker${cap(name)}Function`)]!;

/**
 * What each function may do, written out here rather than read from FUNCTIONS, so that widening a
 * grant in the stack fails this test until the table below is changed too.
 */
const EXPECTED_ACTIONS: Record<(typeof NAMES)[number], string[]> = {
  register: ['dynamodb:DeleteItem', 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:Query', 'dynamodb:UpdateItem', 'events:PutEvents', 'kms:Decrypt', 'kms:GenerateDataKey'],
  authorize: ['dynamodb:DeleteItem', 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'kms:GenerateDataKey'],
  callback: ['dynamodb:DeleteItem', 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'events:PutEvents', 'kms:Decrypt', 'kms:GenerateDataKey'],
  token: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:Query', 'dynamodb:UpdateItem', 'events:PutEvents', 'kms:Decrypt', 'kms:GenerateDataKey'],
  refresh: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:Query', 'dynamodb:UpdateItem', 'events:PutEvents', 'kms:Decrypt', 'kms:GenerateDataKey'],
  accounts: ['dynamodb:DeleteItem', 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:Query', 'dynamodb:UpdateItem', 'events:PutEvents', 'kms:Decrypt'],
  meta: [],
  refresher: [
    'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:Query', 'dynamodb:UpdateItem', 'events:PutEvents', 'kms:Decrypt', 'kms:GenerateDataKey',
    // the refresher's failed async runs go to the dead-letter queue (Lambda destination)
    'sqs:GetQueueAttributes', 'sqs:GetQueueUrl', 'sqs:SendMessage',
  ],
};
/** Granted to every function by the function construct itself. */
const BASELINE = ['logs:CreateLogStream', 'logs:PutLogEvents', 'xray:PutTelemetryRecords', 'xray:PutTraceSegments'];

describe('BrokerFunction', () => {
  it('there is one function per entry in functions/ (and no other)', () => {
    expect(Object.keys(functions)).toHaveLength(NAMES.length);
    expect(Object.keys(FUNCTIONS).sort()).toEqual([...NAMES].sort());
  });

  it.each(NAMES)('%s runs Node.js 24 on arm64 with active tracing and JSON logs in its own log group', (name) => {
    const p = fnOf(name).Properties!;
    expect(p.Runtime).toBe('nodejs24.x');
    expect(p.Architectures).toEqual(['arm64']);
    expect(p.TracingConfig).toEqual({ Mode: 'Active' });
    expect(p.LoggingConfig.LogFormat).toBe('JSON');
    expect(p.LoggingConfig.LogGroup.Ref).toMatch(new RegExp(`^Broker${cap(name)}FunctionLogs`));
  });

  it('every function log group has a retention (one month by default) and is retained', () => {
    const groups = Object.entries(resourcesOf(template, 'AWS::Logs::LogGroup')).filter(([id]) => /Function/.test(id));
    expect(groups).toHaveLength(NAMES.length);
    for (const [, g] of groups) expect(g.Properties!.RetentionInDays).toBe(30);
    template.allResources('AWS::Logs::LogGroup', { DeletionPolicy: 'Retain' });
  });

  it.each([
    ['register', 28],
    ['authorize', 10],
    ['callback', 15],
    ['token', 10],
    ['refresh', 10],
    ['accounts', 15],
    ['meta', 5],
    ['refresher', 300],
  ] as const)('%s has a timeout fitted to its job (%i s) and 256-512 MB', (name, seconds) => {
    const p = fnOf(name).Properties!;
    expect(p.Timeout).toBe(seconds);
    expect(p.MemorySize).toBeGreaterThanOrEqual(256);
    expect(p.MemorySize).toBeLessThanOrEqual(512);
  });

  it('the refresher has reserved concurrency 2; no other function reserves any', () => {
    for (const name of NAMES) {
      expect(fnOf(name).Properties!.ReservedConcurrentExecutions).toBe(name === 'refresher' ? 2 : undefined);
    }
  });

  it.each(NAMES)('%s gets the environment the handlers read (lib/config.ts)', (name) => {
    const env = fnOf(name).Properties!.Environment.Variables;
    expect(env).toMatchObject({
      BROKER_MODE: 'aws',
      LONGPORT_ISSUER: 'https://openapi.longportapp.com',
      LONGPORT_ISSUER_CN: 'https://openapi.longportapp.cn',
      BROKER_REGIONS: 'global,cn',
      BROKER_AUDIT_DAYS: '90',
      BROKER_REFRESH_HORIZON_S: '900',
      POWERTOOLS_SERVICE_NAME: 'longport-token-broker',
      POWERTOOLS_METRICS_NAMESPACE: 'LongPortTokenBroker',
    });
    expect(env.BROKER_TABLE_NAME).toEqual({ Ref: logicalId(template, 'AWS::DynamoDB::Table', 'BrokerTable') });
    expect(env.BROKER_KMS_KEY_ID).toEqual({ 'Fn::GetAtt': [logicalId(template, 'AWS::KMS::Key', 'BrokerKey'), 'Arn'] });
    expect(env.BROKER_EVENT_BUS_NAME).toEqual({ Ref: logicalId(template, 'AWS::Events::EventBus', 'BrokerEventsBus') });
    // the HTTP API's own URL: the function refers to the API, the API's routes refer to the function
    expect(env.BROKER_PUBLIC_URL).toEqual({ 'Fn::GetAtt': [logicalId(template, 'AWS::ApiGatewayV2::Api', 'BrokerHttpApi'), 'ApiEndpoint'] });
  });

  it.each(NAMES)('%s is granted exactly the actions it needs', (name) => {
    const actions = roleStatements(template, `Broker${cap(name)}FunctionRole`).flatMap(actionsOf);
    expect(actions.filter((a) => !BASELINE.includes(a)).sort()).toEqual(EXPECTED_ACTIONS[name]);
  });

  it('no function role uses an AWS managed policy', () => {
    for (const [id, role] of Object.entries(resourcesOf(template, 'AWS::IAM::Role'))) {
      if (id.startsWith('Broker')) expect(role.Properties!.ManagedPolicyArns).toBeUndefined();
    }
  });

  it('each function may write to its own log group only', () => {
    for (const name of NAMES) {
      const logs = roleStatements(template, `Broker${cap(name)}FunctionRole`).filter((s) => actionsOf(s).some((a) => a.startsWith('logs:')));
      expect(logs).toHaveLength(1);
      expect(logs[0]!.Resource).toEqual({ 'Fn::GetAtt': [logicalId(template, 'AWS::Logs::LogGroup', `Broker${cap(name)}FunctionLogs`), 'Arn'] });
    }
  });

  it('no IAM statement anywhere has a wildcard action', () => {
    for (const policy of Object.values(resourcesOf(template, 'AWS::IAM::Policy'))) {
      for (const s of policy.Properties!.PolicyDocument.Statement) {
        for (const a of actionsOf(s)) expect(a).not.toContain('*');
      }
    }
  });

  it('the only "*" resource is X-Ray tracing, which has no resource-level permissions', () => {
    for (const policy of Object.values(resourcesOf(template, 'AWS::IAM::Policy'))) {
      for (const s of policy.Properties!.PolicyDocument.Statement) {
        const resources = resourcesOfStatement(s);
        if (resources.some((r) => typeof r === 'string' && r.includes('*'))) {
          expect(resources).toEqual(['*']);
          expect(actionsOf(s).sort()).toEqual(['xray:PutTelemetryRecords', 'xray:PutTraceSegments']);
        }
      }
    }
  });

  it('events:PutEvents is allowed on the broker bus with source longport-token-broker only', () => {
    const bus = logicalId(template, 'AWS::Events::EventBus', 'BrokerEventsBus');
    const puts = Object.values(resourcesOf(template, 'AWS::IAM::Policy'))
      .flatMap((p) => p.Properties!.PolicyDocument.Statement)
      .filter((s) => actionsOf(s).includes('events:PutEvents'));
    expect(puts.length).toBe(6);
    for (const s of puts) {
      expect(s.Resource).toEqual({ 'Fn::GetAtt': [bus, 'Arn'] });
      expect(s.Condition).toEqual({ StringEquals: { 'events:source': 'longport-token-broker' } });
    }
  });
});
