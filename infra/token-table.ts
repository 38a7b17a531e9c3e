import { RemovalPolicy } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import { DUE_INDEX } from '../lib/store/schema.js';

/** The item actions a function may be granted on the table (never `dynamodb:*`). */
export type TableAction = 'GetItem' | 'PutItem' | 'UpdateItem' | 'DeleteItem' | 'Query';

/**
 * The broker's one table; its key schema is documented in `lib/store/schema.ts`.
 *
 * - `pk`/`sk` strings, `ttl` the TTL attribute (links, flow states, audit events expire);
 * - index `by-refresh-due` (`dueShard` S, `dueAt` N, KEYS_ONLY) is what the refresher queries;
 * - on-demand, point-in-time recovery, deletion protection and RETAIN: the table holds every
 *   linked account, and losing it means every end user has to link again.
 * - Encrypted at rest with the AWS managed key (`aws/dynamodb`). Token material in it is also
 *   sealed under the broker's CMK with a per-record encryption context (TokenKey). Using that CMK
 *   for the table too would give every function an unconditioned `kms:Decrypt` via DynamoDB,
 *   undoing the context conditions that matter.
 */
export class TokenTable extends Construct {
  static readonly DUE_INDEX = DUE_INDEX;
  readonly table: dynamodb.Table;

  constructor(scope: Construct, id: string) {
    super(scope, id);
    this.table = new dynamodb.Table(this, 'Table', {
      partitionKey: { name: 'pk', type: dynamodb.AttributeType.STRING },
      sortKey: { name: 'sk', type: dynamodb.AttributeType.STRING },
      timeToLiveAttribute: 'ttl',
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      deletionProtection: true,
      encryption: dynamodb.TableEncryption.AWS_MANAGED,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    this.table.addGlobalSecondaryIndex({
      indexName: DUE_INDEX,
      partitionKey: { name: 'dueShard', type: dynamodb.AttributeType.STRING },
      sortKey: { name: 'dueAt', type: dynamodb.AttributeType.NUMBER },
      projectionType: dynamodb.ProjectionType.KEYS_ONLY,
    });
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

  /** Allows `Query` on the refresher's index only. */
  grantDueIndexQuery(grantee: iam.IGrantable): iam.Grant {
    return iam.Grant.addToPrincipal({
      grantee,
      actions: ['dynamodb:Query'],
      resourceArns: [`${this.table.tableArn}/index/${DUE_INDEX}`],
    });
  }
}
