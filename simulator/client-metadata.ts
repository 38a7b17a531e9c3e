/**
 * RFC 7591 client metadata: reading a registration request body into checked metadata, and the
 * client information response (§3.2.1) that registration and RFC 7592 read and update answer.
 */
import type { IncomingMessage } from 'node:http';
import type { SimulatorContext } from './context.js';
import type { ClientRecord, GrantType, TokenEndpointAuthMethod } from './types.js';
import { mediaType } from './http-io.js';
import { invalidClientMetadata, invalidRedirectUri } from './oauth-error.js';
import { AUTH_METHODS, GRANT_TYPES, scopeSupported } from './protocol.js';

/** What a client may ask for; the server decides the rest (auth method, secret, ids). */
export interface RequestedMetadata {
  client_name?: string;
  redirect_uris: string[];
  grant_types: GrantType[];
  response_types: string[];
}

/** A JSON object body, or invalid_client_metadata. */
export function parseMetadataBody(req: IncomingMessage, body: string): Record<string, unknown> {
  if (mediaType(req) !== 'application/json') throw invalidClientMetadata('content type must be application/json');
  let meta: unknown;
  try {
    meta = JSON.parse(body);
  } catch {
    throw invalidClientMetadata('body is not JSON');
  }
  if (typeof meta !== 'object' || meta === null || Array.isArray(meta)) throw invalidClientMetadata('body must be a JSON object');
  return meta as Record<string, unknown>;
}

/** RFC 7591 §2: checks every field this server understands; omitted fields take the RFC's defaults. */
export function checkMetadata(m: Record<string, unknown>): RequestedMetadata {
  const redirectUris = m.redirect_uris;
  if (!Array.isArray(redirectUris) || redirectUris.length === 0) throw invalidRedirectUri('redirect_uris must be a non-empty array');
  for (const uri of redirectUris) assertRedirectUri(uri);

  // RFC 7591 §2: grant_types defaults to authorization_code, response_types to code.
  const grantTypes = stringArray(m.grant_types, 'grant_types') ?? ['authorization_code'];
  const responseTypes = stringArray(m.response_types, 'response_types') ?? ['code'];
  const unknownGrant = grantTypes.find((g) => !(GRANT_TYPES as string[]).includes(g));
  if (unknownGrant !== undefined) throw invalidClientMetadata(`unsupported grant type ${unknownGrant}`);
  const unknownResponse = responseTypes.find((r) => r !== 'code');
  if (unknownResponse !== undefined) throw invalidClientMetadata(`unsupported response type ${unknownResponse}`);
  // RFC 7591 §2.1: response type `code` goes with grant type `authorization_code`, both ways.
  if (responseTypes.includes('code') !== grantTypes.includes('authorization_code')) {
    throw invalidClientMetadata('response_types [code] requires grant_types authorization_code and vice versa');
  }
  if (m.client_name !== undefined && typeof m.client_name !== 'string') throw invalidClientMetadata('client_name must be a string');
  if (m.token_endpoint_auth_method !== undefined && !AUTH_METHODS.includes(m.token_endpoint_auth_method as TokenEndpointAuthMethod)) {
    throw invalidClientMetadata('unsupported token_endpoint_auth_method');
  }
  if (m.scope !== undefined && (typeof m.scope !== 'string' || !scopeSupported(m.scope))) throw invalidClientMetadata('unsupported scope');
  return {
    ...(typeof m.client_name === 'string' ? { client_name: m.client_name } : {}),
    redirect_uris: redirectUris as string[],
    grant_types: [...new Set(grantTypes)] as GrantType[],
    response_types: [...new Set(responseTypes)],
  };
}

/** The RFC 7591 §3.2.1 client information response. */
export function clientInformation(ctx: SimulatorContext, c: ClientRecord): Record<string, unknown> {
  return {
    client_id: c.client_id,
    ...(c.client_name !== undefined ? { client_name: c.client_name } : {}),
    redirect_uris: c.redirect_uris,
    grant_types: c.grant_types,
    response_types: c.response_types,
    token_endpoint_auth_method: c.token_endpoint_auth_method,
    client_id_issued_at: c.client_id_issued_at,
    ...(c.client_secret !== undefined ? { client_secret: c.client_secret, client_secret_expires_at: c.client_secret_expires_at ?? 0 } : {}),
    ...(c.registration_access_token !== undefined
      ? {
          registration_access_token: c.registration_access_token,
          registration_client_uri: `${ctx.url}${ctx.paths.register}/${encodeURIComponent(c.client_id)}`,
        }
      : {}),
  };
}

function assertRedirectUri(uri: unknown): void {
  if (typeof uri !== 'string') throw invalidRedirectUri('redirect_uris must hold strings');
  let parsed: URL;
  try {
    parsed = new URL(uri);
  } catch {
    throw invalidRedirectUri(`not an absolute URL: ${uri}`);
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') throw invalidRedirectUri(`unsupported scheme: ${parsed.protocol}`);
  // RFC 6749 §3.1.2: the redirection endpoint URI must not include a fragment.
  if (uri.includes('#')) throw invalidRedirectUri('redirect_uri must not contain a fragment');
}

function stringArray(v: unknown, name: string): string[] | undefined {
  if (v === undefined) return undefined;
  if (!Array.isArray(v) || v.length === 0 || !v.every((x) => typeof x === 'string')) {
    throw invalidClientMetadata(`${name} must be a non-empty array of strings`);
  }
  return v as string[];
}
