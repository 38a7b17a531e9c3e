import type { BrokerDeps } from '../broker/deps.js';
import { buildBrokerApp } from '../http/broker-app.js';
import type { AnyRouteGroup } from '../http/route-group.js';
import { lambdaDeps } from './aws.js';
import { lambdaHttpHandler } from './lambda.js';

/**
 * The handler of a function that serves `group`'s routes on the broker's dependencies. The cold
 * start builds everything (a configuration error fails it); the app follows the dependencies, so a
 * test that resets them gets a fresh cold start.
 */
export function brokerLambda(group: AnyRouteGroup<BrokerDeps>): ReturnType<typeof lambdaHttpHandler> {
  let built: { deps: BrokerDeps; handler: ReturnType<typeof lambdaHttpHandler> } | undefined;
  const current = () => {
    const deps = lambdaDeps(group.fn);
    if (built?.deps !== deps) built = { deps, handler: lambdaHttpHandler(buildBrokerApp(deps, [group])) };
    return built.handler;
  };
  current();
  return (event, context) => current()(event, context);
}
