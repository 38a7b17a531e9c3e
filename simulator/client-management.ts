/**
 * RFC 7592 client configuration endpoint (`registration_client_uri`): GET reads the client's
 * current configuration, DELETE deletes it with its grants; both need the registration access token.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { SimulatorContext } from './context.js';
import { NO_STORE, bearerToken, readBody, sendEmpty, sendJson } from './http-io.js';
import { simulatedFailure } from './faults.js';
import { clientInformation } from './client-metadata.js';
import { secretsEqual } from './secrets.js';

export async function manageClient(ctx: SimulatorContext, req: IncomingMessage, res: ServerResponse, clientId: string): Promise<void> {
  await readBody(req);
  if (req.method !== 'GET' && req.method !== 'DELETE') {
    return sendJson(res, 405, { error: 'invalid_request', error_description: 'use GET or DELETE' }, { Allow: 'GET, DELETE' });
  }
  if (ctx.faults.registrationStatus !== undefined) return simulatedFailure(res, ctx.faults.registrationStatus);
  const client = ctx.state.clients.get(clientId);
  const presented = bearerToken(req);
  // RFC 7592 §2: an unknown client and a wrong token look the same (401), so client ids cannot be probed.
  if (!client?.registration_access_token || presented === null || !secretsEqual(presented, client.registration_access_token)) {
    return sendJson(res, 401, { error: 'invalid_token', error_description: 'registration access token required' }, {
      'WWW-Authenticate': 'Bearer error="invalid_token"',
      ...NO_STORE,
    });
  }
  if (req.method === 'GET') return sendJson(res, 200, clientInformation(ctx, client), NO_STORE);
  ctx.state.deleteClient(clientId);
  ctx.stats.clientsDeleted.push(clientId);
  sendEmpty(res, 204);
}
