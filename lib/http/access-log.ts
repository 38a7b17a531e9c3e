import type { Context, MiddlewareHandler } from 'hono';
import type { Logger } from '../log.js';
import type { AccessFields, AppEnv } from './app-env.js';
import { matchRoute, routeKey, type Route } from './route-table.js';

/**
 * Adds what a layer learnt of the request (tenant, account, generation, …) to its access log line.
 * One object per request, extended in place: in Node.js 20 an object made by a leading spread
 * (`{ ...fields }`) takes about 2 µs to extend, an object literal with fields after a spread about
 * 1.5 µs to make; `Object.assign` about a tenth of that.
 */
export function noteAccess(c: Context<AppEnv>, fields: AccessFields): void {
  const access = c.get('access');
  if (access) Object.assign(access, fields);
  else c.set('access', Object.assign({}, fields));
}

/** Lines about requests without valid credentials, per second at most: anyone can send those. */
export const UNAUTHENTICATED_LINES_PER_S = 10;

/**
 * One JSON line per `/v1` request, `http.access`: method, route (the table's template, never the
 * raw path; matched here first, for the layers below and the error renderer), status, duration, and
 * what the layers below added (tenant, account, caller label, generation and cache outcome of token
 * reads). It never holds a secret: no header, no query, no body. Requests without valid credentials
 * are logged at a bounded rate, counting what was left out.
 */
export function accessLog(log: Logger, now: () => number = () => performance.now()): MiddlewareHandler<AppEnv> {
  let windowStart = 0;
  let inWindow = 0;
  let suppressed = 0;
  return async (c, next) => {
    const started = now();
    const matched = matchRoute(c.req.method, c.req.path);
    if (matched) c.set('route', matched);
    try {
      await next();
    } finally {
      const status = c.res.status;
      const caller = c.get('caller');
      let write = true;
      // requests without valid credentials are logged at most 10 lines a second, counting what was left out
      if (!caller) {
        const t = now();
        if (t - windowStart >= 1000) {
          windowStart = t;
          inWindow = 0;
        }
        write = inWindow++ < UNAUTHENTICATED_LINES_PER_S;
        if (!write) suppressed += 1;
      }
      if (write) {
        const line = accessLine(c.req.method, c.get('route'), status, now() - started, c.get('access'), caller?.id);
        if (!caller && suppressed > 0) line.suppressedSinceLast = suppressed;
        log.info('http.access', line);
        if (!caller) suppressed = 0;
      }
    }
  };
}

/** The fields of a request's `http.access` line, built with assignments, not spreads (see {@link noteAccess}). */
export function accessLine(method: string, route: Route | undefined, status: number, durationMs: number, access: AccessFields | undefined, callerId: string | undefined): Record<string, unknown> {
  const line: Record<string, unknown> = { method, route: route ? routeKey(route) : 'unmatched', status, durationMs: Math.round(durationMs * 100) / 100 };
  Object.assign(line, access);
  if (callerId !== undefined) line.caller = callerId;
  return line;
}
