import { appendAudit, type AuditAction } from '../store/audit.js';
import type { BrokerDeps } from './deps.js';

/**
 * Records one audit event. It is awaited before the answer it records is sent: when it cannot be
 * written the request fails (nothing is ever answered unaudited).
 */
export async function audit(
  deps: Pick<BrokerDeps, 'db' | 'config' | 'clock'>,
  tenant: string,
  action: AuditAction,
  entry: { caller: string; outcome: string; account?: string | undefined },
): Promise<void> {
  await appendAudit(
    deps.db,
    tenant,
    { at: new Date(deps.clock()).toISOString(), action, caller: entry.caller, outcome: entry.outcome, ...(entry.account ? { account: entry.account } : {}) },
    deps.config.auditDays,
  );
}
