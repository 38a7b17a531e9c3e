import { Hono } from 'hono/tiny';
import { bodyLimit } from 'hono/body-limit';
import { BrokerError } from '../errors.js';
import type { Logger } from '../log.js';
import type { AppEnv } from './app-env.js';
import { canonicalPathError } from './canonical-path.js';
import { errorResponse } from './errors.js';

/** JSON bodies are small: a tenant registration is the largest. */
export const MAX_BODY_BYTES = 16 * 1024;

export type App = Hono<AppEnv>;

/**
 * The base every app of the broker starts from (each Lambda function's, the local server's): the
 * canonical-path rule, the body limit, and one renderer for errors and unknown routes.
 */
export function createApp(log: Logger): App {
  const app = new Hono<AppEnv>();
  const limitBody = bodyLimit({
    maxSize: MAX_BODY_BYTES,
    onError: () => {
      throw new BrokerError('payload_too_large', 413, `the request body exceeds ${MAX_BODY_BYTES} bytes`);
    },
  });
  app.use('*', async (c, next) => {
    // the runtimes check the raw path before a URL is parsed; this catches what survives parsing
    const notCanonical = canonicalPathError(c.env?.event?.rawPath ?? c.req.path);
    if (notCanonical) throw notCanonical;
    // a GET or HEAD request has no body (the Fetch standard refuses one): nothing to limit, and the
    // local server does not build the whole Request only to find that out
    if (c.req.method === 'GET' || c.req.method === 'HEAD') return next();
    return limitBody(c, next);
  });
  // the answer names neither the method nor the path: it never echoes what the request supplied
  app.notFound((c) => errorResponse(c, new BrokerError('not_found', 404, 'this API has no such route (GET /openapi.json lists them)'), log));
  app.onError((err, c) => errorResponse(c, err, log));
  return app;
}
