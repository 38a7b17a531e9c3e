import { createHash, randomBytes } from 'node:crypto';
import * as oauth from 'oauth4webapi';
import { BrokerError, toBrokerError } from '../errors.js';
import { authorizationUrl, exchangeCode, validateCallback } from '../oauth/client.js';
import { LINKED_TOKENS_PUT, withRetries } from '../retry.js';
import { getAccount, putLinkedAccount } from '../store/accounts.js';
import { consumeFlowState, consumeLink, peekLink, putFlowState, putLink } from '../store/links.js';
import type { AccountRecord, AccountTokens, FlowStateRecord, TenantRecord } from '../store/records.js';
import type { ServerMetadata } from '../oauth/discovery.js';
import { accountTokensContext, nextDueAt } from './account-tokens.js';
import { audit } from './audit-trail.js';
import { requireAccess, type Caller } from './callers.js';
import { reregisterIfSecretExpired } from './client-secret-expiry.js';
import { openTenantClient } from './client-secrets.js';
import type { BrokerDeps } from './deps.js';
import { checkReturnTo, isAllowedReturnTo } from './return-to.js';
import { revokeAccountTokens } from './revocation.js';
import { readTenant } from './tenant-read.js';
import { TokenCache } from './token-cache.js';

/** A link URL and a started flow both live at most this long. */
export const LINK_TTL_MS = 10 * 60 * 1000;

/** `POST …/accounts/{account}/link`: a single-use link URL for the end user. */
export async function createLink(
  deps: BrokerDeps,
  caller: Caller,
  tenant: string,
  account: string,
  input: { return_to?: string | undefined },
): Promise<{ link_url: string; expires_at: string }> {
  requireAccess(caller, tenant, 'admin');
  const t = await reregisterIfSecretExpired(deps, await readTenant(deps, tenant));
  const returnTo = input.return_to === undefined ? undefined : checkReturnTo(input.return_to, t.returnToOrigins);
  const linkId = randomBytes(32).toString('base64url');
  const expiresAt = deps.clock() + LINK_TTL_MS;
  await putLink(deps.db, { linkId, tenant, account, ...(returnTo ? { returnTo } : {}), createdBy: caller.id, tenantCreatedAt: t.createdAt, expiresAt });
  await audit(deps, tenant, 'link.create', { caller: caller.id, account, outcome: 'created' });
  // the link lives on the host of the tenant's registered redirect URI: the flow cookie set by
  // /oauth/authorize must come back to /oauth/callback on that same host
  const base = t.redirectUri.replace(/\/oauth\/callback$/, '');
  return { link_url: `${base}/oauth/authorize?link=${linkId}`, expires_at: new Date(expiresAt).toISOString() };
}

/** Failure of the browser part of the flow: shown as a page, or sent back to `return_to`. */
export class LinkFlowError extends Error {
  override readonly name = 'LinkFlowError';
  constructor(
    readonly error: BrokerError,
    readonly flow?: { returnTo?: string | undefined; account: string; tenant: string },
  ) {
    super(error.description, { cause: error });
  }
}

export interface BrowserBinding {
  name: string;
  value: string;
  maxAgeS: number;
}

/** The cookie that binds a flow to one browser; one per flow so parallel tabs do not collide. */
export const bindingCookieName = (state: string) => `lpb_${createHash('sha256').update(state).digest('base64url').slice(0, 16)}`;
const hashBinding = (value: string) => createHash('sha256').update(value).digest('base64url');

/**
 * `GET /oauth/authorize?link=…`: consumes the link, starts a flow (state + PKCE verifier kept
 * server-side) and answers where to send the browser and the cookie that binds the flow to it.
 */
export async function startAuthorization(deps: BrokerDeps, linkId: string): Promise<{ location: string; binding: BrowserBinding }> {
  const invalid = (reason: 'unknown' | 'expired' | 'mismatch') =>
    new LinkFlowError(new BrokerError('invalid_link', 400, reason === 'expired' ? 'This link has expired. Ask for a new link.' : 'This link is not valid or was already used. Ask for a new link.'));
  // everything that can fail for a passing reason (discovery, the tenant read) happens before the
  // link is consumed, so an outage does not cost the end user their link
  const peeked = await peekLink(deps.db, linkId);
  if (!peeked) throw invalid('unknown');
  if (peeked.expiresAt <= deps.clock()) throw invalid('expired');
  const flowRef = { tenant: peeked.tenant, account: peeked.account, returnTo: peeked.returnTo };
  let tenant: TenantRecord;
  let as: ServerMetadata;
  try {
    tenant = await reregisterIfSecretExpired(deps, await readTenant(deps, peeked.tenant));
    as = await deps.discovery.get(tenant.issuer);
  } catch (err) {
    throw new LinkFlowError(toBrokerError(err, 'link'), flowRef);
  }
  // a link outlives neither its tenant nor a tenant deleted and registered again under the same id
  if (tenant.createdAt !== peeked.tenantCreatedAt) throw invalid('unknown');
  const now = deps.clock();
  // the link is single-use: consumed by a conditional delete before the flow starts
  const consumed = await consumeLink(deps.db, linkId, now);
  if (!consumed.ok) throw invalid(consumed.reason);
  const link = consumed.record;
  try {
    const state = oauth.generateRandomState();
    const codeVerifier = oauth.generateRandomCodeVerifier();
    const bindingValue = randomBytes(32).toString('base64url');
    const flow: FlowStateRecord = {
      state,
      tenant: link.tenant,
      account: link.account,
      ...(link.returnTo ? { returnTo: link.returnTo } : {}),
      codeVerifier,
      browserHash: hashBinding(bindingValue),
      redirectUri: tenant.redirectUri,
      issuer: tenant.issuer,
      createdBy: link.createdBy,
      tenantCreatedAt: link.tenantCreatedAt,
      expiresAt: now + LINK_TTL_MS,
    };
    await putFlowState(deps.db, flow);
    const location = await authorizationUrl(as, { clientId: tenant.clientId, redirectUri: tenant.redirectUri, scope: tenant.scope, state, codeVerifier });
    return { location, binding: { name: bindingCookieName(state), value: bindingValue, maxAgeS: LINK_TTL_MS / 1000 } };
  } catch (err) {
    throw new LinkFlowError(toBrokerError(err, 'link'), flowRef);
  }
}

/**
 * `GET /oauth/callback`: checks state (single use, unexpired, same browser), issuer (RFC 9207),
 * exchanges the code with the verifier and stores the token set sealed.
 */
export async function completeLink(
  deps: BrokerDeps,
  params: URLSearchParams,
  bindingCookie: (state: string) => string | undefined,
): Promise<{ tenant: string; account: string; returnTo?: string | undefined }> {
  const state = params.get('state');
  if (!state) throw new LinkFlowError(new BrokerError('invalid_state', 400, 'The sign-in answer carries no state. Start again from your link.'));
  const cookie = bindingCookie(state);
  // state is single-use, unexpired and bound to this browser: one conditional delete, before the code is exchanged
  const consumed = await consumeFlowState(deps.db, state, hashBinding(cookie ?? ''), deps.clock());
  if (!consumed.ok) {
    const description = {
      unknown: 'This sign-in answer is not valid or was already used. Start again from your link.',
      expired: 'This sign-in took too long and has expired. Start again from your link.',
      mismatch: 'This sign-in was started in another browser (or cookies are blocked). Open the link again in this browser.',
    }[consumed.reason];
    throw new LinkFlowError(new BrokerError('invalid_state', 400, description));
  }
  const flow = consumed.record;
  // until the tenant is read, failures end on the broker's page: return_to is re-checked first
  const flowRef: { tenant: string; account: string; returnTo?: string | undefined } = { tenant: flow.tenant, account: flow.account };
  try {
    const tenant = await reregisterIfSecretExpired(deps, await readTenant(deps, flow.tenant));
    // the origin must still be one the tenant allows (it may have changed since the link was made)
    flowRef.returnTo = flow.returnTo && isAllowedReturnTo(flow.returnTo, tenant.returnToOrigins) ? flow.returnTo : undefined;
    if (tenant.createdAt !== flow.tenantCreatedAt || tenant.issuer !== flow.issuer || tenant.redirectUri !== flow.redirectUri) {
      throw new BrokerError('conflict', 409, 'The tenant was re-registered while this sign-in was running. Start again from a new link.');
    }
    const as = await deps.discovery.get(flow.issuer);
    let callbackParams: URLSearchParams;
    try {
      // RFC 9207: `iss`, when sent (or promised by metadata), must be the issuer the flow started with
      callbackParams = validateCallback(as, tenant.clientId, params, state);
    } catch (err) {
      if (err instanceof oauth.AuthorizationResponseError) {
        throw new BrokerError('access_denied', 400, `The provider did not link the account: ${err.error}${err.error_description ? ` — ${err.error_description}` : ''}`);
      }
      throw new BrokerError('invalid_request', 400, 'The sign-in answer is malformed or comes from another issuer. Start again from your link.', { cause: err });
    }
    const client = await openTenantClient(deps, tenant);
    const granted = await exchangeCode(deps.http, as, client, callbackParams, flow.redirectUri, flow.codeVerifier, deps.clock);
    if (!granted.refresh_token) throw new BrokerError('upstream_error', 502, 'The provider issued no refresh token, so the broker cannot keep this account linked.');
    const previous = await storeLinkedTokens(deps, flow, { access_token: granted.access_token, refresh_token: granted.refresh_token }, granted.expiresAt, granted.scope ?? tenant.scope);
    deps.tokenCache.delete(TokenCache.key(flow.tenant, flow.account));
    await audit(deps, flow.tenant, 'link.complete', { caller: flow.createdBy, account: flow.account, outcome: previous ? 'relinked' : 'linked' });
    await deps.events.publish('AccountLinked', { tenant: flow.tenant, account: flow.account, relinked: Boolean(previous) });
    // the replaced refresh token is revoked upstream (RFC 7009); the outcome is logged, never thrown
    if (previous) await revokeAccountTokens(deps, tenant, previous, client);
    return { tenant: flow.tenant, account: flow.account, returnTo: flowRef.returnTo };
  } catch (err) {
    const error = toBrokerError(err, 'link');
    // an endpoint that failed may have moved: the next flow rediscovers
    if (error.code === 'upstream_unavailable') deps.discovery.invalidate(flow.issuer);
    await audit(deps, flow.tenant, 'link.complete', { caller: flow.createdBy, account: flow.account, outcome: `failed:${error.code}` }).catch(() => {});
    throw new LinkFlowError(error, flowRef);
  }
}

/** Stores a new token set; re-linking replaces the previous one atomically and answers it. */
async function storeLinkedTokens(
  deps: BrokerDeps,
  flow: FlowStateRecord,
  tokens: AccountTokens,
  expiresAt: number,
  scope: string,
): Promise<AccountRecord | undefined> {
  const sealedTokens = await deps.cipher.seal(tokens, accountTokensContext(flow.tenant, flow.account));
  return withRetries(LINKED_TOKENS_PUT, { what: 'link' }, async () => {
    const now = deps.clock();
    const current = await getAccount(deps.db, flow.tenant, flow.account);
    const record: AccountRecord = {
      tenant: flow.tenant,
      account: flow.account,
      status: 'linked',
      scope,
      issuer: flow.issuer,
      // a fresh item starts from the clock, not from 1: a refresh of a deleted predecessor still in
      // flight can then never match this item's generation (no ABA across unlink and re-link)
      generation: current ? current.generation + 1 : now,
      sealedTokens,
      expiresAt,
      refreshedAt: now,
      linkedAt: now,
      dueAt: nextDueAt(expiresAt, now, deps.config.refreshHorizonS),
    };
    const res = await putLinkedAccount(deps.db, record, current?.generation);
    if (!res.ok) throw new BrokerError('conflict', 409, 'The account changed repeatedly while linking. Try again.');
    return res.previous;
  });
}
