import { Match } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { actionsOf, defaultBroker, resourcesOf, roleIdOf, roleStatements, synthBroker } from './support.js';

const { template } = defaultBroker();

describe('TokenTable', () => {
  it('has the key schema the handlers use: pk (S) and sk (S), TTL attribute ttl', () => {
    template.hasResourceProperties('AWS::DynamoDB::Table', {
      KeySchema: [
        { AttributeName: 'pk', KeyType: 'HASH' },
        { AttributeName: 'sk', KeyType: 'RANGE' },
      ],
      TimeToLiveSpecification: { AttributeName: 'ttl', Enabled: true },
    });
  });

  it('has the refresher index by-refresh-due: dueShard (S), dueAt (N), keys only', () => {
    template.hasResourceProperties('AWS::DynamoDB::Table', {
      AttributeDefinitions: Match.arrayWith([
        { AttributeName: 'dueShard', AttributeType: 'S' },
        { AttributeName: 'dueAt', AttributeType: 'N' },
      ]),
      GlobalSecondaryIndexes: [
        {
          IndexName: 'by-refresh-due',
          KeySchema: [
            { AttributeName: 'dueShard', KeyType: 'HASH' },
            { AttributeName: 'dueAt', KeyType: 'RANGE' },
          ],
          Projection: { ProjectionType: 'KEYS_ONLY' },
        },
      ],
    });
  });

  it('is on-demand, with point-in-time recovery, deletion protection and encryption at rest', () => {
    template.hasResourceProperties('AWS::DynamoDB::Table', {
      BillingMode: 'PAY_PER_REQUEST',
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      DeletionProtectionEnabled: true,
      SSESpecification: { SSEEnabled: true },
    });
  });

  it('is retained when the stack is deleted', () => {
    template.hasResource('AWS::DynamoDB::Table', { DeletionPolicy: 'Retain', UpdateReplacePolicy: 'Retain' });
  });

  it('is named after the stack, so a change that would replace it fails instead of creating an empty table beside it', () => {
    template.hasResourceProperties('AWS::DynamoDB::Table', { TableName: 'Broker-tokens' });
  });

  it('with an existing table (a point-in-time restore, an earlier stack), the stack creates none and points every function at it', () => {
    const { template: t } = synthBroker({ existingTableName: 'Broker-tokens-restored' });
    expect(Object.keys(resourcesOf(t, 'AWS::DynamoDB::Table'))).toHaveLength(0);
    const fns = Object.values(resourcesOf(t, 'AWS::Lambda::Function')).map((f) => f.Properties!.Environment.Variables.BROKER_TABLE_NAME);
    expect(new Set(fns.filter(Boolean))).toEqual(new Set(['Broker-tokens-restored']));
    const resources = JSON.stringify(roleStatements(t, roleIdOf('refresher')).filter((s) => actionsOf(s).some((a) => a.startsWith('dynamodb:'))).map((s) => s.Resource));
    expect(resources).toContain(':table/Broker-tokens-restored');
    expect(resources).toContain(':table/Broker-tokens-restored/index/by-refresh-due');
  });

  it('is the only table', () => {
    expect(Object.keys(resourcesOf(template, 'AWS::DynamoDB::Table'))).toHaveLength(1);
  });

  it('grants the refresher Query on the table (tenant jobs, pending revocations) and on the index by-refresh-due, on no other index', () => {
    const queries = roleStatements(template, 'BrokerRefresherFunctionRole').filter((s) => actionsOf(s).includes('dynamodb:Query'));
    const resources = queries.flatMap((s) => (Array.isArray(s.Resource) ? s.Resource : [s.Resource])).map((r) => JSON.stringify(r));
    expect(resources.filter((r) => r.includes('/index/'))).toHaveLength(1);
    expect(resources.find((r) => r.includes('/index/'))).toContain('/index/by-refresh-due');
    expect(resources.some((r) => !r.includes('/index/') && r.includes('BrokerTable'))).toBe(true);
  });
});
