import { DEFAULT_MIN_TTL_S, getToken } from '../../broker/tokens.js';
import type { BrokerDeps } from '../../broker/deps.js';
import { deadlineOf } from '../callers.js';
import { defineRoutes } from '../route-group.js';

/** `GET …/token`: a valid access token, refreshed first when needed. */
export const tokenRoutes = defineRoutes<'token', BrokerDeps>('token', {
  getToken: async ({ c, input, deps, caller }) => {
    const minTtlS = input.query.min_ttl ?? DEFAULT_MIN_TTL_S;
    const answer = await getToken(deps, caller, input.params, { mode: 'ensure', minTtlS, deadline: deadlineOf(c, deps.clock()) });
    c.header('Cache-Control', 'no-store');
    return c.json(answer, 200);
  },
});

/** `POST …/refresh`: forces a refresh now. */
export const refreshRoutes = defineRoutes<'refresh', BrokerDeps>('refresh', {
  refreshToken: async ({ c, input, deps, caller }) => {
    const answer = await getToken(deps, caller, input.params, { mode: 'force', minTtlS: 0, deadline: deadlineOf(c, deps.clock()) });
    c.header('Cache-Control', 'no-store');
    return c.json(answer, 200);
  },
});
