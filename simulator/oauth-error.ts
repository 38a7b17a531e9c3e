/**
 * The one error type of the simulator: an OAuth error answer `{ error, error_description }`
 * (RFC 6749 §5.2, RFC 7591 §3.2.2) with its HTTP status and headers. Handlers throw it; the router
 * renders it.
 */

export class OAuthError extends Error {
  constructor(
    readonly status: number,
    readonly error: string,
    readonly description: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(`${error}: ${description}`);
  }
}

export const invalidRequest = (d: string) => new OAuthError(400, 'invalid_request', d);
export const invalidGrant = (d: string) => new OAuthError(400, 'invalid_grant', d);
export const invalidClientMetadata = (d: string) => new OAuthError(400, 'invalid_client_metadata', d);
export const invalidRedirectUri = (d: string) => new OAuthError(400, 'invalid_redirect_uri', d);

/** The challenge sent with every 401 of the token and revocation endpoints (RFC 7235 §3.1 wants one with each 401). */
export const BASIC_CHALLENGE = { 'WWW-Authenticate': 'Basic realm="longport-simulator"' };

/** The challenge of a 401 at the RFC 7592 client configuration endpoint (RFC 6750 §3). */
export const BEARER_CHALLENGE = { 'WWW-Authenticate': 'Bearer error="invalid_token"' };

/* Precondition: a failed client authentication answers 401 invalid_client with a Basic challenge (RFC 6749 §5.2). */
export const invalidClient = (d: string) => new OAuthError(401, 'invalid_client', d, BASIC_CHALLENGE);
