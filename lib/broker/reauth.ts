import { setAccountStatus, type AccountCas } from '../store/accounts.js';
import type { AccountRecord } from '../store/records.js';
import { audit } from './audit-trail.js';
import type { BrokerDeps } from './deps.js';
import { TokenCache } from './token-cache.js';

/**
 * `linked` → `needs_reauth` at the generation read (a newer commit wins): the end user must link
 * again. The cached token goes at once; when the write lands it is logged, audited as
 * `account.reauth` and published as `ReauthRequired`. The answer says which way the write went.
 */
export async function requireReauth(deps: BrokerDeps, rec: AccountRecord, caller: string, reason: string): Promise<AccountCas> {
  const res = await setAccountStatus(deps.db, rec, rec.generation, 'needs_reauth', reason);
  deps.tokenCache.delete(TokenCache.key(rec.tenant, rec.account));
  if (res.ok) {
    deps.log.warn('account.reauth_required', { tenant: rec.tenant, account: rec.account, reason });
    await audit(deps, rec.tenant, 'account.reauth', { caller, account: rec.account, outcome: reason });
    await deps.events.publish('ReauthRequired', { tenant: rec.tenant, account: rec.account, reason });
  }
  return res;
}
