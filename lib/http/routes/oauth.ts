import { createRoute, z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import { bindingCookieName, completeLink, LinkFlowError, startAuthorization } from '../../broker/linking.js';
import type { BrokerDeps } from '../../broker/deps.js';
import { BrokerError } from '../../errors.js';
import { BROWSER_HEADERS, page } from '../pages.js';
import { newRouter, type AppEnv, type DepsProvider } from '../router.js';

const html = (description: string) => ({ description, content: { 'text/html': { schema: z.string() } } });

export const authorizeRoute = createRoute({
  method: 'get',
  path: '/oauth/authorize',
  summary: "End user's browser: consumes the link and redirects to the provider's authorization endpoint",
  request: { query: z.object({ link: z.string().openapi({ param: { name: 'link', in: 'query' } }) }) },
  responses: { 302: { description: 'To the discovered authorization_endpoint with state and an S256 challenge; sets the flow cookie' }, 400: html('Unknown, used or expired link') },
});

export const callbackRoute = createRoute({
  method: 'get',
  path: '/oauth/callback',
  summary: "End user's browser: the provider's redirect back; stores the tokens",
  request: {
    query: z.object({
      code: z.string().optional().openapi({ param: { name: 'code', in: 'query' } }),
      state: z.string().optional().openapi({ param: { name: 'state', in: 'query' } }),
      iss: z.string().optional().openapi({ param: { name: 'iss', in: 'query' } }),
      error: z.string().optional().openapi({ param: { name: 'error', in: 'query' } }),
    }),
  },
  responses: { 303: { description: 'To return_to?status=linked|error' }, 200: html('Account linked'), 400: html('Bad, reused, expired or foreign state; provider error') },
});

const LINK_ID = /^[A-Za-z0-9_-]{43}$/;

export function oauthRoutes(deps: DepsProvider) {
  const app = newRouter();
  app.use('/oauth/*', async (c, next) => {
    await next();
    for (const [k, v] of Object.entries(BROWSER_HEADERS)) c.header(k, v);
  });

  // handlers read the raw query: duplicated parameters must be refused, not collapsed
  app.get('/oauth/authorize', async (c) => {
    try {
      const query = new URL(c.req.url).searchParams;
      const links = query.getAll('link');
      if (links.length !== 1 || !LINK_ID.test(links[0]!)) throw new LinkFlowError(new BrokerError('invalid_link', 400, 'This link is malformed. Ask for a new link.'));
      const d = deps();
      const { location, binding } = await startAuthorization(d, links[0]!);
      const cookie = bindingCookie(d, binding.name);
      setCookie(c, cookie.name, binding.value, {
        httpOnly: true,
        // Lax: the provider's top-level redirect back (a cross-site GET navigation) still carries it
        sameSite: 'Lax',
        secure: cookie.secure,
        path: cookie.path,
        maxAge: binding.maxAgeS,
      });
      return c.redirect(location, 302);
    } catch (err) {
      return failure(c, deps, err);
    }
  });

  app.get('/oauth/callback', async (c) => {
    const d = deps();
    const query = new URL(c.req.url).searchParams;
    let stateForCookie: string | null = null;
    try {
      // RFC 6749 §4.1.2: unrecognised parameters are ignored; a repeated one is refused (which value would count?)
      for (const key of new Set(query.keys())) {
        if (query.getAll(key).length > 1) throw new LinkFlowError(new BrokerError('invalid_request', 400, `The sign-in answer repeats the parameter "${key}". Start again from your link.`));
      }
      stateForCookie = query.get('state');
      const linked = await completeLink(d, query, (state) => getCookie(c, bindingCookie(d, bindingCookieName(state)).name));
      clearBinding(c, d, stateForCookie);
      if (linked.returnTo) return c.redirect(withParams(linked.returnTo, { status: 'linked', account: linked.account }), 303);
      return c.html(page('Account linked', `Your LongPort account is now linked (${linked.account}). You can close this window.`, 'ok'), 200);
    } catch (err) {
      clearBinding(c, d, stateForCookie);
      return failure(c, deps, err);
    }
  });

  // documented routes (handled above, registered for the OpenAPI document only)
  app.openAPIRegistry.registerPath(authorizeRoute);
  app.openAPIRegistry.registerPath(callbackRoute);
  return app;
}

/**
 * Where the flow cookie lives. Over https it is a `__Host-` cookie (Secure, Path=/, no Domain), so a
 * sibling subdomain cannot plant one; over plain http (local mode) it is scoped to the callback path.
 */
function bindingCookie(deps: BrokerDeps, name: string): { name: string; secure: boolean; path: string } {
  const secure = deps.config.publicUrl.startsWith('https:');
  return secure ? { name: `__Host-${name}`, secure, path: '/' } : { name, secure, path: '/oauth/callback' };
}

function clearBinding(c: Context<AppEnv>, deps: BrokerDeps, state: string | null): void {
  if (!state) return;
  const cookie = bindingCookie(deps, bindingCookieName(state));
  deleteCookie(c, cookie.name, { path: cookie.path, secure: cookie.secure });
}

function failure(c: Context<AppEnv>, deps: DepsProvider, err: unknown): Response {
  const flowError = err instanceof LinkFlowError ? err : new LinkFlowError(err instanceof BrokerError ? err : new BrokerError('server_error', 500, 'Something went wrong on our side. Try again from a new link.', { cause: err }));
  const e = flowError.error;
  const log = deps().log;
  if (e.status >= 500) log.error('link.failed', { status: e.status, error: e.code, tenant: flowError.flow?.tenant, account: flowError.flow?.account, err: e });
  else log.info('link.rejected', { status: e.status, error: e.code, tenant: flowError.flow?.tenant, account: flowError.flow?.account });
  if (flowError.flow?.returnTo) {
    return c.redirect(withParams(flowError.flow.returnTo, { status: 'error', error: e.code, account: flowError.flow.account }), 303);
  }
  const status = e.status >= 500 ? e.status : 400;
  if (e.retryAfterS !== undefined) c.header('Retry-After', String(e.retryAfterS));
  return c.html(page('Linking failed', e.description, 'error'), status);
}

function withParams(base: string, params: Record<string, string>): string {
  const url = new URL(base);
  for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
  return url.href;
}
