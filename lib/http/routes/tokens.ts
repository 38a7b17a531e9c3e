import type { Context } from 'hono';
import { DEFAULT_MIN_TTL_S, getToken, type ServedToken } from '../../broker/tokens.js';
import type { BrokerDeps } from '../../broker/deps.js';
import { noteAccess } from '../access-log.js';
import type { AccessFields, AppEnv } from '../app-env.js';
import { deadlineOf } from '../callers.js';
import { defineRoutes } from '../route-group.js';

/** `GET …/token`: a valid access token, refreshed first when needed. */
export const tokenRoutes = defineRoutes<'token', BrokerDeps>('token', {
  getToken: async ({ c, input, deps, caller }) => {
    return answer(c, await getToken(deps, caller, input.params, { mode: 'ensure', minTtlS: minTtlOf(input.query), deadline: deadlineOf(c, deps.clock()) }));
  },
});

/** `POST …/refresh`: forces a refresh now. */
export const refreshRoutes = defineRoutes<'refresh', BrokerDeps>('refresh', {
  refreshToken: async ({ c, input, deps, caller }) =>
    answer(c, await getToken(deps, caller, input.params, { mode: 'force', minTtlS: 0, deadline: deadlineOf(c, deps.clock()) })),
});

/** Seconds of validity a `GET …/token` asks the token to have left. */
export const minTtlOf = (query: { min_ttl?: number }): number => query.min_ttl ?? DEFAULT_MIN_TTL_S;

/** The token answer; its generation and how it was served go into the access log line (never the token). */
function answer(c: Context<AppEnv>, served: ServedToken) {
  noteAccess(c, servedAccess(served));
  return new Response(served.json, { status: 200, headers: TOKEN_HEADERS });
}

/** What the access log line of a token answer says of it. */
export const servedAccess = (served: ServedToken): AccessFields => ({ generation: served.generation, cache: served.source });

/**
 * The token answer's headers, as a plain object: Hono's `c.json` with a header of its own builds a
 * `Headers` (a Fetch class, slow to fill and to read back), the Node.js server writes a plain object as is.
 */
export const TOKEN_HEADERS = Object.freeze({ 'content-type': 'application/json', 'cache-control': 'no-store' });
