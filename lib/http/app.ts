import { OpenAPIHono, createRoute, z } from '@hono/zod-openapi';
import { bodyLimit } from 'hono/body-limit';
import { BrokerError } from '../errors.js';
import { createLogger, type Logger } from '../log.js';
import { errorResponse } from './errors.js';
import type { AppEnv, DepsProvider, RouteGroup } from './router.js';

/** JSON bodies are small: a tenant registration is the largest. */
export const MAX_BODY_BYTES = 16 * 1024;

const fallbackLog = createLogger();

/**
 * Builds the HTTP app from route groups: the Lambda functions mount one or two groups each, the
 * local server mounts them all. Errors and unknown routes answer the contract's JSON error.
 */
export function buildApp(deps: DepsProvider, groups: RouteGroup[], options: { log?: Logger } = {}) {
  const app = new OpenAPIHono<AppEnv>();
  const log = () => options.log ?? safeLog(deps);
  app.use(
    '*',
    bodyLimit({
      maxSize: MAX_BODY_BYTES,
      onError: () => {
        throw new BrokerError('payload_too_large', 413, `the request body exceeds ${MAX_BODY_BYTES} bytes`);
      },
    }),
  );
  for (const group of groups) app.route('/', group(deps));
  app.notFound((c) => errorResponse(c, new BrokerError('not_found', 404, `no route ${c.req.method} ${new URL(c.req.url).pathname}`), log()));
  app.onError((err, c) => errorResponse(c, err, log()));
  return app;
}

function safeLog(deps: DepsProvider): Logger {
  try {
    return deps().log;
  } catch {
    return fallbackLog;
  }
}

export const healthRoute = createRoute({
  method: 'get',
  path: '/healthz',
  summary: 'Liveness',
  responses: { 200: { description: 'Alive', content: { 'application/json': { schema: z.object({ ok: z.literal(true) }) } } } },
});

export const openApiRoute = createRoute({
  method: 'get',
  path: '/openapi.json',
  summary: 'This OpenAPI 3.1 document',
  responses: { 200: { description: 'The OpenAPI 3.1 document of this API', content: { 'application/json': { schema: z.object({ openapi: z.string() }).passthrough() } } } },
});

/** `/healthz` and `/openapi.json`; the document is built from the same schemas that validate input. */
export function metaRoutes(documented: RouteGroup[]): RouteGroup {
  return () => {
    const app = new OpenAPIHono<AppEnv>();
    app.openapi(healthRoute, (c) => c.json({ ok: true as const }, 200));
    let document: unknown;
    app.get('/openapi.json', (c) => {
      document ??= openApiDocument(documented);
      return c.json(document as object);
    });
    return app;
  };
}

export function openApiDocument(groups: RouteGroup[]) {
  const app = new OpenAPIHono<AppEnv>();
  const noDeps: DepsProvider = () => {
    throw new Error('the OpenAPI document is built without dependencies');
  };
  for (const group of groups) app.route('/', group(noDeps));
  app.openapi(healthRoute, (c) => c.json({ ok: true as const }, 200));
  app.openAPIRegistry.registerPath(openApiRoute);
  app.openAPIRegistry.registerComponent('securitySchemes', 'iam', { type: 'apiKey', in: 'header', name: 'Authorization', description: 'AWS: SigV4-signed request (API Gateway IAM authorization)' });
  app.openAPIRegistry.registerComponent('securitySchemes', 'bearer', { type: 'http', scheme: 'bearer', description: 'Local mode: BROKER_ADMIN_TOKEN or a BROKER_API_KEYS key' });
  return app.getOpenAPI31Document({
    openapi: '3.1.0',
    info: { title: 'longport-token-broker', version: '0.1.0', description: 'OAuth 2.0 token broker for LongPort OpenAPI' },
  });
}
