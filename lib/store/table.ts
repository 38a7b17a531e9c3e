import { CreateTableCommand, DescribeTableCommand, DynamoDBClient, ResourceInUseException, UpdateTimeToLiveCommand } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { tableDefinition } from './schema.js';

/** A handle on the table: the document client and the table name. */
export interface Db {
  doc: DynamoDBDocumentClient;
  table: string;
}

export function createDb(options: { table: string; endpoint?: string | undefined; region?: string | undefined; client?: DynamoDBClient }): Db {
  const client =
    options.client ??
    new DynamoDBClient({
      ...(options.endpoint
        ? {
            endpoint: options.endpoint,
            region: options.region ?? 'local',
            // DynamoDB Local accepts any credentials; fixed ones keep local mode free of AWS config
            credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
          }
        : {}),
      maxAttempts: 3,
    });
  const doc = DynamoDBDocumentClient.from(client, {
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
