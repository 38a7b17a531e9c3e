/**
 * RFC 7591 dynamic client registration. The server decides the client type and auth method
 * (§3.2.1): `clientType` says public (`none`, no secret) or confidential (`confidentialAuthMethod`,
 * with a secret that lives `clientSecretTtlS`).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { SimulatorContext } from './context.js';
import type { ClientRecord, TokenEndpointAuthMethod } from './types.js';
import { NO_STORE, readBody, sendJson } from './http-io.js';
import { simulatedFailure, takeStatusFault } from './faults.js';
import { checkMetadata, clientInformation, parseMetadataBody } from './client-metadata.js';
import { issueSecret } from './client-secrets.js';
import { random } from './secrets.js';

export async function register(ctx: SimulatorContext, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const body = await readBody(req);
  const failWith = takeStatusFault(ctx.faults, 'registration');
  if (failWith !== undefined) return simulatedFailure(ctx.faults, res, 'registration', failWith);
  const meta = checkMetadata(parseMetadataBody(req, body));

  // RFC 7591 §3.2.1: the server decides the auth method; the answer states it and the client must honour it.
  const confidential = ctx.opts.clientType === 'confidential';
  const authMethod: TokenEndpointAuthMethod = confidential ? (ctx.opts.confidentialAuthMethod ?? 'client_secret_basic') : 'none';
  const client: ClientRecord = {
    client_id: `lp_${random(12)}`,
    ...(meta.client_name !== undefined ? { client_name: meta.client_name } : {}),
    redirect_uris: meta.redirect_uris,
    grant_types: meta.grant_types,
    response_types: meta.response_types,
    token_endpoint_auth_method: authMethod,
    client_id_issued_at: Math.floor(ctx.clock() / 1000),
    ...(confidential ? issueSecret(ctx.clock(), ctx.opts.clientSecretTtlS) : {}),
    ...(ctx.opts.registrationManagement !== false ? { registration_access_token: random() } : {}),
  };
  ctx.state.clients.set(client.client_id, client);
  ctx.stats.registrations += 1;
  sendJson(res, 201, clientInformation(ctx, client), NO_STORE);
}
