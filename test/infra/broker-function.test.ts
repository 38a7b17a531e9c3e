import { describe, expect, it } from 'vitest';
import { FUNCTIONS } from '../../infra/token-broker.js';
import { actionsOf, defaultBroker, grantedActions, logicalId, resourcesOf, resourcesOfStatement, roleStatements, synthBroker } from './support.js';

const { template } = defaultBroker();
const functions = resourcesOf(template, 'AWS::Lambda::Function');
const NAMES = ['register', 'authorize', 'callback', 'token', 'refresh', 'accounts', 'meta', 'refresher'] as const;
const cap = (n: string) => `${n[0]!.toUpperCase()}${n.slice(1)}`;
const fnOf = (name: string) => functions[logicalId(template, 'AWS::Lambda::Function', `Broker${cap(name)}Function`)]!;

/**
 * What each role holds is what FUNCTIONS (the one place a function's permissions are written)
 * binds, with the exact action names; whether each of those is an action the code sends is the
 * check in test/permissions, against the AWS commands recorded across the whole suite.
 */
const boundBy = (name: (typeof NAMES)[number]): string[] => {
  const spec = FUNCTIONS[name];
  return [
    ...(spec.table ?? []).map((a) => `dynamodb:${a}`),
    ...(spec.dueIndexQuery || spec.auditIndexQuery ? ['dynamodb:Query'] : []),
    ...(spec.key ?? []).map((a) => `kms:${a}`),
    ...(spec.events ? ['events:PutEvents'] : []),
  ];
};
/** The refresher's failed async runs go to the dead-letter queue (a Lambda destination, not its code). */
const PLATFORM: Partial<Record<(typeof NAMES)[number], string[]>> = { refresher: ['sqs:GetQueueAttributes', 'sqs:GetQueueUrl', 'sqs:SendMessage'] };
/** Granted to every function by the function construct itself. */
const BASELINE = ['logs:CreateLogStream', 'logs:PutLogEvents'];

describe('BrokerFunction', () => {
  it('there is one function per entry in functions/ (and no other)', () => {
    expect(Object.keys(functions)).toHaveLength(NAMES.length);
    expect(Object.keys(FUNCTIONS).sort()).toEqual([...NAMES].sort());
  });

  it.each(NAMES)('%s runs Node.js 24 on arm64 with JSON logs in its own log group, untraced by default', (name) => {
    const p = fnOf(name).Properties!;
    expect(p.Runtime).toBe('nodejs24.x');
    expect(p.Architectures).toEqual(['arm64']);
    expect(p.TracingConfig).toBeUndefined();
    expect(p.LoggingConfig.LogFormat).toBe('JSON');
    expect(p.LoggingConfig.LogGroup.Ref).toMatch(new RegExp(`^Broker${cap(name)}FunctionLogs`));
  });

  it('with tracing on, every function traces actively and may send traces', () => {
    const { template: t } = synthBroker({ tracing: true });
    for (const fn of Object.values(resourcesOf(t, 'AWS::Lambda::Function'))) expect(fn.Properties!.TracingConfig).toEqual({ Mode: 'Active' });
    for (const actions of Object.values(grantedActions(t))) expect(actions).toEqual(expect.arrayContaining(['xray:PutTelemetryRecords', 'xray:PutTraceSegments']));
  });

  it('every function log group has a retention (one month by default), survives the stack, and goes when the first deploy fails', () => {
    const groups = Object.entries(resourcesOf(template, 'AWS::Logs::LogGroup')).filter(([id]) => /Function/.test(id));
    expect(groups).toHaveLength(NAMES.length);
    for (const [, g] of groups) expect(g.Properties!.RetentionInDays).toBe(30);
    for (const [id] of groups) template.hasResource('AWS::Logs::LogGroup', { DeletionPolicy: 'RetainExceptOnCreate', UpdateReplacePolicy: 'Retain', Properties: resourcesOf(template, 'AWS::Logs::LogGroup')[id]!.Properties });
  });

  it('no function sets NODE_OPTIONS (source maps are not shipped, so nothing pays to enable them)', () => {
    for (const name of NAMES) expect(fnOf(name).Properties!.Environment.Variables.NODE_OPTIONS).toBeUndefined();
  });

  it("every function that talks to AWS (a table, the key or the bus) has the broker's AWS SDK layer, for its runtime and architecture; meta has none", () => {
    const layers = resourcesOf(template, 'AWS::Lambda::LayerVersion');
    const [layerId, layer] = Object.entries(layers)[0]!;
    const withLayer = NAMES.filter((name) => (fnOf(name).Properties!.Layers as unknown[] | undefined)?.some((l) => JSON.stringify(l) === JSON.stringify({ Ref: layerId })));

    expect(Object.keys(layers)).toHaveLength(1);
    expect(layer.Properties).toMatchObject({ CompatibleRuntimes: [fnOf('token').Properties!.Runtime], CompatibleArchitectures: fnOf('token').Properties!.Architectures });
    expect(withLayer).toEqual(NAMES.filter((name) => boundBy(name).length > 0));
    expect(withLayer).not.toContain('meta');
    expect(fnOf('meta').Properties!.Layers).toBeUndefined();
  });

  it.each([
    ['register', 28],
    ['authorize', 10],
    ['callback', 15],
    // a pending commit after the answer: the lease's commit window
    ['token', 45],
    ['refresh', 45],
    ['accounts', 15],
    ['meta', 5],
    ['refresher', 300],
  ] as const)('%s has a timeout fitted to its job (%i s) and 256-512 MB', (name, seconds) => {
    const p = fnOf(name).Properties!;
    expect(p.Timeout).toBe(seconds);
    expect(p.MemorySize).toBeGreaterThanOrEqual(256);
    expect(p.MemorySize).toBeLessThanOrEqual(512);
  });

  it('no function reserves concurrency by default: a new account has a concurrency quota of 10 and Lambda keeps 10 unreserved', () => {
    for (const name of NAMES) expect(fnOf(name).Properties!.ReservedConcurrentExecutions).toBeUndefined();
  });

  it('the refresher reserves concurrency when asked, and only the refresher', () => {
    const { template: t } = synthBroker({ refresherConcurrency: 2 });
    const reserved = Object.entries(resourcesOf(t, 'AWS::Lambda::Function')).filter(([, f]) => f.Properties!.ReservedConcurrentExecutions !== undefined);
    expect(reserved.map(([id, f]) => [id.replace(/[0-9A-F]{8}$/, ''), f.Properties!.ReservedConcurrentExecutions])).toEqual([['BrokerRefresherFunction', 2]]);
  });

  it.each(NAMES)('%s gets the settings the handlers read (lib/config.ts) and no POWERTOOLS_* variable', (name) => {
    const env = fnOf(name).Properties!.Environment.Variables;
    expect(env).toMatchObject({
      BROKER_MODE: 'aws',
      LONGPORT_ISSUER: 'https://openapi.longportapp.com',
      LONGPORT_ISSUER_CN: 'https://openapi.longportapp.cn',
      BROKER_REGIONS: 'global,cn',
      BROKER_AUDIT_DAYS: '90',
      BROKER_REFRESH_HORIZON_S: '900',
    });
    expect(Object.keys(env).filter((k) => k.startsWith('POWERTOOLS_'))).toEqual([]);
    // the HTTP API's own URL: the function refers to the API, the API's routes refer to the function
    expect(env.BROKER_PUBLIC_URL).toEqual({ 'Fn::GetAtt': [logicalId(template, 'AWS::ApiGatewayV2::Api', 'BrokerHttpApi'), 'ApiEndpoint'] });
  });

  it.each(NAMES)('%s holds the name of the table, key and bus exactly when it holds permissions on them (bind…)', (name) => {
    const env = fnOf(name).Properties!.Environment.Variables;
    const actions = grantedActions(template)[name];
    const has = (prefix: string) => actions.some((a) => a.startsWith(prefix));
    expect(env.BROKER_TABLE_NAME === undefined).toBe(!has('dynamodb:'));
    expect(env.BROKER_KMS_KEY_ID === undefined).toBe(!has('kms:'));
    expect(env.BROKER_EVENT_BUS_NAME === undefined).toBe(!has('events:'));
    if (env.BROKER_TABLE_NAME) expect(env.BROKER_TABLE_NAME).toEqual({ Ref: logicalId(template, 'AWS::DynamoDB::Table', 'BrokerTable') });
    if (env.BROKER_KMS_KEY_ID) expect(env.BROKER_KMS_KEY_ID).toEqual({ 'Fn::GetAtt': [logicalId(template, 'AWS::KMS::Key', 'BrokerKey'), 'Arn'] });
    if (env.BROKER_EVENT_BUS_NAME) expect(env.BROKER_EVENT_BUS_NAME).toEqual({ Ref: logicalId(template, 'AWS::Events::EventBus', 'BrokerEventsBus') });
  });

  it.each(NAMES)('%s holds exactly the actions FUNCTIONS binds to it (and the platform\'s)', (name) => {
    const expected = [...new Set([...boundBy(name), ...(PLATFORM[name] ?? [])])].sort();

    expect(grantedActions(template)[name].filter((a) => !BASELINE.includes(a))).toEqual(expected);
  });

  it("grantedActions without the platform actions is what each function's code may send", () => {
    const code = grantedActions(template, { code: true });

    for (const name of NAMES) expect(code[name]).toEqual([...new Set(boundBy(name))].sort());
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

  it('no identity policy names a "*" resource (tracing is off; with it on, X-Ray is the only one)', () => {
    const { template: traced } = synthBroker({ tracing: true });
    for (const policy of Object.values(resourcesOf(template, 'AWS::IAM::Policy'))) {
      for (const s of policy.Properties!.PolicyDocument.Statement) expect(JSON.stringify(s.Resource)).not.toContain('"*"');
    }
    for (const policy of Object.values(resourcesOf(traced, 'AWS::IAM::Policy'))) {
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
    expect(puts.length).toBe(7);
    for (const s of puts) {
      expect(s.Resource).toEqual({ 'Fn::GetAtt': [bus, 'Arn'] });
      expect(s.Condition).toEqual({ StringEquals: { 'events:source': 'longport-token-broker' } });
    }
  });
});
