import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { documentSdk, dynamodbSdk } from '../aws-sdk.js';
import { AWS_SERVICE_DEADLINE, sdkClientSettings } from '../deadlines.js';
import { markStoreFailure } from './failures.js';
import { tableDefinition } from './schema.js';

const { CreateTableCommand, DescribeTableCommand, ResourceInUseException, UpdateTimeToLiveCommand } = dynamodbSdk;

/** A handle on the table: the document client and the table name. */
export interface Db {
  doc: DynamoDBDocumentClient;
  table: string;
}

/**
 * The table's client. Every call keeps {@link AWS_SERVICE_DEADLINE} (lib/deadlines.ts): a store that is
 * unreachable, frozen or cut off fails the call within seconds, into the 503
 * `temporarily_unavailable` of `toBrokerError`, and never holds a request until it comes back.
 */
export function createDb(options: { table: string; endpoint?: string | undefined; region?: string | undefined; client?: DynamoDBClient }): Db {
  const client =
    options.client ??
    new dynamodbSdk.DynamoDBClient({
      ...(options.endpoint
        ? {
            endpoint: options.endpoint,
            region: options.region ?? 'local',
            // DynamoDB Local accepts any credentials; fixed ones keep local mode free of AWS config
            credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
          }
        : {}),
      // every store call has a connection and a request deadline
      ...sdkClientSettings(AWS_SERVICE_DEADLINE),
    });
  // every error the client throws (after its own retries) is marked, so the HTTP edge can count store outages
  client.middlewareStack.add(
    (next) => (args) =>
      next(args).catch((err: unknown) => {
        markStoreFailure(err);
        throw err;
      }),
    { step: 'initialize', priority: 'high' },
  );
  const doc = documentSdk.DynamoDBDocumentClient.from(client, {
    marshallOptions: { removeUndefinedValues: true, convertClassInstanceToMap: false },
  });
  return { doc, table: options.table };
}

/** Creates the table (and its TTL setting) when it is missing: local mode and tests only. */
export async function ensureTable(db: Db): Promise<'created' | 'exists'> {
  try {
    await db.doc.send(new DescribeTableCommand({ TableName: db.table }));
    return 'exists';
  } catch (err) {
    if ((err as { name?: string }).name !== 'ResourceNotFoundException') throw err;
  }
  try {
    await db.doc.send(new CreateTableCommand(tableDefinition(db.table)));
  } catch (err) {
    if (err instanceof ResourceInUseException) return 'exists';
    throw err;
  }
  await db.doc.send(new UpdateTimeToLiveCommand({ TableName: db.table, TimeToLiveSpecification: { AttributeName: 'ttl', Enabled: true } }));
  return 'created';
}
