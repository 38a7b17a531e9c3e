import * as oauth from 'oauth4webapi';
import { BrokerError, toBrokerError, upstreamUnavailable } from '../errors.js';
import { exchangeCode, revokeToken, validateCallback, type GrantedTokens, type OAuthClient } from '../oauth/client.js';
import type { ServerMetadata } from '../oauth/discovery.js';
import { attemptWithRetries, LINKED_TOKENS_PUT, UPSTREAM_CLEANUP, withRetries } from '../retry.js';
import { consumeFlowState, linkCompletion, linkSessionPut, writeGuarded } from '../store/links.js';
import type { FlowStateRecord, TenantRecord } from '../store/records.js';
import { secretHash } from '../store/schema.js';
import { accountTokensContext } from './account-tokens.js';
import { audit } from './audit-trail.js';
import { ensureClientSecretCurrent } from './client-secret-expiry.js';
import { openTenantClient } from './client-secrets.js';
import type { BrokerDeps } from './deps.js';
import { invalidLink, LINK_SESSION_TTL_MS, LinkFlowError, readTenantOfLink, type FlowRef } from './linking.js';
import { announceLinked, storeLinkedAccount, type LinkedTokens } from './linking-accounts.js';
import { bindingHash, linkIdOfBinding, linkPath, newLinkSessionId, pkceVerifier } from './linking-secrets.js';
import { isAllowedReturnTo } from './return-to.js';

/** Where a completed flow sends the browser: linked, or (`confirm_links`) waiting for the tenant's confirmation. */
export type CompletedLink =
  | { outcome: 'linked'; tenant: string; account: string; returnTo?: string | undefined }
  | { outcome: 'confirm'; tenant: string; account: string; returnTo: string; linkSession: string };

const STATE_REFUSED = {
  unknown: 'This sign-in answer is not valid or was already used. Start again from your link.',
  expired: 'This sign-in took too long and has expired. Start again from your link.',
  mismatch: 'This sign-in was started in another browser (or cookies are blocked). Open the link again in this browser.',
};

/**
 * `GET /oauth/callback`: checks state (single use, unexpired, same browser), issuer (RFC 9207),
 * exchanges the code with the flow's verifier, and completes the link: the account is linked (or,
 * for a tenant with `confirm_links`, a link session waits for its confirmation) in the same write
 * that uses the link up. A failure that may pass leaves the link as it was, so the end user can try
 * again from it while it lives.
 */
export async function completeLink(deps: BrokerDeps, params: URLSearchParams, bindingOf: (state: string) => string | undefined): Promise<CompletedLink> {
  const state = params.get('state');
  if (!state) throw new LinkFlowError(new BrokerError('invalid_state', 400, 'The sign-in answer carries no state. Start again from your link.'));
  /* Precondition: a callback without a code, or with an empty one, is bad input: 400, and the flow stays alive. */
  if (!params.get('code') && !params.get('error')) {
    throw new LinkFlowError(
      new BrokerError('invalid_request', 400, 'The sign-in answer carries no authorization code. Finish signing in at LongPort, or start again from your link.'),
      undefined,
      { flowAlive: true },
    );
  }
  const binding = bindingOf(state);
  let consumed: Awaited<ReturnType<typeof consumeFlowState>>;
  try {
    // state is single-use, unexpired and bound to this browser: one conditional delete, before the code is exchanged
    consumed = await consumeFlowState(deps.db, secretHash(state), bindingHash(binding), deps.clock());
  } catch (err) {
    // nothing was consumed: the same answer may be opened again in a moment
    throw new LinkFlowError(toBrokerError(err, 'link'), undefined, { flowAlive: true });
  }
  if (!consumed.ok) throw new LinkFlowError(new BrokerError('invalid_state', 400, STATE_REFUSED[consumed.reason]));
  return finishFlow(deps, consumed.record, { params, state, binding: binding! });
}

async function finishFlow(deps: BrokerDeps, flow: FlowStateRecord, answer: { params: URLSearchParams; state: string; binding: string }): Promise<CompletedLink> {
  // until the tenant is read, failures end on the broker's page: return_to is re-checked first
  const flowRef: FlowRef = { tenant: flow.tenant, account: flow.account };
  let tenant: TenantRecord | undefined;
  let client: OAuthClient | undefined;
  let granted: GrantedTokens | undefined;
  let kept = false;
  try {
    tenant = await ensureClientSecretCurrent(deps, await readTenantOfLink(deps, flow.tenant));
    // the origin must still be one the tenant allows (it may have changed since the link was made)
    flowRef.returnTo = flow.returnTo && isAllowedReturnTo(flow.returnTo, tenant.returnToOrigins) ? flow.returnTo : undefined;
    if (tenant.createdAt !== flow.tenantCreatedAt || tenant.issuer !== flow.issuer || tenant.redirectUri !== flow.redirectUri) {
      throw new BrokerError('conflict', 409, 'The tenant was re-registered while this sign-in was running. Start again from a new link.');
    }
    /* Precondition: a tenant that confirms links receives the link_session at its return_to, so a flow without one links nothing. */
    if (tenant.confirmLinks && !flowRef.returnTo) throw new BrokerError('invalid_link', 400, 'The service that sent this link cannot confirm it. Ask for a new link.');
    const as = await deps.discovery.get(flow.issuer);
    const callbackParams = checkedAnswer(as, tenant.clientId, answer.params, answer.state);
    client = await openTenantClient(deps, tenant);
    granted = await exchangeCode(deps.http, as, client, callbackParams, flow.redirectUri, pkceVerifier(answer.binding, answer.state), deps.clock);
    if (!granted.refresh_token) throw new BrokerError('upstream_error', 502, 'The provider issued no refresh token, so the broker cannot keep this account linked.');
    const tokens: LinkedTokens = {
      tenant: flow.tenant,
      account: flow.account,
      issuer: flow.issuer,
      scope: granted.scope ?? tenant.scope,
      sealedTokens: await deps.cipher.seal({ access_token: granted.access_token, refresh_token: granted.refresh_token }, accountTokensContext(flow.tenant, flow.account)),
      expiresAt: granted.expiresAt,
    };
    if (tenant.confirmLinks) {
      const linkSession = await holdForConfirmation(deps, flow, tokens);
      kept = true;
      await audit(deps, flow.tenant, 'link.complete', { caller: flow.createdBy, account: flow.account, outcome: 'awaiting_confirmation' });
      return { outcome: 'confirm', tenant: flow.tenant, account: flow.account, returnTo: flowRef.returnTo!, linkSession };
    }
    /* Precondition: a link completes one linking at most: its completion and the account's new tokens are one write. */
    const stored = await storeLinkedAccount(deps, tokens, (now) => linkCompletion(deps.db, flow.linkHash, now));
    if (!stored.ok) throw linkUsedUp(stored.guard);
    kept = true;
    await announceLinked(deps, tenant, { account: flow.account, caller: flow.createdBy, previous: stored.previous }, client);
    return { outcome: 'linked', tenant: flow.tenant, account: flow.account, returnTo: flowRef.returnTo };
  } catch (err) {
    const error = err instanceof LinkFlowError ? err.error : toBrokerError(err, 'link');
    // an endpoint that failed may have moved: the next flow rediscovers
    if (error.code === 'upstream_unavailable') deps.discovery.invalidate(flow.issuer);
    // tokens the provider issued and the broker did not keep are revoked at once: nobody holds them
    if (granted && !kept && tenant && client) await revokeUnkeptTokens(deps, tenant, client, granted, flow.account);
    await audit(deps, flow.tenant, 'link.complete', { caller: flow.createdBy, account: flow.account, outcome: `failed:${error.code}` }).catch(() => {});
    const sameLink = linkIdOfBinding(answer.binding, flow.linkHash);
    // a transient failure at the callback offers the same link again (so does the end user's own refusal): it was not used up
    const retryLink = sameLink && (error.status === 503 || error.code === 'access_denied') ? linkPath(sameLink) : undefined;
    throw new LinkFlowError(error, flowRef, { retryLink });
  }
}

/** The link of a flow whose completion lost: another flow of the same link completed first, or the link ran out. */
function linkUsedUp(link: Record<string, unknown> | undefined): LinkFlowError {
  return invalidLink(link?.completedAt !== undefined ? 'used' : 'expired');
}

/**
 * `confirm_links`: the token set waits, sealed, in a link session that only the tenant's confirmation
 * turns into a linked account; the link is used up in the same write.
 */
async function holdForConfirmation(deps: BrokerDeps, flow: FlowStateRecord, tokens: LinkedTokens): Promise<string> {
  const linkSession = newLinkSessionId();
  const res = await withRetries(LINKED_TOKENS_PUT, { what: 'link' }, async () => {
    const now = deps.clock();
    return writeGuarded(
      deps.db,
      linkCompletion(deps.db, flow.linkHash, now),
      linkSessionPut(deps.db, secretHash(linkSession), {
        tenant: tokens.tenant,
        account: tokens.account,
        issuer: tokens.issuer,
        scope: tokens.scope,
        sealedTokens: tokens.sealedTokens,
        tokenExpiresAt: tokens.expiresAt,
        createdBy: flow.createdBy,
        tenantCreatedAt: flow.tenantCreatedAt,
        expiresAt: now + LINK_SESSION_TTL_MS,
      }),
    );
  });
  if (res.ok) return linkSession;
  if (res.failed === 'guard') throw linkUsedUp(res.old);
  throw new BrokerError('server_error', 500, 'a new link session collided with an existing one');
}

/** RFC 6749 §4.1.2.1 error codes a provider may answer the authorization request with. */
const PROVIDER_REFUSALS = new Set(['invalid_request', 'unauthorized_client', 'access_denied', 'unsupported_response_type', 'invalid_scope']);
const PROVIDER_BUSY = new Set(['server_error', 'temporarily_unavailable']);

/**
 * RFC 9207 + RFC 6749 §4.1.2: the provider's answer, checked. Its error answers name one of the
 * codes RFC 6749 defines, and nothing else of the answer: `error_description` and `error_uri` are
 * text of the request, which the broker's pages never show.
 */
function checkedAnswer(as: ServerMetadata, clientId: string, params: URLSearchParams, state: string): URLSearchParams {
  try {
    return validateCallback(as, clientId, params, state);
  } catch (err) {
    if (err instanceof oauth.AuthorizationResponseError) {
      if (PROVIDER_BUSY.has(err.error)) throw upstreamUnavailable('LongPort could not finish the sign-in just now.');
      const code = PROVIDER_REFUSALS.has(err.error) ? ` (${err.error})` : '';
      throw new BrokerError('access_denied', 400, `LongPort did not link the account${code}. Nothing was linked; you can try again from your link.`);
    }
    throw new BrokerError('invalid_request', 400, 'The sign-in answer is malformed or comes from another issuer. Start again from your link.', { cause: err });
  }
}

/** RFC 7009: a token set the broker was handed but did not keep. Logged, never thrown. */
async function revokeUnkeptTokens(deps: BrokerDeps, tenant: TenantRecord, client: OAuthClient, granted: GrantedTokens, account: string): Promise<void> {
  const [token, hint] = granted.refresh_token ? [granted.refresh_token, 'refresh_token' as const] : [granted.access_token, 'access_token' as const];
  const outcome = await attemptWithRetries(UPSTREAM_CLEANUP, { what: 'revocation' }, async () => revokeToken(deps.http, await deps.discovery.get(tenant.issuer), client, token, hint));
  const fields = { tenant: tenant.tenant, account, revoked: outcome.ok && outcome.value };
  if (outcome.ok) deps.log.info('link.unkept_tokens_revoked', fields);
  else deps.log.warn('link.unkept_tokens_revoked', { ...fields, reason: outcome.error.code, err: outcome.error });
}
