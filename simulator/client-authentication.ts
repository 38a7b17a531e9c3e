/**
 * Client authentication at the token and revocation endpoints (RFC 6749 §2.3): exactly the method
 * the client registered, with a secret that is current (`client-secrets.ts`), nothing else.
 *
 * Every failure is `invalid_client` with HTTP 401 and a `Basic` challenge (RFC 6749 §5.2). The RFC
 * requires exactly that when the client authenticated with the Authorization header; for credentials
 * in the body (or none) it allows 400 or 401, and this server answers 401 there too, naming the
 * scheme it supports, as RFC 7235 §3.1 wants of every 401.
 */
import type { IncomingMessage } from 'node:http';
import type { SimulatorContext } from './context.js';
import type { ClientRecord } from './types.js';
import { invalidClient, invalidRequest } from './oauth-error.js';
import { checkSecret } from './client-secrets.js';

/** Credentials from `Authorization: Basic`, each half form-decoded (RFC 6749 §2.3.1). */
export function parseBasic(header: string): { id: string; secret: string } {
  const match = /^Basic +([A-Za-z0-9+/=]+) *$/i.exec(header);
  if (!match) throw invalidClient('unsupported or malformed Authorization header');
  const decoded = Buffer.from(match[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) throw invalidClient('malformed Basic credentials');
  try {
    const formDecode = (s: string) => decodeURIComponent(s.replace(/\+/g, ' '));
    return { id: formDecode(decoded.slice(0, colon)), secret: formDecode(decoded.slice(colon + 1)) };
  } catch {
    throw invalidClient('Basic credentials are not form-encoded');
  }
}

/** RFC 6749 §2.3: exactly the method the client registered, nothing else. */
export function authenticateClient(ctx: SimulatorContext, req: IncomingMessage, params: URLSearchParams): ClientRecord {
  const header = req.headers.authorization;
  const basic = header !== undefined ? parseBasic(header) : null;
  const bodyId = params.get('client_id');
  const bodySecret = params.get('client_secret');
  // RFC 6749 §2.3: a client must not use more than one authentication method per request.
  if (basic && bodySecret !== null) throw invalidRequest('client credentials in both the header and the body');
  if (basic && bodyId !== null && bodyId !== basic.id) throw invalidClient('client_id differs from the Basic credentials');
  const clientId = basic?.id ?? bodyId;
  if (clientId === null) throw invalidClient('client authentication required');
  const client = ctx.state.clients.get(clientId);
  if (!client) throw invalidClient('unknown client');

  switch (client.token_endpoint_auth_method) {
    case 'none':
      // A public client has no secret: presenting one means the caller ignored the registration answer.
      if (basic || bodySecret !== null) throw invalidClient('public client must not send a client secret');
      return client;
    case 'client_secret_post':
      if (basic) throw invalidClient('client is registered for client_secret_post');
      if (bodySecret === null) throw invalidClient('client authentication required');
      return withSecret(ctx, client, bodySecret);
    case 'client_secret_basic':
      if (!basic) throw invalidClient('client is registered for client_secret_basic');
      return withSecret(ctx, client, basic.secret);
  }
}

function withSecret(ctx: SimulatorContext, client: ClientRecord, presented: string): ClientRecord {
  const check = checkSecret(client, presented, ctx.clock());
  if (check === 'expired') throw invalidClient('client secret expired');
  if (check === 'wrong') throw invalidClient('client authentication failed');
  return client;
}
