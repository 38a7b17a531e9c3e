import type { BrokerDeps } from '../broker/deps.js';
import { accessLog } from './access-log.js';
import { createApp, type App } from './app.js';
import { identifyCaller } from './callers.js';
import { mountGroup } from './mount.js';
import type { AnyRouteGroup } from './route-group.js';

/**
 * The app of one or more route groups on the broker's dependencies: a Lambda function mounts its
 * own group, the local server every group. Every `/v1` request has its route matched and is
 * access-logged, then has its caller identified, once, before its route runs.
 */
export function buildBrokerApp(deps: BrokerDeps, groups: readonly AnyRouteGroup<BrokerDeps>[]): App {
  const app = createApp(deps.log);
  app.use('/v1/*', accessLog(deps.log));
  app.use('/v1/*', identifyCaller(deps));
  for (const group of groups) mountGroup(app, group, deps);
  return app;
}
