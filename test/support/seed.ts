import { accountTokensContext, nextDueAt } from '../../lib/broker/account-tokens.js';
import { PutCommand } from '@aws-sdk/lib-dynamodb';
import { linkedAccountPut } from '../../lib/store/accounts.js';
import type { AccountRecord, AccountTokens } from '../../lib/store/records.js';
import { getTenant } from '../../lib/store/tenants.js';
import type { Harness } from './harness.js';

/**
 * Links `count` accounts of a registered tenant without a browser each: the provider issues each a
 * real grant (`seedGrant`, as if its end user had consented), stored sealed exactly as a callback
 * would store it. Answers the accounts' ids and refresh tokens.
 */
export async function seedLinkedAccounts(h: Pick<Harness, 'sim' | 'db' | 'deps'>, tenant: string, count: number, prefix = 'user'): Promise<{ accounts: string[]; refreshTokens: string[] }> {
  const t = await getTenant(h.db, tenant);
  if (!t) throw new Error(`seedLinkedAccounts: tenant ${tenant} is not registered`);
  const accounts = Array.from({ length: count }, (_, i) => `${prefix}-${String(i).padStart(4, '0')}`);
  const refreshTokens: string[] = [];
  const now = h.deps.clock();
  for (let i = 0; i < accounts.length; i += 25) {
    await Promise.all(
      accounts.slice(i, i + 25).map(async (account) => {
        const grant = h.sim.seedGrant(t.clientId, t.scope);
        refreshTokens.push(grant.refresh_token);
        const tokens: AccountTokens = { access_token: grant.access_token, refresh_token: grant.refresh_token };
        const expiresAt = now + grant.expires_in * 1000;
        const record: AccountRecord = {
          tenant,
          account,
          status: 'linked',
          scope: t.scope,
          issuer: t.issuer,
          generation: 1,
          sealedTokens: await h.deps.cipher.seal(tokens, accountTokensContext(tenant, account)),
          expiresAt,
          refreshedAt: now,
          linkedAt: now,
          dueAt: nextDueAt(expiresAt, now, h.deps.config.refreshHorizonS),
        };
        await h.db.doc.send(new PutCommand(linkedAccountPut(h.db, record, undefined)));
      }),
    );
  }
  return { accounts, refreshTokens };
}
