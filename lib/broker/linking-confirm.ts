import { BrokerError, notFound } from '../errors.js';
import { getLinkSession, linkSessionConfirmation } from '../store/links.js';
import type { LinkSessionRecord } from '../store/records.js';
import { secretHash } from '../store/schema.js';
import { accountView, type AccountView } from './accounts.js';
import { requireAccess, type Caller } from './callers.js';
import type { BrokerDeps } from './deps.js';
import { announceLinked, storeLinkedAccount } from './linking-accounts.js';
import { readTenant } from './tenant-read.js';

const unknownSession = () => notFound('no link session awaits confirmation under this id (unknown, expired, or of another tenant)');

/** Why a session cannot be confirmed for `account`, checked in the contract's order; undefined when it can. */
function refusal(session: Partial<LinkSessionRecord> | undefined, expect: { tenant: string; tenantCreatedAt: number; issuer: string; account: string; now: number }): BrokerError | undefined {
  // a session of another tenant, or of this tenant's former incarnation or region, is unknown here
  if (!session || session.tenant !== expect.tenant || session.tenantCreatedAt !== expect.tenantCreatedAt || session.issuer !== expect.issuer) return unknownSession();
  if (session.confirmedAt !== undefined) return new BrokerError('conflict', 409, 'this link session was already confirmed');
  if (session.account !== expect.account) return new BrokerError('conflict', 409, 'this link session was made for another account');
  // an expired session, or one whose tokens the refresher is revoking, links nothing any more
  if ((session.expiresAt ?? 0) <= expect.now || session.revocationAttempts !== undefined || !session.sealedTokens) return unknownSession();
  return undefined;
}

/**
 * `POST …/accounts/{account}/link/confirm` (`confirm_links`): the tenant's own app, having checked
 * that its signed-in user is `{account}`, turns the linking that waits in a link session into the
 * account's tokens. The session is confirmed once, in the same write that links the account.
 */
export async function confirmLink(deps: BrokerDeps, caller: Caller, tenant: string, account: string, input: { link_session: string }): Promise<AccountView> {
  requireAccess(caller, tenant, 'admin');
  const t = await readTenant(deps, tenant);
  const sessionHash = secretHash(input.link_session);
  const session = await getLinkSession(deps.db, sessionHash);
  const expect = { tenant, tenantCreatedAt: t.createdAt, issuer: t.issuer, account, now: deps.clock() };
  const refused = refusal(session, expect);
  if (refused) throw refused;
  const pending = session!;
  const stored = await storeLinkedAccount(
    deps,
    { tenant, account, issuer: pending.issuer, scope: pending.scope, sealedTokens: pending.sealedTokens!, expiresAt: pending.tokenExpiresAt },
    /* Precondition: a link session is confirmed once: its confirmation and the account's new tokens are one write. */
    (now) => linkSessionConfirmation(deps.db, sessionHash, { account, by: caller.id, now }),
  );
  // the session changed since it was read (confirmed or expired meanwhile): say which
  if (!stored.ok) throw refusal(stored.guard as Partial<LinkSessionRecord> | undefined, { ...expect, now: deps.clock() }) ?? unknownSession();
  await announceLinked(deps, t, { account, caller: caller.id, previous: stored.previous });
  return accountView(stored.record);
}
