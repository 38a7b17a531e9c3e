import openApiDocument from '../openapi.json' with { type: 'json' };
import { defineRoutes } from '../route-group.js';

/**
 * `/healthz` and `/openapi.json`: no dependencies, nothing of the broker loaded. The document is
 * generated from the route table at build time (`npm run openapi`) and served as it is.
 */
export const metaRoutes = defineRoutes<'meta', unknown>('meta', {
  health: ({ c }) => c.json({ ok: true as const }, 200),
  openApi: ({ c }) => c.json(openApiDocument, 200),
});
