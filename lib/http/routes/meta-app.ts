import { createApp, type App } from '../app.js';
import { createLogger } from '../../log.js';
import { mountGroup } from '../mount.js';
import { metaRoutes } from './meta.js';

/** The `meta` function's app: `/healthz` and `/openapi.json` on the base app, no broker dependencies. */
export function metaApp(): App {
  const app = createApp(createLogger({ base: { service: 'longport-token-broker', function: 'meta' } }));
  mountGroup(app, metaRoutes, undefined);
  return app;
}
