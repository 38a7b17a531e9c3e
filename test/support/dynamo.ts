import { randomBytes } from 'node:crypto';
import { inject } from 'vitest';
import { createDb, ensureTable, type Db } from '../../lib/store/table.js';

export const dynamoEndpoint = (): string => inject('dynamoEndpoint');

/** A fresh table in the run's DynamoDB Local, so test files never see each other's items. */
export async function freshTable(prefix = 'test'): Promise<Db> {
  const db = createDb({ table: `${prefix}-${randomBytes(4).toString('hex')}`, endpoint: dynamoEndpoint() });
  await ensureTable(db);
  return db;
}
