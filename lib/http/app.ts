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
  app.use('*', async (c, next) => {
    // the runtimes check the raw path before a URL is parsed; this catches what survives parsing
    const notCanonical = canonicalPathError(c.env?.event?.rawPath ?? c.req.path);
    if (notCanonical) throw notCanonical;
    await next();
  });
  app.use(
    '*',
    bodyLimit({
      maxSize: MAX_BODY_BYTES,
      onError: () => {
        throw new BrokerError('payload_too_large', 413, `the request body exceeds ${MAX_BODY_BYTES} bytes`);
      },
    }),
  );
  // the answer names neither the method nor the path: it never echoes what the request supplied
  app.notFound((c) => errorResponse(c, new BrokerError('not_found', 404, 'this API has no such route (GET /openapi.json lists them)'), log));
  app.onError((err, c) => errorResponse(c, err, log));
  return app;
}
