import { toBrokerError } from '../errors.js';
import { tokenAnswer, type TokenAnswer } from './account-tokens.js';
import { audit } from './audit-trail.js';
import { requireAccess, type Caller } from './callers.js';
import type { BrokerDeps } from './deps.js';
import { TokenCache } from './token-cache.js';
import { ensureFreshToken, type RefreshMode } from './refresh.js';

export const DEFAULT_MIN_TTL_S = 60;

/**
 * `GET …/token` (mode `ensure`) and `POST …/refresh` (mode `force`): a valid access token with at
 * least `minTtlS` seconds left, refreshed first when needed. The read is audited before the answer.
 */
export async function getToken(
  deps: BrokerDeps,
  caller: Caller,
  target: { tenant: string; account: string },
  options: { mode: RefreshMode; minTtlS: number; deadline: number },
): Promise<TokenAnswer> {
  requireAccess(caller, target.tenant, 'service');
  // the provider refresh itself is audited as `token.refresh` by the engine; this records the read
  const action = 'token.read';
  const cacheKey = TokenCache.key(target.tenant, target.account);
  if (options.mode === 'ensure') {
    const hit = deps.tokenCache.get(cacheKey, deps.clock(), options.minTtlS * 1000);
    if (hit) {
      await audit(deps, target.tenant, action, { caller: caller.id, account: target.account, outcome: 'ok' });
      return tokenAnswer(hit, hit.accessToken, deps.clock());
    }
  }
  let fresh;
  try {
    fresh = await ensureFreshToken(deps, { ...target, mode: options.mode, minTtlMs: options.minTtlS * 1000, deadline: options.deadline, caller: caller.id });
  } catch (err) {
    const { code, status } = toBrokerError(err);
    // e.g. a ciphertext that does not open under this account's context: served nothing, said loudly
    if (status >= 500) deps.log.error('token.read_failed', { tenant: target.tenant, account: target.account, error: code, err });
    await audit(deps, target.tenant, action, { caller: caller.id, account: target.account, outcome: `failed:${code}` }).catch((auditErr) =>
      deps.log.error('audit.write_failed', { tenant: target.tenant, account: target.account, err: auditErr }),
    );
    throw err;
  }
  const outcome = fresh.stale ? 'served_stale' : fresh.refreshed ? 'refreshed' : 'ok';
  if (!fresh.stale) deps.tokenCache.remember(fresh.record, fresh.accessToken, deps.clock());
  await audit(deps, target.tenant, action, { caller: caller.id, account: target.account, outcome });
  return tokenAnswer(fresh.record, fresh.accessToken, deps.clock());
}
