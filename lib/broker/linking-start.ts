import { toBrokerError } from '../errors.js';
import { authorizationUrl } from '../oauth/client.js';
import { getLink, putFlowState, startFlowFromLink } from '../store/links.js';
import { secretHash } from '../store/schema.js';
import { ensureClientSecretCurrent } from './client-secret-expiry.js';
import type { BrokerDeps } from './deps.js';
import { invalidLink, LinkFlowError, MAX_FLOWS_PER_LINK, readTenantOfLink, type FlowRef } from './linking.js';
import { bindingCookieName, bindingHash, linkPath, newBrowserBinding, newState, pkceVerifier } from './linking-secrets.js';

export interface BrowserBinding {
  name: string;
  value: string;
  maxAgeS: number;
}

/**
 * `GET /oauth/authorize?link=…`: starts a flow from a link and answers where to send the browser
 * and the cookie that binds the flow to it. The link is not used up here: it may start several
 * flows while it lives, and completes one linking at most (`linking-complete.ts`).
 */
export async function startAuthorization(deps: BrokerDeps, linkId: string): Promise<{ location: string; binding: BrowserBinding }> {
  const linkHash = secretHash(linkId);
  let flowRef: FlowRef | undefined;
  try {
    const link = await getLink(deps.db, linkHash);
    if (!link) throw invalidLink('unknown');
    if (link.completedAt !== undefined) throw invalidLink('used');
    if (link.expiresAt <= deps.clock()) throw invalidLink('expired');
    flowRef = { tenant: link.tenant, account: link.account, returnTo: link.returnTo };
    const tenant = await ensureClientSecretCurrent(deps, await readTenantOfLink(deps, link.tenant));
    // a link outlives neither its tenant nor a tenant deleted and registered again under the same id
    if (tenant.createdAt !== link.tenantCreatedAt) throw invalidLink('unknown');
    const as = await deps.discovery.get(tenant.issuer);

    const now = deps.clock();
    /* Precondition: a link starts at most 10 flows (MAX_FLOWS_PER_LINK). */
    /* Precondition: a link completes one linking at most: no flow starts once it has. */
    const started = await startFlowFromLink(deps.db, linkHash, now, MAX_FLOWS_PER_LINK);
    if (!started.ok) throw invalidLink(started.reason, flowRef);

    const state = newState();
    const binding = newBrowserBinding(linkId);
    /* Precondition: a table scan after /oauth/authorize holds neither the state, the link id, the PKCE verifier nor the flow cookie's value. */
    await putFlowState(deps.db, secretHash(state), {
      linkHash,
      tenant: link.tenant,
      account: link.account,
      ...(link.returnTo ? { returnTo: link.returnTo } : {}),
      browserHash: bindingHash(binding),
      redirectUri: tenant.redirectUri,
      issuer: tenant.issuer,
      createdBy: link.createdBy,
      tenantCreatedAt: link.tenantCreatedAt,
      // the flow ends with its link
      expiresAt: link.expiresAt,
    });
    const location = await authorizationUrl(as, { clientId: tenant.clientId, redirectUri: tenant.redirectUri, scope: tenant.scope, state, codeVerifier: pkceVerifier(binding, state) });
    return { location, binding: { name: bindingCookieName(state), value: binding, maxAgeS: Math.max(1, Math.ceil((link.expiresAt - now) / 1000)) } };
  } catch (err) {
    if (err instanceof LinkFlowError) throw err;
    const error = toBrokerError(err, 'link');
    // nothing of the link was used up: a failure that may pass offers the same link again
    throw new LinkFlowError(error, flowRef, { retryLink: error.status === 503 ? linkPath(linkId) : undefined });
  }
}
