import { App, Stack, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { describe, expect, it } from 'vitest';
import { BrokerStack } from '../../infra/broker-stack.js';
import { addSecurityChecks } from '../../infra/security-checks.js';
import { cdkJsonContext, STUB_CODE } from './support.js';

/** The app as infra/app.ts builds it, with every optional feature on. */
function brokerApp(): { app: App; stack: BrokerStack } {
  const app = new App({ context: cdkJsonContext() });
  const stack = new BrokerStack(app, 'Broker', {
    code: STUB_CODE,
    customDomain: { domainName: 'broker.example.com', certificateArn: 'arn:aws:acm:eu-west-1:111122223333:certificate/abc' },
    alarmTopicArn: 'arn:aws:sns:eu-west-1:111122223333:ops',
    tracing: true,
    refresherConcurrency: 2,
    permissionsBoundaryArn: 'arn:aws:iam::111122223333:policy/boundary',
    keyAdminArns: ['arn:aws:iam::111122223333:role/kms-admins'],
  });
  addSecurityChecks(app);
  return { app, stack };
}

/** Every `{ id: reason }` acknowledged anywhere in the tree. */
function acknowledgements(root: IConstruct): { path: string; id: string; reason: string }[] {
  return root.node.findAll().flatMap((c) =>
    c.node.metadata
      .filter((m) => m.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
      .flatMap((m) =>
        Object.entries(m.data as Record<string, string>).map(([id, reason]) => ({ path: c.node.path, id: id.replace(/^annotation::/i, ''), reason })),
      ),
  );
}

const { app, stack } = brokerApp();

describe('cdk-nag AwsSolutions', () => {
  it('reports zero unacknowledged findings, errors or warnings (every optional feature on)', () => {
    const report = new AwsSolutionsChecks(undefined, { verbose: true }).validateScope(stack);
    expect(report.violations.map((v) => `${v.ruleName} ${v.violatingResources.map((r) => r.constructPath).join(', ')}`)).toEqual([]);
  });

  it('reports zero findings for the default stack, too; its own alarm topic is the one more acknowledgement', () => {
    const plain = new BrokerStack(new App({ context: cdkJsonContext() }), 'Broker', { code: STUB_CODE });
    expect(new AwsSolutionsChecks(undefined).validateScope(plain).violations).toEqual([]);
    expect(acknowledgements(plain).map((a) => a.id).filter((id) => !id.startsWith('AwsSolutions-APIG4') && id !== 'AwsSolutions-SQS3')).toEqual(['AwsSolutions-SNS2']);
  });

  it('reports zero findings for a stack on an existing table and key', () => {
    const adopted = new BrokerStack(new App({ context: cdkJsonContext() }), 'Broker', {
      code: STUB_CODE,
      existingTableName: 'LongPortTokenBroker-tokens',
      existingKeyArn: 'arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab',
    });
    expect(new AwsSolutionsChecks(undefined).validateScope(adopted).violations).toEqual([]);
  });

  it('acknowledges exactly these findings, each with a specific reason', () => {
    const byRule: Record<string, number> = {};
    for (const a of acknowledgements(stack)) {
      byRule[a.id] = (byRule[a.id] ?? 0) + 1;
      expect(a.reason.length, `${a.id} at ${a.path}`).toBeGreaterThan(60);
    }
    expect(byRule).toEqual({
      // one per public route: /oauth/authorize, /oauth/callback, /healthz, /openapi.json
      'AwsSolutions-APIG4': 4,
      // the queue that is the DLQ, and the operator mailbox no code consumes
      'AwsSolutions-SQS3': 2,
      // X-Ray's resource "*" on each of the 8 function roles (tracing is on here; off by default)
      'AwsSolutions-IAM5[Resource::*]': 8,
    });
  });

  it('grants made with the helpers keep the gate green: their * is acknowledged as the {account} / {tenant} segment', () => {
    const granted = new BrokerStack(new App({ context: cdkJsonContext() }), 'Broker', { code: STUB_CODE });
    const orders = new iam.Role(granted, 'OrdersService', { assumedBy: new iam.AccountRootPrincipal() });
    granted.broker.grantTokenRead(orders, 'acme');
    granted.broker.grantAdmin(iam.Role.fromRoleArn(granted, 'AcmeBackend', 'arn:aws:iam::111122223333:role/acme-backend'), 'acme');
    granted.broker.grantAdmin(iam.Role.fromRoleArn(granted, 'Platform', 'arn:aws:iam::111122223333:role/platform'));
    expect(new AwsSolutionsChecks(undefined).validateScope(granted).violations).toEqual([]);

    const forOrders = acknowledgements(orders).map((a) => a.id);
    expect(forOrders).toHaveLength(2);
    expect(forOrders.every((id) => /^AwsSolutions-IAM5\[Resource::arn:.*\/\$default\/(GET|POST)\/v1\/tenants\/acme\/accounts\/\*\/(token|refresh)\]$/.test(id))).toBe(true);
  });

  it('those acknowledgements are narrow: another wildcard on the same role is still reported', () => {
    const granted = new BrokerStack(new App({ context: cdkJsonContext() }), 'Broker', { code: STUB_CODE });
    const orders = new iam.Role(granted, 'OrdersService', { assumedBy: new iam.AccountRootPrincipal() });
    granted.broker.grantTokenRead(orders, 'acme');
    orders.addToPolicy(new iam.PolicyStatement({ actions: ['execute-api:Invoke'], resources: ['*'] }));
    const violations = new AwsSolutionsChecks(undefined).validateScope(granted).violations;
    expect(violations.map((v) => v.ruleName)).toEqual(['AwsSolutions-IAM5[Resource::*]']);
    expect(violations[0]!.violatingResources.map((r) => r.constructPath)).toEqual(['Broker/OrdersService/DefaultPolicy/Resource']);
  });

  it('synthesis fails on an unacknowledged finding (the gate works)', () => {
    const gated = new App();
    new sqs.Queue(new Stack(gated, 'Plain'), 'Unencrypted', { encryption: sqs.QueueEncryption.UNENCRYPTED });
    addSecurityChecks(gated);
    expect(() => gated.synth()).toThrow(/AwsSolutions-SQS2/);
  });

  it('the full app synthesizes with the checks on, and each resource carries its acknowledgements and reasons', () => {
    const template = app.synth().getStackByName(stack.stackName).template as {
      Resources: Record<string, { Type: string; Metadata?: { cdk_nag?: { rules_to_suppress: { id: string; reason: string }[] } } }>;
    };
    const written = Object.values(template.Resources).flatMap((r) => (r.Metadata?.cdk_nag?.rules_to_suppress ?? []).map((w) => ({ type: r.Type, ...w })));
    const on = (id: string, type: string) => written.filter((w) => w.id === id && w.type === type);
    expect(on('AwsSolutions-APIG4', 'AWS::ApiGatewayV2::Route')).toHaveLength(4);
    expect(on('AwsSolutions-SQS3', 'AWS::SQS::Queue')).toHaveLength(2);
    expect(on('AwsSolutions-IAM5[Resource::*]', 'AWS::IAM::Policy')).toHaveLength(8);
    for (const w of written) expect(w.reason.length).toBeGreaterThan(60);
  }, 120_000);
});
