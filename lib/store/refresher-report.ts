import { documentSdk } from '../aws-sdk.js';
import { stripKeys } from './conditional.js';
import type { RefresherReportRecord } from './records.js';
import { keys } from './schema.js';
import type { Db } from './table.js';

const { GetCommand, PutCommand } = documentSdk;

/** The refresher's last run (`REFRESHER` / `LAST_RUN`): written at the end of every run, read by the refresher-health route. */
export async function putRefresherReport(db: Db, report: RefresherReportRecord): Promise<void> {
  await db.doc.send(new PutCommand({ TableName: db.table, Item: { ...keys.refresherReport, ...report } }));
}

export async function getRefresherReport(db: Db): Promise<RefresherReportRecord | undefined> {
  const out = await db.doc.send(new GetCommand({ TableName: db.table, Key: keys.refresherReport, ConsistentRead: true }));
  return out.Item ? stripKeys<RefresherReportRecord>(out.Item) : undefined;
}
