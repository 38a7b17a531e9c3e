import { BrokerError } from '../errors.js';
import { REAUTH_AT_GENERATION, withRetries } from '../retry.js';
import { listAccounts } from '../store/accounts.js';
import type { AccountRecord, TenantRecord } from '../store/records.js';
import type { BrokerDeps } from './deps.js';
import { requireReauth } from './reauth.js';
import { revokeAccountTokens } from './revocation.js';

/**
 * Moves every linked account whose tokens came from another issuer than the tenant's to
 * `needs_reauth` (audited, with a `ReauthRequired` event). With `previous` (the tenant as it was),
 * the refresh token is also revoked at the old issuer with the old client, best effort.
 * Answers how many accounts it moved.
 */
export async function requireReauthOffIssuer(deps: BrokerDeps, tenant: TenantRecord, callerId: string, previous: TenantRecord | undefined): Promise<number> {
  let moved = 0;
  let cursor: string | undefined;
  do {
    const page = await listAccounts(deps.db, tenant.tenant, { limit: 50, cursor, status: 'linked' });
    for (const rec of page.items) {
      if (rec.issuer === tenant.issuer) continue;
      if (await markNeedsReauthFromLatest(deps, rec, callerId)) {
        moved += 1;
        if (previous) await revokeAccountTokens(deps, previous, rec);
      }
    }
    cursor = page.next;
  } while (cursor);
  return moved;
}

/** `linked` → `needs_reauth` at the generation read; a refresh committed meanwhile is read and marked too. */
async function markNeedsReauthFromLatest(deps: BrokerDeps, rec: AccountRecord, callerId: string): Promise<boolean> {
  let current: AccountRecord | undefined = rec;
  return withRetries(REAUTH_AT_GENERATION, { what: 'region change' }, async () => {
    if (current?.status !== 'linked') return false;
    const res = await requireReauth(deps, current, callerId, 'region_changed');
    if (res.ok) return true;
    current = res.current;
    if (current?.status !== 'linked') return false;
    throw new BrokerError('conflict', 409, `account ${rec.account} kept changing during the region change; send the request again`);
  });
}
