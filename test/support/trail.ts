import { listAudit, type AuditEvent } from '../../lib/store/audit.js';
import type { Db } from '../../lib/store/table.js';

/**
 * A tenant's trail read straight from the store, oldest first (the broker serves it newest first,
 * CONTRACT.md "Audit trail"): tests that follow a story read it in the order it happened.
 */
export async function trailOldestFirst(db: Db, tenant: string, query: Parameters<typeof listAudit>[2] = { limit: 200 }): Promise<AuditEvent[]> {
  return (await listAudit(db, tenant, query)).events.reverse();
}
