import { isLoopbackHost } from '../config.js';
import { BrokerError } from '../errors.js';

/**
 * Where a finished link flow may send the browser. Only absolute http(s) URLs whose exact origin the
 * tenant registered; no user-info (`https://good@evil`), no scheme-relative (`//evil`) forms.
 * Plain http is accepted only for loopback origins.
 */
export function checkOrigins(origins: string[]): string[] {
  if (origins.length > 20) throw invalid('return_to_origins takes at most 20 origins');
  return origins.map((raw) => {
    const url = parseAbsolute(raw, 'return_to_origins');
    if (url.origin !== raw.replace(/\/$/, '')) throw invalid(`return_to_origins: "${raw}" is not an origin (scheme://host[:port], no path)`);
    return url.origin;
  });
}

export function checkReturnTo(returnTo: string, allowedOrigins: string[]): string {
  const url = parseAbsolute(returnTo, 'return_to');
  if (!allowedOrigins.includes(url.origin)) {
    throw invalid(`return_to must be on one of the tenant's return_to_origins (${allowedOrigins.join(', ') || 'none registered'})`);
  }
  return url.href;
}

/** The same rule as {@link checkReturnTo}, as a yes/no. */
export function isAllowedReturnTo(returnTo: string, allowedOrigins: string[]): boolean {
  try {
    checkReturnTo(returnTo, allowedOrigins);
    return true;
  } catch {
    return false;
  }
}

function parseAbsolute(raw: string, field: string): URL {
  // only scheme://… forms; `//evil` or `/path` are not absolute and must not resolve against anything
  if (!/^https?:\/\//i.test(raw)) throw invalid(`${field} must be an absolute http(s) URL`);
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw invalid(`${field} must be an absolute http(s) URL`);
  }
  if (url.username || url.password) throw invalid(`${field} must not contain user information`);
  if (url.protocol === 'http:' && !isLoopbackHost(url.hostname)) throw invalid(`${field} must use https (http only on loopback)`);
  if (raw.length > 2048) throw invalid(`${field} is too long`);
  return url;
}

const invalid = (description: string) => new BrokerError('invalid_request', 400, description);
