/**
 * RFC 7592 client configuration endpoint (`registration_client_uri`), every method authenticated by
 * the registration access token: GET reads the client's current configuration (a secret the provider
 * rotated included), PUT replaces its metadata, DELETE deletes it with its grants.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { SimulatorContext } from './context.js';
import type { ClientRecord } from './types.js';
import { NO_STORE, bearerToken, readBody, sendEmpty, sendJson } from './http-io.js';
import { simulatedFailure, takeStatusFault } from './faults.js';
import { checkMetadata, clientInformation, parseMetadataBody } from './client-metadata.js';
import { BEARER_CHALLENGE, invalidClientMetadata } from './oauth-error.js';
import { random, secretsEqual } from './secrets.js';

const METHODS = ['GET', 'PUT', 'DELETE'];
/** RFC 7592 §2.2: fields only the server sets, which an update request must not carry. */
const SERVER_FIELDS = ['registration_access_token', 'registration_client_uri', 'client_secret_expires_at', 'client_id_issued_at'];

export async function manageClient(ctx: SimulatorContext, req: IncomingMessage, res: ServerResponse, clientId: string): Promise<void> {
  const body = await readBody(req);
  if (!METHODS.includes(req.method ?? '')) {
    return sendJson(res, 405, { error: 'invalid_request', error_description: `use ${METHODS.join(', ')}` }, { Allow: METHODS.join(', ') });
  }
  const failWith = takeStatusFault(ctx.faults, 'registration');
  if (failWith !== undefined) return simulatedFailure(ctx.faults, res, 'registration', failWith);
  const client = ctx.state.clients.get(clientId);
  const presented = bearerToken(req);
  // RFC 7592 §2: an unknown client and a wrong token look the same (401), so client ids cannot be probed.
  if (!client?.registration_access_token || presented === null || !secretsEqual(presented, client.registration_access_token)) {
    return sendJson(res, 401, { error: 'invalid_token', error_description: 'registration access token required' }, { ...BEARER_CHALLENGE, ...NO_STORE });
  }
  if (req.method === 'DELETE') {
    ctx.state.deleteClient(clientId);
    ctx.stats.clientsDeleted.push(clientId);
    return sendEmpty(res, 204);
  }
  if (req.method === 'PUT') {
    updateClient(client, parseMetadataBody(req, body));
    ctx.stats.clientsUpdated.push(clientId);
  } else {
    ctx.stats.clientsRead.push(clientId);
  }
  // RFC 7592 §3: a rotated registration access token replaces the old one at once.
  if (ctx.opts.registrationAccessTokenRotation) client.registration_access_token = random();
  sendJson(res, 200, clientInformation(ctx, client), NO_STORE);
}

/** RFC 7592 §2.2: the request holds the whole metadata, which replaces the old; omitted fields are deleted. */
function updateClient(client: ClientRecord, body: Record<string, unknown>): void {
  const serverField = SERVER_FIELDS.find((k) => k in body);
  if (serverField !== undefined) throw invalidClientMetadata(`${serverField} is set by the server and must not be sent`);
  if (body.client_id !== client.client_id) throw invalidClientMetadata('client_id must be the client identifier currently issued');
  // RFC 7592 §2.2: a client_secret in the request must be the current one; a client never chooses its own.
  if (body.client_secret !== undefined && (typeof body.client_secret !== 'string' || !secretsEqual(body.client_secret, client.client_secret ?? ''))) {
    throw invalidClientMetadata('client_secret does not match the current secret');
  }
  const meta = checkMetadata(body);
  if (meta.client_name !== undefined) client.client_name = meta.client_name;
  else delete client.client_name;
  client.redirect_uris = meta.redirect_uris;
  client.grant_types = meta.grant_types;
  client.response_types = meta.response_types;
}
