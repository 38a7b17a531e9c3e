import * as oauth from 'oauth4webapi';
import { BrokerError, toBrokerError } from '../errors.js';
import type { ClientType, TokenEndpointAuthMethod } from '../store/records.js';
import type { ServerMetadata } from './discovery.js';
import { insecureAllowedFor, rejectTransientStatus, requestOptions, type UpstreamHttp } from './upstream.js';

/**
 * The broker's OAuth client operations: thin, spec-shaped wrappers over oauth4webapi. They take the
 * server metadata and the client as arguments and keep no state.
 */
export interface OAuthClient {
  client_id: string;
  token_endpoint_auth_method: TokenEndpointAuthMethod;
  client_secret?: string | undefined;
}

/** Client authentication exactly as the registration answer stated it; `none` never sends a secret. */
function clientAuth(client: OAuthClient): oauth.ClientAuth {
  switch (client.token_endpoint_auth_method) {
    case 'none':
      return oauth.None();
    case 'client_secret_post':
      return oauth.ClientSecretPost(requireSecret(client));
    case 'client_secret_basic':
      return oauth.ClientSecretBasic(requireSecret(client));
  }
}

function requireSecret(client: OAuthClient): string {
  if (!client.client_secret) throw new BrokerError('server_error', 500, `client ${client.client_id} uses ${client.token_endpoint_auth_method} but no client secret is stored`);
  return client.client_secret;
}

const SUPPORTED_AUTH: readonly TokenEndpointAuthMethod[] = ['none', 'client_secret_post', 'client_secret_basic'];

export interface RegisteredClient extends OAuthClient {
  client_type: ClientType;
  client_secret_expires_at?: number;
  registration_access_token?: string;
  registration_client_uri?: string;
}

/** RFC 7591 §3: registers a client with the body LongPort documents. */
export async function registerClient(http: UpstreamHttp, as: ServerMetadata, request: { clientName: string; redirectUri: string; scope: string }): Promise<RegisteredClient> {
  if (!as.registration_endpoint) {
    throw new BrokerError('invalid_request', 400, `the authorization server ${as.issuer} offers no dynamic registration; import a pre-registered client with client_id`);
  }
  let answer: Awaited<ReturnType<typeof oauth.processDynamicClientRegistrationResponse>>;
  try {
    const response = await oauth.dynamicClientRegistrationRequest(
      as,
      {
        client_name: request.clientName,
        redirect_uris: [request.redirectUri],
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
        scope: request.scope,
      },
      requestOptions(http, as.issuer),
    );
    rejectTransientStatus(response, 'client registration');
    answer = await oauth.processDynamicClientRegistrationResponse(response);
  } catch (err) {
    throw toBrokerError(err, 'client registration');
  }
  const secret = typeof answer.client_secret === 'string' && answer.client_secret ? answer.client_secret : undefined;
  // RFC 7591 §2: the default method is client_secret_basic; a public client (no secret) is `none`
  const stated = answer.token_endpoint_auth_method as string | undefined;
  const method = (stated ?? (secret ? 'client_secret_basic' : 'none')) as TokenEndpointAuthMethod;
  if (!SUPPORTED_AUTH.includes(method)) {
    throw new BrokerError('upstream_error', 502, `the provider registered the client with token_endpoint_auth_method "${method}", which the broker does not support`);
  }
  if (method !== 'none' && !secret) {
    throw new BrokerError('upstream_error', 502, `the provider registered the client with ${method} but issued no client_secret`);
  }
  const out: RegisteredClient = {
    client_id: answer.client_id,
    token_endpoint_auth_method: method,
    client_type: method === 'none' ? 'public' : 'confidential',
    // a public client keeps no secret anywhere, even when the server sent one
    ...(method !== 'none' && secret ? { client_secret: secret } : {}),
  };
  if (typeof answer.client_secret_expires_at === 'number') out.client_secret_expires_at = answer.client_secret_expires_at;
  if (typeof answer.registration_access_token === 'string') out.registration_access_token = answer.registration_access_token;
  if (typeof answer.registration_client_uri === 'string') out.registration_client_uri = answer.registration_client_uri;
  return out;
}

/** RFC 6749 §4.1.1 + RFC 7636 §4.3: the authorization request URL, with state and an S256 challenge. */
export async function authorizationUrl(
  as: ServerMetadata,
  request: { clientId: string; redirectUri: string; scope: string; state: string; codeVerifier: string },
): Promise<string> {
  const url = new URL(as.authorization_endpoint!);
  url.searchParams.set('response_type', 'code');
  url.searchParams.set('client_id', request.clientId);
  url.searchParams.set('redirect_uri', request.redirectUri);
  url.searchParams.set('scope', request.scope);
  url.searchParams.set('state', request.state);
  url.searchParams.set('code_challenge', await oauth.calculatePKCECodeChallenge(request.codeVerifier));
  url.searchParams.set('code_challenge_method', 'S256');
  return url.href;
}

/** A token endpoint answer, reduced to what the broker stores; times from the local receipt. */
export interface GrantedTokens {
  access_token: string;
  /** Absent when the server did not rotate: the stored refresh token stays. */
  refresh_token?: string;
  /** ms epoch: receipt time + `expires_in` (3600 s when the server omits it). */
  expiresAt: number;
  scope?: string;
}

export const DEFAULT_EXPIRES_IN_S = 3600;

function toGranted(answer: oauth.TokenEndpointResponse, receivedAt: number): GrantedTokens {
  if (answer.token_type.toLowerCase() !== 'bearer') {
    throw new BrokerError('upstream_error', 502, `the provider issued a "${answer.token_type}" token; the broker supports Bearer tokens only`);
  }
  const expiresIn = typeof answer.expires_in === 'number' && answer.expires_in > 0 ? answer.expires_in : DEFAULT_EXPIRES_IN_S;
  return {
    access_token: answer.access_token,
    ...(answer.refresh_token ? { refresh_token: answer.refresh_token } : {}),
    expiresAt: receivedAt + expiresIn * 1000,
    ...(answer.scope ? { scope: answer.scope } : {}),
  };
}

/** LongPort routes token calls by data centre: `us` for credentials that start with `us_`, else `ap`. */
function dcRegionHeader(credential: string): Record<string, string> {
  return { 'x-dc-region': credential.startsWith('us_') ? 'us' : 'ap' };
}

/**
 * RFC 9207 + RFC 6749 §4.1.2: validates the authorization response (state, `iss` when sent or
 * required, provider errors) and answers the parameters for the code exchange.
 */
export function validateCallback(as: ServerMetadata, clientId: string, params: URLSearchParams, expectedState: string): URLSearchParams {
  return oauth.validateAuthResponse(as, { client_id: clientId }, params, expectedState);
}

/** RFC 6749 §4.1.3 + RFC 7636 §4.5: exchanges the code with the verifier. */
export async function exchangeCode(
  http: UpstreamHttp,
  as: ServerMetadata,
  client: OAuthClient,
  callbackParams: URLSearchParams,
  redirectUri: string,
  codeVerifier: string,
  clock: () => number,
): Promise<GrantedTokens> {
  try {
    const code = callbackParams.get('code') ?? '';
    const response = await oauth.authorizationCodeGrantRequest(as, { client_id: client.client_id }, clientAuth(client), callbackParams, redirectUri, codeVerifier, {
      ...requestOptions(http, as.issuer),
      headers: dcRegionHeader(code),
    });
    const receivedAt = clock();
    rejectTransientStatus(response, 'code exchange');
    return toGranted(await oauth.processAuthorizationCodeResponse(as, { client_id: client.client_id }, response), receivedAt);
  } catch (err) {
    throw toBrokerError(err, 'code exchange');
  }
}

/** RFC 6749 §6: refresh grant. */
export async function refreshGrant(http: UpstreamHttp, as: ServerMetadata, client: OAuthClient, refreshToken: string, clock: () => number): Promise<GrantedTokens> {
  try {
    const response = await oauth.refreshTokenGrantRequest(as, { client_id: client.client_id }, clientAuth(client), refreshToken, {
      ...requestOptions(http, as.issuer),
      headers: dcRegionHeader(refreshToken),
    });
    const receivedAt = clock();
    rejectTransientStatus(response, 'refresh');
    return toGranted(await oauth.processRefreshTokenResponse(as, { client_id: client.client_id }, response), receivedAt);
  } catch (err) {
    throw toBrokerError(err, 'refresh');
  }
}

/** RFC 7009 §2: revokes a token; answers false when the server names no revocation endpoint. */
export async function revokeToken(http: UpstreamHttp, as: ServerMetadata, client: OAuthClient, token: string, hint: 'refresh_token' | 'access_token'): Promise<boolean> {
  if (!as.revocation_endpoint) return false;
  try {
    const response = await oauth.revocationRequest(as, { client_id: client.client_id }, clientAuth(client), token, {
      ...requestOptions(http, as.issuer),
      additionalParameters: { token_type_hint: hint },
      headers: dcRegionHeader(token),
    });
    rejectTransientStatus(response, 'revocation');
    await oauth.processRevocationResponse(response);
    return true;
  } catch (err) {
    throw toBrokerError(err, 'revocation');
  }
}

/** A bearer credential travels only over https (plain http only for a loopback issuer, for local testing). */
function assertBearerTarget(issuer: string, registrationClientUri: string, what: string): void {
  const target = new URL(registrationClientUri);
  if (target.protocol !== 'https:' && !(target.protocol === 'http:' && insecureAllowedFor(issuer))) {
    throw new BrokerError('upstream_error', 502, `${what}: the registration_client_uri is not an https URL; nothing was sent`);
  }
}

/** What an RFC 7592 read answers about the client's credentials. */
export interface ClientCredentialsRead {
  client_id: string;
  client_secret?: string;
  /** Epoch s, 0 = never (RFC 7591 §3.2.1). */
  client_secret_expires_at?: number;
  /** RFC 7592 §3: the server may rotate it with every read; the new one replaces the old at once. */
  registration_access_token?: string;
}

/**
 * RFC 7592 §2.1 (https://www.rfc-editor.org/rfc/rfc7592#section-2.1): reads the client's current
 * configuration with its registration access token, which holds a secret the provider rotated.
 */
export async function readRegisteredClient(http: UpstreamHttp, issuer: string, registrationClientUri: string, registrationAccessToken: string): Promise<ClientCredentialsRead> {
  assertBearerTarget(issuer, registrationClientUri, 'client read');
  try {
    const response = await http.fetch(registrationClientUri, {
      method: 'GET',
      headers: { authorization: `Bearer ${registrationAccessToken}`, accept: 'application/json' },
      signal: AbortSignal.timeout(http.timeoutMs),
      redirect: 'manual',
    });
    rejectTransientStatus(response, 'client read');
    if (response.status !== 200) {
      await response.body?.cancel();
      throw new BrokerError('upstream_error', 502, `client read: the provider answered HTTP ${response.status}`);
    }
    const body = (await response.json()) as Record<string, unknown>;
    if (typeof body.client_id !== 'string') throw new BrokerError('upstream_error', 502, 'client read: the answer holds no client_id');
    return {
      client_id: body.client_id,
      ...(typeof body.client_secret === 'string' && body.client_secret ? { client_secret: body.client_secret } : {}),
      ...(typeof body.client_secret_expires_at === 'number' ? { client_secret_expires_at: body.client_secret_expires_at } : {}),
      ...(typeof body.registration_access_token === 'string' && body.registration_access_token ? { registration_access_token: body.registration_access_token } : {}),
    };
  } catch (err) {
    throw toBrokerError(err, 'client read');
  }
}

/** RFC 7592 §2.3: deletes the client at its configuration endpoint. */
export async function deleteRegisteredClient(http: UpstreamHttp, issuer: string, registrationClientUri: string, registrationAccessToken: string): Promise<void> {
  assertBearerTarget(issuer, registrationClientUri, 'client deletion');
  try {
    const response = await http.fetch(registrationClientUri, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${registrationAccessToken}` },
      signal: AbortSignal.timeout(http.timeoutMs),
      redirect: 'manual',
    });
    rejectTransientStatus(response, 'client deletion');
    // 204 deleted; 401/404: the client is already gone or the token no longer valid — nothing left to do
    if (response.status !== 204 && response.status !== 200 && response.status !== 401 && response.status !== 404) {
      throw new BrokerError('upstream_error', 502, `client deletion: the provider answered HTTP ${response.status}`);
    }
  } catch (err) {
    throw toBrokerError(err, 'client deletion');
  }
}
