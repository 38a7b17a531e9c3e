import type { Caller } from '../broker/callers.js';
import type { Route } from './route-table.js';

/** What a request carries besides HTTP: under Lambda the event and context, and what the layers set. */
export interface AppEnv {
  Bindings: {
    event?: {
      rawPath?: string;
      routeKey?: string;
      pathParameters?: Record<string, string | undefined>;
      requestContext?: { authorizer?: { iam?: { userArn?: string; callerId?: string } } };
    };
    lambdaContext?: { getRemainingTimeInMillis(): number };
    /** The local server's request as Node.js read it (@hono/node-server). */
    incoming?: { rawHeaders: string[] };
  };
  Variables: {
    caller: Caller;
    /** The route of the table this request matched. */
    route: Route;
    /** Fields a handler adds to the request's access log line (never secrets). */
    access: AccessFields;
  };
}

export interface AccessFields {
  tenant?: string;
  account?: string;
  generation?: number;
  /** How a token read was served: from memory, from the store, after a refresh, or stale. */
  cache?: 'hit' | 'miss' | 'refreshed' | 'stale';
}
