/**
 * The route table: which endpoint serves a request (by path and method), the `hang` fault (applied
 * here, the same for every endpoint), the 405 and 404 answers, and the rendering of an OAuthError
 * a handler threw.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { SimulatorContext } from './context.js';
import type { SimulatorEndpoint } from './types.js';
import type { Hangs } from './hangs.js';
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

interface Route {
  endpoint: SimulatorEndpoint;
  /** The one method served; undefined: the handler checks (RFC 7592 serves several). */
  method: string | undefined;
  handle: () => Promise<void> | void;
}

/** The route serving this path, if any. */
function routeFor(ctx: SimulatorContext, req: IncomingMessage, res: ServerResponse, url: URL): Route | undefined {
  const { paths, opts } = ctx;
  const path = url.pathname;
  if (path === WELL_KNOWN + ctx.issuerPath) return { endpoint: 'discovery', method: 'GET', handle: () => discovery(ctx, res) };
  if (path === paths.authorize) return { endpoint: 'authorize', method: 'GET', handle: () => authorize(ctx, url, res) };
  if (path === LOGIN_PATH) return { endpoint: 'authorize', method: 'POST', handle: () => login(ctx, req, res) };
  if (path === paths.token) return { endpoint: 'token', method: 'POST', handle: () => token(ctx, req, res) };
  if (path === paths.register) return { endpoint: 'registration', method: 'POST', handle: () => register(ctx, req, res) };
  if (opts.registrationManagement !== false && path.startsWith(`${paths.register}/`)) {
    const clientId = safeDecode(path.slice(paths.register.length + 1));
    return { endpoint: 'registration', method: undefined, handle: () => manageClient(ctx, req, res, clientId) };
  }
  if (path === paths.revoke && opts.revocation !== false) return { endpoint: 'revocation', method: 'POST', handle: () => revoke(ctx, req, res) };
  if (path === paths.api) return { endpoint: 'api', method: 'GET', handle: () => securityList(ctx, req, res) };
  return undefined;
}

export async function route(ctx: SimulatorContext, hangs: Hangs, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', ctx.url);
  const found = routeFor(ctx, req, res, url);
  if (!found) return sendJson(res, 404, { error: 'not_found', error_description: `no route for ${url.pathname}` });
  ctx.stats.requests[found.endpoint] += 1;
  if (ctx.faults.hang?.includes(found.endpoint)) {
    ctx.stats.hungRequests.push(found.endpoint);
    return hangs.hold(found.endpoint, req, res);
  }
  if (found.method !== undefined && req.method !== found.method) {
    return sendJson(res, 405, { error: 'invalid_request', error_description: `use ${found.method}` }, { Allow: found.method });
  }
  try {
    await found.handle();
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
