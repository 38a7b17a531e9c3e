/**
 * The route table: which endpoint serves a request (by path and method), the 405 and 404 answers,
 * and the rendering of an OAuthError a handler threw.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { SimulatorContext } from './context.js';
import { sendJson, sendOAuthError } from './http-io.js';
import { OAuthError } from './oauth-error.js';
import { LOGIN_PATH, WELL_KNOWN } from './protocol.js';
import { discovery } from './discovery.js';
import { authorize, login } from './authorization.js';
import { token } from './token-endpoint.js';
import { register } from './registration.js';
import { manageClient } from './client-management.js';
import { revoke } from './revocation.js';
import { securityList } from './security-list-api.js';

export async function route(ctx: SimulatorContext, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', ctx.url);
  const path = url.pathname;
  const method = req.method ?? 'GET';
  const only = (allowed: string, handler: () => Promise<void> | void): Promise<void> | void => {
    if (method === allowed) return handler();
    sendJson(res, 405, { error: 'invalid_request', error_description: `use ${allowed}` }, { Allow: allowed });
  };
  const { paths, opts } = ctx;
  try {
    if (path === WELL_KNOWN + ctx.issuerPath) return await only('GET', () => discovery(ctx, res));
    if (path === paths.authorize) return await only('GET', () => authorize(ctx, url, res));
    if (path === LOGIN_PATH) return await only('POST', () => login(ctx, req, res));
    if (path === paths.token) return await only('POST', () => token(ctx, req, res));
    if (path === paths.register) return await only('POST', () => register(ctx, req, res));
    if (opts.registrationManagement !== false && path.startsWith(`${paths.register}/`)) {
      return await manageClient(ctx, req, res, safeDecode(path.slice(paths.register.length + 1)));
    }
    if (path === paths.revoke && opts.revocation !== false) return await only('POST', () => revoke(ctx, req, res));
    if (path === paths.api) return await only('GET', () => securityList(ctx, req, res));
    sendJson(res, 404, { error: 'not_found', error_description: `no route for ${path}` });
  } catch (err) {
    if (err instanceof OAuthError) return sendOAuthError(res, err);
    throw err;
  }
}

/** A malformed escape just names no client. */
function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return '';
  }
}
