import { KMSClient } from '@aws-sdk/client-kms';
import { GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { MAX_SEALS_PER_DATA_KEY } from '../../lib/crypto/data-key-cache.js';
import { kmsDataKeys } from '../../lib/crypto/kms-keys.js';
import { createTokenCipher, type EncryptionContext } from '../../lib/crypto/token-cipher.js';
import type { Db } from '../../lib/store/table.js';
import { FAKE_KEY_ARN } from './fake-kms.js';

/** A cipher over the (mocked) KMS key the Lambda functions use, for tests that read what they sealed. */
export const fakeKmsCipher = () => createTokenCipher(kmsDataKeys(new KMSClient({ region: 'us-east-1', credentials: { accessKeyId: 'AKIDTEST', secretAccessKey: 'test' } }), FAKE_KEY_ARN));

/** How many values the data key of an envelope has sealed (its authenticated counter). */
export const sealsOf = (envelope: string): number => Number(envelope.split('.')[3]);

/**
 * Opens and seals the envelope in `attribute` of the item at `key` again and again (as a refresh or a
 * renewal does) until its data key has sealed MAX_SEALS_PER_DATA_KEY values, and stores that
 * envelope: the next seal must not use its data key.
 */
export async function spendDataKey(db: Db, key: Record<string, string>, attribute: string, context: EncryptionContext): Promise<void> {
  const cipher = fakeKmsCipher();
  const item = (await db.doc.send(new GetCommand({ TableName: db.table, Key: key, ConsistentRead: true }))).Item!;
  let sealed = item[attribute] as string;
  while (sealsOf(sealed) < MAX_SEALS_PER_DATA_KEY) sealed = await cipher.seal(await cipher.open(sealed, context), context);
  await db.doc.send(new UpdateCommand({ TableName: db.table, Key: key, UpdateExpression: 'SET #a = :sealed', ExpressionAttributeNames: { '#a': attribute }, ExpressionAttributeValues: { ':sealed': sealed } }));
}
