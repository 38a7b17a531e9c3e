import type { Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { BrokerError, toBrokerError } from '../errors.js';
import type { Logger } from '../log.js';
import { metricFields } from '../metrics.js';
import { isStoreFailure } from '../store/failures.js';
import type { AppEnv } from './app-env.js';
import { BROWSER_HEADERS, failureMessage, page, type PageAction } from './pages.js';

/**
 * The one place a failure becomes an answer: `{ error, error_description }` on the API, the error
 * page on the end user's browser routes. Unknown failures say nothing internal.
 */
export function errorResponse(c: Context<AppEnv>, err: unknown, log: Logger): Response {
  const e = err instanceof HTTPException ? fromHonoRejection(err) : toBrokerError(err);
  const route = c.get('route');
  const fields = { method: c.req.method, route: route ? `${route.method} ${route.path}` : 'unmatched', status: e.status };
  if (e.status >= 500) log.error('request.failed', { ...fields, err: err instanceof Error ? err : e });
  else log.info('request.rejected', { ...fields, error: e.code });
  // an unreachable store is visible from outside: the StoreUnavailable metric (an alarm reads it) and the 503's code
  if (e.status === 503 && isStoreFailure(err)) log.info('metrics', metricFields({ StoreUnavailable: { value: 1 } }));
  if (route?.browser) return browserErrorPage(c, e);
  if (e.retryAfterS !== undefined) c.header('Retry-After', String(e.retryAfterS));
  if (e.status === 401) c.header('WWW-Authenticate', 'Bearer realm="longport-token-broker"');
  c.header('Cache-Control', 'no-store');
  return c.json({ error: e.code, error_description: e.description }, e.status);
}

/** The broker's page for a failed step of the link flow: 400 for anything the browser sent, else the error's status. */
export function browserErrorPage(c: Context<AppEnv>, e: BrokerError, action?: PageAction): Response {
  if (e.retryAfterS !== undefined) c.header('Retry-After', String(e.retryAfterS));
  for (const [k, v] of Object.entries(BROWSER_HEADERS)) c.header(k, v);
  return c.html(page('Linking failed', failureMessage(e), 'error', action), e.status >= 500 ? e.status : 400);
}

/** hono's own rejections of a request: malformed JSON, body limit. */
function fromHonoRejection(err: HTTPException): BrokerError {
  if (err.status === 413) return new BrokerError('payload_too_large', 413, 'the request body is too large');
  if (err.status >= 400 && err.status < 500) return new BrokerError('invalid_request', 400, err.message || 'malformed request');
  return toBrokerError(err);
}
