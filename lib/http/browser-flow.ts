import type { Context } from 'hono';
import { deleteCookie } from 'hono/cookie';
import type { BrokerDeps } from '../broker/deps.js';
import { LinkFlowError } from '../broker/linking.js';
import { bindingCookieName } from '../broker/linking-secrets.js';
import { toBrokerError } from '../errors.js';
import { metricFields } from '../metrics.js';
import type { AppEnv } from './app-env.js';
import { browserErrorPage } from './errors.js';
import { BROWSER_HEADERS } from './pages.js';

/**
 * What the end user's browser sees of the link flow (`/oauth/*`): every answer carries the browser
 * headers (no caching, no framing, no script, no Referer), and every failure ends on the broker's
 * page or back at the tenant's `return_to` with an error code.
 */
export async function browserAnswer(c: Context<AppEnv>, deps: BrokerDeps, answer: () => Promise<Response>): Promise<Response> {
  let res: Response;
  try {
    res = await answer();
  } catch (err) {
    res = flowFailure(c, deps, err);
  }
  for (const [k, v] of Object.entries(BROWSER_HEADERS)) res.headers.set(k, v);
  return res;
}

/**
 * Where the flow cookie lives. Over https it is a `__Host-` cookie (Secure, Path=/, no Domain), so a
 * sibling subdomain cannot plant one; over plain http (local mode) it is scoped to the callback path.
 */
export function bindingCookie(deps: BrokerDeps, name: string): { name: string; secure: boolean; path: string } {
  const secure = deps.config.publicUrl.startsWith('https:');
  return secure ? { name: `__Host-${name}`, secure, path: '/' } : { name, secure, path: '/oauth/callback' };
}

export function clearBinding(c: Context<AppEnv>, deps: BrokerDeps, state: string | null): void {
  if (!state) return;
  const cookie = bindingCookie(deps, bindingCookieName(state));
  deleteCookie(c, cookie.name, { path: cookie.path, secure: cookie.secure });
}

function flowFailure(c: Context<AppEnv>, deps: BrokerDeps, err: unknown): Response {
  const flowError = err instanceof LinkFlowError ? err : new LinkFlowError(toBrokerError(err, 'link'));
  const e = flowError.error;
  const fields = { status: e.status, error: e.code, tenant: flowError.flow?.tenant, account: flowError.flow?.account };
  if (e.status >= 500) deps.log.error('link.failed', { ...fields, err: e });
  else deps.log.info('link.rejected', fields);
  // a callback that failed for a reason the end user cannot fix (and trying again will not) means linking is broken
  if (c.get('route')?.id === 'callback' && e.status >= 500 && e.status !== 503) {
    deps.log.info('metrics', metricFields({ CallbackFailed: { value: 1, unit: 'Count' } }, {}, deps.clock()));
  }
  if (flowError.flow?.returnTo) {
    // the tenant's page learns the broker's code, never a description
    return c.redirect(withParams(flowError.flow.returnTo, { status: 'error', error: e.code, account: flowError.flow.account }), 303);
  }
  return browserErrorPage(c, e, flowError.options.retryLink ? { href: flowError.options.retryLink, label: 'Try again from your link' } : undefined);
}

export function withParams(base: string, params: Record<string, string>): string {
  const url = new URL(base);
  for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
  return url.href;
}
