import { describe, expect, it } from 'vitest';
import { KEY_USE_ACTIONS } from '../../infra/token-key.js';
import { FUNCTIONS } from '../../infra/token-broker.js';
import type { FunctionName } from '../../infra/routes.js';
import { actionsOf, defaultBroker, keyPolicyStatementsFor, resourcesOf, roleIdOf, roleStatements, synthBroker, type Statement } from './support.js';

const { template } = defaultBroker();
const keys = resourcesOf(template, 'AWS::KMS::Key');
const [, key] = Object.entries(keys)[0]!;
const policy = key.Properties!.KeyPolicy.Statement as Statement[];

const principalsOf = (s: Statement): unknown[] => {
  if (s.Principal === '*') return ['*'];
  const aws = (s.Principal as { AWS?: unknown }).AWS;
  return Array.isArray(aws) ? aws : [aws];
};
const usesKeyMaterial = (s: Statement) => actionsOf(s).some((a) => a === 'kms:*' || a === '*' || (KEY_USE_ACTIONS as readonly string[]).includes(a) || /^kms:(Decrypt|Encrypt|ReEncrypt|GenerateDataKey)/.test(a));
const roleRef = (p: unknown) => (p as { 'Fn::GetAtt'?: [string, string] })['Fn::GetAtt']?.[0] ?? '';
const NAMES = Object.keys(FUNCTIONS) as FunctionName[];

describe('TokenKey', () => {
  it('is one customer-managed key with automatic rotation', () => {
    expect(Object.keys(keys)).toHaveLength(1);
    expect(key.Properties!.EnableKeyRotation).toBe(true);
  });

  it('is retained with the longest deletion window, except when the first deploy fails', () => {
    template.hasResource('AWS::KMS::Key', { DeletionPolicy: 'RetainExceptOnCreate', UpdateReplacePolicy: 'Retain' });
    expect(key.Properties!.PendingWindowInDays).toBe(30);
  });

  it('no key-policy statement lets the account root or any wildcard principal use the key material, nor grants kms:*', () => {
    for (const s of policy) {
      const principals = JSON.stringify(principalsOf(s));
      expect(actionsOf(s)).not.toContain('kms:*');
      expect(actionsOf(s)).not.toContain('*');
      expect(principals).not.toMatch(/"\*"/);
      if (usesKeyMaterial(s)) {
        expect(principals, JSON.stringify(s)).not.toMatch(/:root|AccountId\}:root/);
        for (const p of principalsOf(s)) expect(roleRef(p)).toMatch(/^Broker[A-Z][a-z]+FunctionRole/);
      }
    }
    // CDK's default statement is gone entirely
    expect(JSON.stringify(policy)).not.toContain(':root');
  });

  it('key administrators manage the key but cannot encrypt, decrypt or create grants', () => {
    const admin = policy.find((s) => s.Sid === 'KeyAdministrationWithoutUse')!;
    expect(actionsOf(admin)).toEqual(expect.arrayContaining(['kms:PutKeyPolicy', 'kms:EnableKeyRotation', 'kms:ScheduleKeyDeletion', 'kms:CancelKeyDeletion', 'kms:TagResource']));
    expect(usesKeyMaterial(admin)).toBe(false);
    expect(actionsOf(admin)).not.toContain('kms:CreateGrant');
    expect(actionsOf(admin).every((a) => !a.includes('*'))).toBe(true);
  });

  it('the role CloudFormation deploys with stays a key administrator (lockout safety: every later deploy can update the policy)', () => {
    const admin = policy.find((s) => s.Sid === 'KeyAdministrationWithoutUse')!;
    expect(principalsOf(admin)).toContainEqual({
      'Fn::Sub': 'arn:${AWS::Partition}:iam::${AWS::AccountId}:role/cdk-hnb659fds-cfn-exec-role-${AWS::AccountId}-${AWS::Region}',
    });
  });

  it('a break-glass role is a key administrator: created by the stack (MFA to assume, no other permission) unless one is named', () => {
    const admin = policy.find((s) => s.Sid === 'KeyAdministrationWithoutUse')!;
    const created = Object.entries(resourcesOf(template, 'AWS::IAM::Role')).find(([id]) => id.startsWith('BrokerKeyBreakGlassRole'))!;
    expect(principalsOf(admin).map(roleRef)).toContain(created[0]);
    expect(JSON.stringify(created[1].Properties!.AssumeRolePolicyDocument)).toContain('"aws:MultiFactorAuthPresent":"true"');
    expect(roleStatements(template, 'BrokerKeyBreakGlassRole')).toEqual([]);

    const named = 'arn:aws:iam::111122223333:role/security-break-glass';
    const { template: t } = synthBroker({ breakGlassRoleArn: named, keyAdminArns: ['arn:aws:iam::111122223333:role/kms-admins'] });
    const [k] = Object.values(resourcesOf(t, 'AWS::KMS::Key'));
    const a = (k!.Properties!.KeyPolicy.Statement as Statement[]).find((s) => s.Sid === 'KeyAdministrationWithoutUse')!;
    expect(principalsOf(a)).toEqual(expect.arrayContaining([named, 'arn:aws:iam::111122223333:role/kms-admins']));
    expect(Object.keys(resourcesOf(t, 'AWS::IAM::Role')).some((id) => id.startsWith('BrokerKeyBreakGlassRole'))).toBe(false);
  });

  it('only the broker function roles may use the key, each with exactly the actions its FUNCTIONS entry binds', () => {
    for (const name of NAMES) {
      const actions = keyPolicyStatementsFor(template, roleIdOf(name)).flatMap(actionsOf).sort();
      expect(actions, name).toEqual((FUNCTIONS[name].key ?? []).map((a) => `kms:${a}`).sort());
    }
  });

  it('every use of the key is conditioned on the encryption context {tenant, account, purpose}', () => {
    const uses = policy.filter(usesKeyMaterial);
    expect(uses.length).toBeGreaterThan(0);
    for (const s of uses) {
      expect(s.Condition).toEqual({
        'ForAllValues:StringEquals': { 'kms:EncryptionContextKeys': ['tenant', 'account', 'purpose'] },
        Null: {
          'kms:EncryptionContext:tenant': 'false',
          'kms:EncryptionContext:account': 'false',
          'kms:EncryptionContext:purpose': 'false',
        },
      });
    }
  });

  it('accounts may Decrypt (revocation) but not GenerateDataKey', () => {
    expect(keyPolicyStatementsFor(template, roleIdOf('accounts')).flatMap(actionsOf)).toEqual(['kms:Decrypt']);
  });

  it('no identity policy grants the stack key: the key policy alone decides', () => {
    for (const p of Object.values(resourcesOf(template, 'AWS::IAM::Policy'))) {
      for (const s of p.Properties!.PolicyDocument.Statement as Statement[]) expect(actionsOf(s).some((a) => a.startsWith('kms:'))).toBe(false);
    }
  });

  it('with an existing key, the stack creates none and grants the same actions and conditions as identity policies', () => {
    const arn = 'arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab';
    const { template: t } = synthBroker({ existingKeyArn: arn });
    expect(Object.keys(resourcesOf(t, 'AWS::KMS::Key'))).toHaveLength(0);
    const statements = roleStatements(t, roleIdOf('token')).filter((s) => actionsOf(s).some((a) => a.startsWith('kms:')));
    expect(statements).toHaveLength(1);
    expect(statements[0]!.Resource).toBe(arn);
    expect(actionsOf(statements[0]!).sort()).toEqual(['kms:Decrypt', 'kms:GenerateDataKey']);
    expect(Object.keys(statements[0]!.Condition!)).toEqual(['ForAllValues:StringEquals', 'Null']);
  });
});
