import { describe, expect, it } from 'vitest';
import { actionsOf, defaultBroker, resourcesOf, roleStatements, type Statement } from './support.js';

const { template } = defaultBroker();
const keys = resourcesOf(template, 'AWS::KMS::Key');
const [keyId, key] = Object.entries(keys)[0]!;

const kmsStatements = (): Statement[] =>
  Object.values(resourcesOf(template, 'AWS::IAM::Policy')).flatMap((p) =>
    (p.Properties!.PolicyDocument.Statement as Statement[]).filter((s) => actionsOf(s).some((a) => a.startsWith('kms:'))),
  );

describe('TokenKey', () => {
  it('is one customer-managed key with automatic rotation', () => {
    expect(Object.keys(keys)).toHaveLength(1);
    expect(key.Properties!.EnableKeyRotation).toBe(true);
  });

  it('is retained, with the longest deletion window', () => {
    template.hasResource('AWS::KMS::Key', { DeletionPolicy: 'Retain' });
    expect(key.Properties!.PendingWindowInDays).toBe(30);
  });

  it('key policy names no wildcard principal', () => {
    const statements = key.Properties!.KeyPolicy.Statement as Statement[];
    for (const s of statements) {
      expect(s.Principal).not.toBe('*');
      expect(JSON.stringify(s.Principal)).not.toMatch(/"\*"/);
    }
  });

  it('key policy delegates to IAM of this account only (the account root principal)', () => {
    const statements = key.Properties!.KeyPolicy.Statement as Statement[];
    expect(statements).toHaveLength(1);
    expect(JSON.stringify(statements[0]!.Principal)).toContain(':root');
  });

  it('every KMS grant is on this key and conditioned on the encryption context {tenant, account, purpose}', () => {
    const grants = kmsStatements();
    expect(grants.length).toBeGreaterThan(0);
    for (const s of grants) {
      expect(s.Resource).toEqual({ 'Fn::GetAtt': [keyId, 'Arn'] });
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

  it('grants only GenerateDataKey and Decrypt, never kms:*', () => {
    const actions = new Set(kmsStatements().flatMap(actionsOf));
    expect([...actions].sort()).toEqual(['kms:Decrypt', 'kms:GenerateDataKey']);
  });

  it('accounts may Decrypt (revocation) but not GenerateDataKey', () => {
    const actions = roleStatements(template, 'BrokerAccountsFunctionRole').flatMap(actionsOf).filter((a) => a.startsWith('kms:'));
    expect(actions).toEqual(['kms:Decrypt']);
  });
});
