/**
 * RFC 7009 token revocation: the client authenticates as at the token endpoint; a refresh token
 * takes its whole grant with it, an access token only itself; unknown tokens are answered 200.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { SimulatorContext } from './context.js';
import { parseForm, readBody, sendEmpty } from './http-io.js';
import { simulatedFailure, takeStatusFault } from './faults.js';
import { authenticateClient } from './client-authentication.js';
import { invalidRequest, OAuthError } from './oauth-error.js';

export async function revoke(ctx: SimulatorContext, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const { state } = ctx;
  const body = await readBody(req);
  const failWith = takeStatusFault(ctx.faults, 'revocation');
  if (failWith !== undefined) return simulatedFailure(ctx.faults, res, 'revocation', failWith);
  const params = parseForm(req, body);
  const client = authenticateClient(ctx, req, params);
  const token = params.get('token');
  if (token === null) throw invalidRequest('token is required');

  const access = state.accessTokens.get(token);
  const refreshFamilyId = state.refreshTokens.get(token);
  const familyId = access?.familyId ?? refreshFamilyId;
  const family = familyId !== undefined ? state.families.get(familyId) : undefined;
  // RFC 7009 §2.1: a client may only revoke its own tokens.
  if (family && family.clientId !== client.client_id) {
    throw new OAuthError(400, 'unauthorized_client', 'token was not issued to this client');
  }
  // RFC 7009 §2.1: revoking a refresh token ends its grant; revoking an access token ends only it.
  if (family && refreshFamilyId !== undefined) state.revokeFamily(family);
  else if (access) access.revoked = true;
  ctx.stats.revocations.push(token);
  // RFC 7009 §2.2: unknown tokens are answered 200 too.
  sendEmpty(res, 200);
}
