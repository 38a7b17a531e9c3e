/**
 * What this server supports and where it serves it by default: paths, scopes, client
 * authentication methods, grant types. Discovery publishes exactly these; the endpoints enforce them.
 */
import type { GrantType, SimulatorPaths, TokenEndpointAuthMethod } from './types.js';

export const DEFAULT_PATHS: SimulatorPaths = {
  authorize: '/oauth2/authorize',
  token: '/oauth2/token',
  register: '/oauth2/register',
  revoke: '/oauth2/revoke',
  api: '/v1/quote/get_security_list',
};
/** Where the login page posts to. */
export const LOGIN_PATH = '/login';
export const WELL_KNOWN = '/.well-known/oauth-authorization-server';
export const SCOPES_SUPPORTED = ['3'];
export const DEFAULT_SCOPE = '3';
export const AUTH_METHODS: TokenEndpointAuthMethod[] = ['none', 'client_secret_post', 'client_secret_basic'];
export const GRANT_TYPES: GrantType[] = ['authorization_code', 'refresh_token'];

export function normalizePath(p: string): string {
  const withSlash = p.startsWith('/') ? p : `/${p}`;
  return withSlash.length > 1 ? withSlash.replace(/\/+$/, '') : withSlash;
}

export function scopeSupported(scope: string): boolean {
  const parts = scope.split(' ');
  return parts.length > 0 && parts.every((s) => SCOPES_SUPPORTED.includes(s));
}
