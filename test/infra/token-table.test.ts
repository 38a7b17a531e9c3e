import { Match } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { tableDefinition } from '../../lib/store/schema.js';
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
      GlobalSecondaryIndexes: Match.arrayWith([
        {
          IndexName: 'by-refresh-due',
          KeySchema: [
            { AttributeName: 'dueShard', KeyType: 'HASH' },
            { AttributeName: 'dueAt', KeyType: 'RANGE' },
          ],
          Projection: { ProjectionType: 'KEYS_ONLY' },
        },
      ]),
    });
  });

  it('has the audit filter index by-audit-filter: auditFilter (S), auditAt (S), all attributes — one index, so an existing table gains it in one update', () => {
    template.hasResourceProperties('AWS::DynamoDB::Table', {
      AttributeDefinitions: Match.arrayWith([
        { AttributeName: 'auditFilter', AttributeType: 'S' },
        { AttributeName: 'auditAt', AttributeType: 'S' },
      ]),
      GlobalSecondaryIndexes: Match.arrayWith([
        {
          IndexName: 'by-audit-filter',
          KeySchema: [
            { AttributeName: 'auditFilter', KeyType: 'HASH' },
            { AttributeName: 'auditAt', KeyType: 'RANGE' },
          ],
          Projection: { ProjectionType: 'ALL' },
        },
      ]),
    });
    const table = Object.values(resourcesOf(template, 'AWS::DynamoDB::Table'))[0]!;
    expect(table.Properties!.GlobalSecondaryIndexes).toHaveLength(2);
  });

  it('the local table (lib/store/schema.ts) has the same indexes as the stack', () => {
    const table = Object.values(resourcesOf(template, 'AWS::DynamoDB::Table'))[0]!;
    const stack = (table.Properties!.GlobalSecondaryIndexes as { IndexName: string; KeySchema: unknown; Projection: unknown }[]).map((i) => ({ IndexName: i.IndexName, KeySchema: i.KeySchema, Projection: i.Projection }));
    expect(tableDefinition('t').GlobalSecondaryIndexes).toEqual(stack);
  });

  it('grants Query on the audit filter index to the accounts function only, never the table-wide Query for it', () => {
    const onIndex = (role: string) =>
      roleStatements(template, role).filter((s) => actionsOf(s).includes('dynamodb:Query') && JSON.stringify(s.Resource).includes('/index/by-audit-filter'));
    expect(onIndex('BrokerAccountsFunctionRole')).toHaveLength(1);
    for (const fn of ['Token', 'Refresh', 'Register', 'Refresher']) expect(onIndex(`Broker${fn}FunctionRole`)).toEqual([]);
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
