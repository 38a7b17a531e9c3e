import { RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import { AUDIT_INDEX, DUE_INDEX, tableDefinition } from '../lib/store/schema.js';

/**
 * The item actions a function may be granted on the table (never `dynamodb:*`). `ConditionCheckItem`
 * is the check inside a TransactWriteItems (whose puts need `PutItem`): no transaction can delete.
 */
export type TableAction = 'GetItem' | 'PutItem' | 'UpdateItem' | 'DeleteItem' | 'Query' | 'ConditionCheckItem' | 'BatchGetItem';

/** The DynamoDB operation (as CloudWatch names it) that uses an IAM action: a ConditionCheck is part of a TransactWriteItems. */
export const operationOf = (action: TableAction): dynamodb.Operation =>
  action === 'ConditionCheckItem' ? dynamodb.Operation.TRANSACT_WRITE_ITEMS : (action as dynamodb.Operation);

/** The variable lib/config.ts reads the table name from. */
export const TABLE_ENV = 'BROKER_TABLE_NAME';

export interface TokenTableProps {
  /**
   * Use this existing table instead of creating one: a table restored from point-in-time recovery,
   * or the retained table of an earlier (or renamed) stack. It must have the key schema, TTL and
   * index below; the stack does not manage it.
   */
  existingTableName?: string;
}

/** `<stack name>-tokens`: the stack's own table, named so that a person can tell whose it is. */
export const tableNameFor = (stackName: string): string => `${stackName}-tokens`;

/**
 * The broker's one table; its key schema is documented in `lib/store/schema.ts`.
 *
 * - `pk`/`sk` strings, `ttl` the TTL attribute (links, flow states, audit events expire);
 * - index `by-refresh-due` (`dueShard` S, `dueAt` N, KEYS_ONLY) is what the refresher queries;
 * - index `by-audit-filter` (`auditFilter` S, `auditAt` S, ALL, sparse) is what a filtered page of
 *   the audit trail queries (by account or by token fingerprint);
 * - on-demand, point-in-time recovery, deletion protection and RETAIN: the table holds every
 *   linked account, and losing it means every end user has to link again.
 * - A fixed name, `<stack>-tokens`: a change that would replace the table (key schema, name) fails
 *   the update instead of silently creating a new, empty table beside the retained one.
 * - Encrypted at rest with the AWS managed key (`aws/dynamodb`). Token material in it is also
 *   sealed under the broker's CMK with a per-record encryption context (TokenKey). Using that CMK
 *   for the table too would give every function an unconditioned `kms:Decrypt` via DynamoDB,
 *   undoing the context conditions that matter.
 */
export class TokenTable extends Construct {
  static readonly DUE_INDEX = DUE_INDEX;
  static readonly AUDIT_INDEX = AUDIT_INDEX;
  readonly table: dynamodb.ITable;

  constructor(scope: Construct, id: string, props: TokenTableProps = {}) {
    super(scope, id);
    // key schema and indexes as lib/store/schema.ts defines them (the local table is made from the same)
    const definition = tableDefinition(tableNameFor(Stack.of(this).stackName));
    const attribute = (name: string): dynamodb.Attribute => {
      const type = definition.AttributeDefinitions.find((a) => a.AttributeName === name)!.AttributeType;
      return { name, type: type === 'N' ? dynamodb.AttributeType.NUMBER : dynamodb.AttributeType.STRING };
    };
    const keysOf = (schema: readonly { AttributeName: string; KeyType: 'HASH' | 'RANGE' }[]) => ({
      partitionKey: attribute(schema.find((k) => k.KeyType === 'HASH')!.AttributeName),
      sortKey: attribute(schema.find((k) => k.KeyType === 'RANGE')!.AttributeName),
    });
    if (props.existingTableName) {
      this.table = dynamodb.Table.fromTableAttributes(this, 'Table', {
        tableName: props.existingTableName,
        globalIndexes: definition.GlobalSecondaryIndexes.map((index) => index.IndexName),
      });
      return;
    }
    const table = new dynamodb.Table(this, 'Table', {
      tableName: definition.TableName,
      ...keysOf(definition.KeySchema),
      timeToLiveAttribute: 'ttl',
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      deletionProtection: true,
      encryption: dynamodb.TableEncryption.AWS_MANAGED,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    for (const index of definition.GlobalSecondaryIndexes) {
      table.addGlobalSecondaryIndex({ indexName: index.IndexName, ...keysOf(index.KeySchema), projectionType: index.Projection.ProjectionType as dynamodb.ProjectionType });
    }
    this.table = table;
  }

  get tableName(): string {
    return this.table.tableName;
  }

  /** Allows exactly `actions` on the table itself (not its indexes). */
  grantItems(grantee: iam.IGrantable, actions: readonly TableAction[]): iam.Grant {
    return iam.Grant.addToPrincipal({
      grantee,
      actions: actions.map((a) => `dynamodb:${a}`),
      resourceArns: [this.table.tableArn],
    });
  }

  /** Allows `Query` on one index only (`DUE_INDEX`, the refresher's; `AUDIT_INDEX`, the audit trail's filter). */
  grantIndexQuery(grantee: iam.IGrantable, index: typeof DUE_INDEX | typeof AUDIT_INDEX): iam.Grant {
    return iam.Grant.addToPrincipal({
      grantee,
      actions: ['dynamodb:Query'],
      resourceArns: [`${this.table.tableArn}/index/${index}`],
    });
  }
}
