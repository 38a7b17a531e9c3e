/**
 * RFC 8414 authorization server metadata: the document every other endpoint is read from. Its
 * faults make it fail, claim another issuer, or offer only `plain` PKCE.
 */
import type { ServerResponse } from 'node:http';
import type { SimulatorContext } from './context.js';
import { sendJson } from './http-io.js';
import { simulatedFailure } from './faults.js';
import { AUTH_METHODS, GRANT_TYPES, SCOPES_SUPPORTED } from './protocol.js';

export function discovery(ctx: SimulatorContext, res: ServerResponse): void {
  const f = ctx.faults;
  if (f.discoveryStatus !== undefined) return simulatedFailure(f, res, 'discovery', f.discoveryStatus);
  const at = (p: string) => ctx.url + p;
  sendJson(res, 200, {
    issuer: f.issuerOverride ?? ctx.issuer,
    authorization_endpoint: at(ctx.paths.authorize),
    token_endpoint: at(ctx.paths.token),
    registration_endpoint: at(ctx.paths.register),
    ...(ctx.opts.revocation !== false
      ? { revocation_endpoint: at(ctx.paths.revoke), revocation_endpoint_auth_methods_supported: AUTH_METHODS }
      : {}),
    response_types_supported: ['code'],
    response_modes_supported: ['query'],
    grant_types_supported: GRANT_TYPES,
    code_challenge_methods_supported: f.noS256 ? ['plain'] : ['S256'],
    token_endpoint_auth_methods_supported: AUTH_METHODS,
    authorization_response_iss_parameter_supported: ctx.opts.sendIss !== false,
    scopes_supported: SCOPES_SUPPORTED,
  });
}
