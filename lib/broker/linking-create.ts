import { BrokerError } from '../errors.js';
import { putLink } from '../store/links.js';
import { secretHash } from '../store/schema.js';
import { audit } from './audit-trail.js';
import { requireAccess, type Caller } from './callers.js';
import { ensureClientSecretCurrent } from './client-secret-expiry.js';
import type { BrokerDeps } from './deps.js';
import { LINK_TTL_MS } from './linking.js';
import { linkPath, newLinkId } from './linking-secrets.js';
import { checkReturnTo } from './return-to.js';
import { readTenant } from './tenant-read.js';

/** `POST …/accounts/{account}/link`: a link URL for the end user, completing one linking at most, for 10 minutes. */
export async function createLink(
  deps: BrokerDeps,
  caller: Caller,
  tenant: string,
  account: string,
  input: { return_to?: string | undefined },
): Promise<{ link_url: string; expires_at: string }> {
  requireAccess(caller, tenant, 'admin');
  const t = await ensureClientSecretCurrent(deps, await readTenant(deps, tenant));
  /* Precondition: links of a tenant that confirms links need a return_to (where the link_session goes). */
  if (t.confirmLinks && input.return_to === undefined) {
    throw new BrokerError('invalid_request', 400, 'this tenant confirms links (confirm_links): a link needs a return_to, where the link_session to confirm is sent');
  }
  const returnTo = input.return_to === undefined ? undefined : checkReturnTo(input.return_to, t.returnToOrigins);
  const linkId = newLinkId();
  const expiresAt = deps.clock() + LINK_TTL_MS;
  await putLink(deps.db, secretHash(linkId), { tenant, account, ...(returnTo ? { returnTo } : {}), createdBy: caller.id, tenantCreatedAt: t.createdAt, expiresAt });
  await audit(deps, tenant, 'link.create', { caller: caller.id, account, outcome: 'created' });
  // the link lives on the host of the tenant's registered redirect URI: the flow cookie set by
  // /oauth/authorize must come back to /oauth/callback on that same host
  const base = t.redirectUri.replace(/\/oauth\/callback$/, '');
  return { link_url: `${base}${linkPath(linkId)}`, expires_at: new Date(expiresAt).toISOString() };
}
