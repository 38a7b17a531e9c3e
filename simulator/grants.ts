/**
 * What the token endpoint does once a request is let through: the authorization_code grant with
 * PKCE (RFC 6749 §4.1.3, RFC 7636 §4.6) and the refresh_token grant with rotation and reuse
 * detection (RFC 6749 §6, OAuth 2.0 Security BCP §4.14.2). Synchronous from the first check to the
 * commit, so two concurrent requests can never both redeem one code or one refresh token.
 */
import type { IncomingMessage } from 'node:http';
import type { SimulatorContext } from './context.js';
import type { ClientRecord, GrantType } from './types.js';
import type { GrantFamily } from './state.js';
import { authenticateClient } from './client-authentication.js';
import { invalidGrant, invalidRequest, OAuthError } from './oauth-error.js';
import { GRANT_TYPES } from './protocol.js';
import { random, s256, secretsEqual } from './secrets.js';

/** RFC 7636 §4.1: 43–128 unreserved characters. */
const CODE_VERIFIER_RE = /^[A-Za-z0-9\-._~]{43,128}$/;

/** A successful token response body (RFC 6749 §5.1). */
export type TokenAnswer = Record<string, unknown>;

export function grant(ctx: SimulatorContext, req: IncomingMessage, params: URLSearchParams): TokenAnswer {
  const client = authenticateClient(ctx, req, params);
  const grantType = params.get('grant_type');
  if (grantType === null) throw invalidRequest('grant_type is required');
  if (!(GRANT_TYPES as string[]).includes(grantType)) {
    throw new OAuthError(400, 'unsupported_grant_type', `grant_type ${grantType} is not supported`);
  }
  if (!client.grant_types.includes(grantType as GrantType)) {
    throw new OAuthError(400, 'unauthorized_client', `client is not registered for ${grantType}`);
  }
  return grantType === 'authorization_code' ? codeGrant(ctx, client, params) : refreshGrant(ctx, client, params);
}

/** RFC 6749 §4.1.3 with RFC 7636 §4.6. */
function codeGrant(ctx: SimulatorContext, client: ClientRecord, params: URLSearchParams): TokenAnswer {
  const { state } = ctx;
  const codeValue = params.get('code');
  if (codeValue === null) throw invalidRequest('code is required');
  const code = state.codes.get(codeValue);
  if (!code || code.clientId !== client.client_id) throw invalidGrant('unknown authorization code');
  // RFC 6749 §4.1.2: a code is single-use; a replay also revokes what the code produced.
  if (code.used) {
    const family = code.familyId !== null ? state.families.get(code.familyId) : undefined;
    if (family) state.revokeFamily(family);
    throw invalidGrant('authorization code was already used');
  }
  // Burnt by its first redemption attempt, successful or not, so the verifier cannot be guessed.
  code.used = true;
  if (code.expiresAt <= ctx.clock()) throw invalidGrant('authorization code expired');
  if (params.get('redirect_uri') !== code.redirectUri) throw invalidGrant('redirect_uri does not match the authorization request');
  const verifier = params.get('code_verifier');
  if (verifier === null || !CODE_VERIFIER_RE.test(verifier) || !secretsEqual(s256(verifier), code.codeChallenge)) {
    throw invalidGrant('PKCE verification failed');
  }

  const family = state.startFamily(client.client_id, code.scope);
  code.familyId = family.id;
  ctx.stats.codeGrants += 1;
  return issueTokens(ctx, family, true);
}

/** RFC 6749 §6, with refresh-token rotation and reuse detection (OAuth 2.0 Security BCP §4.14.2). */
function refreshGrant(ctx: SimulatorContext, client: ClientRecord, params: URLSearchParams): TokenAnswer {
  const { state, stats } = ctx;
  const presented = params.get('refresh_token');
  if (presented === null) throw invalidRequest('refresh_token is required');
  const familyId = state.refreshTokens.get(presented);
  const family = familyId !== undefined ? state.families.get(familyId) : undefined;
  if (!family || family.clientId !== client.client_id) throw invalidGrant('unknown refresh token');
  stats.refreshGrantsByToken.set(presented, (stats.refreshGrantsByToken.get(presented) ?? 0) + 1);
  if (family.revoked) throw invalidGrant('refresh token was revoked');
  // A rotated-out refresh token came back: someone holds a copy, so the whole family dies.
  if (presented !== family.currentRefreshToken) {
    state.revokeFamily(family);
    stats.reuseDetected += 1;
    throw invalidGrant('refresh token was already used');
  }
  const scope = params.get('scope');
  // RFC 6749 §6: a refresh may narrow the scope, never widen it.
  if (scope !== null && !scope.split(' ').every((s) => family.scope.split(' ').includes(s))) {
    throw new OAuthError(400, 'invalid_scope', 'scope exceeds the original grant');
  }
  stats.refreshGrants += 1;
  return issueTokens(ctx, family, ctx.faults.rotation !== false, scope ?? undefined);
}

/** Mints an access token (and, when rotating, a new refresh token that replaces the current one). */
export function issueTokens(ctx: SimulatorContext, family: GrantFamily, newRefreshToken: boolean, scope = family.scope): TokenAnswer {
  const prefix = ctx.opts.tokenPrefix ?? '';
  const ttlS = accessTokenTtlS(ctx);
  const accessToken = `${prefix}at_${random()}`;
  ctx.state.accessTokens.set(accessToken, { familyId: family.id, expiresAt: ctx.clock() + ttlS * 1000, revoked: false });
  family.accessTokens.add(accessToken);
  if (newRefreshToken) {
    const refreshToken = `${prefix}rt_${random()}`;
    ctx.state.refreshTokens.set(refreshToken, family.id);
    family.currentRefreshToken = refreshToken;
  }
  return {
    access_token: accessToken,
    token_type: 'Bearer',
    ...(ctx.faults.omitExpiresIn ? {} : { expires_in: ttlS }),
    ...(newRefreshToken ? { refresh_token: family.currentRefreshToken } : {}),
    scope,
  };
}

export function accessTokenTtlS(ctx: SimulatorContext): number {
  return ctx.opts.accessTokenTtlS ?? 3600;
}
