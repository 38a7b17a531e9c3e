import type { BrokerDeps } from '../broker/deps.js';
import { lambdaRuntimeApi } from '../config.js';
import { buildBrokerApp } from '../http/broker-app.js';
import type { AnyRouteGroup } from '../http/route-group.js';
import { createLogger } from '../log.js';
import { registerAfterResponse, type InvocationContext } from './after-response.js';
import { lambdaDeps } from './aws.js';
import { lambdaHttpHandler } from './lambda.js';

/* Registered during init (a top-level await): background work goes on after each answer (after-response.ts). */
const afterResponse = await registerAfterResponse(lambdaRuntimeApi(), createLogger({ base: { service: 'longport-token-broker' } }));

/**
 * The handler of a function that serves `group`'s routes on the broker's dependencies. The cold
 * start builds everything (a configuration error fails it); the app follows the dependencies, so a
 * test that resets them gets a fresh cold start. Work an invocation leaves running (a pending
 * commit, a tenant job, queued events) is drained after its answer.
 */
export function brokerLambda(group: AnyRouteGroup<BrokerDeps>): ReturnType<typeof lambdaHttpHandler> {
  let built: { deps: BrokerDeps; handler: ReturnType<typeof lambdaHttpHandler> } | undefined;
  const current = () => {
    const deps = lambdaDeps(group.fn);
    if (built?.deps !== deps) built = { deps, handler: lambdaHttpHandler(buildBrokerApp(deps, [group])) };
    return built;
  };
  current();
  return (event, context) => {
    const { deps, handler } = current();
    return isInvocationContext(context) ? afterResponse.invoke(context, deps.background, () => handler(event, context)) : handler(event, context);
  };
}

const isInvocationContext = (context: unknown): context is InvocationContext =>
  typeof (context as Partial<InvocationContext> | null)?.awsRequestId === 'string' && typeof (context as Partial<InvocationContext>).getRemainingTimeInMillis === 'function';
