import { OpenAPIHono } from '@hono/zod-openapi';
import type { Caller } from '../broker/callers.js';
import type { BrokerDeps } from '../broker/deps.js';
import { BrokerError } from '../errors.js';

/** What a request carries besides HTTP: the caller and, under Lambda, the event and context. */
export interface AppEnv {
  Bindings: {
    event?: { requestContext?: { authorizer?: { iam?: { userArn?: string; callerId?: string } } } };
    lambdaContext?: { getRemainingTimeInMillis(): number };
  };
  Variables: { caller: Caller };
}

/** Route groups get their dependencies lazily, so the OpenAPI document can be built without them. */
export type DepsProvider = () => BrokerDeps;

/** A router whose validation failures are the contract's 400 `invalid_request`. */
export function newRouter() {
  return new OpenAPIHono<AppEnv>({
    defaultHook: (result) => {
      if (!result.success) {
        const issues = result.error.issues.slice(0, 5).map((i) => `${i.path.length ? i.path.join('.') : 'body'}: ${i.message}`);
        throw new BrokerError('invalid_request', 400, issues.join('; '));
      }
    },
  });
}

export type Router = ReturnType<typeof newRouter>;
export type RouteGroup = (deps: DepsProvider) => Router;
