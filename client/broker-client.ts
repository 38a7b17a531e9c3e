/**
 * The client for internal services: one call, `getToken(tenant, account)`, that answers a valid
 * LongPort access token and does the right thing by default — a per-instance cache that never hands
 * out a token with less than `minTtl` seconds left, one request per key for concurrent callers,
 * bounded retries of 503/429 after `Retry-After`, and SigV4 (API Gateway IAM) or a bearer key.
 *
 * It holds no global state: two clients share nothing, and a client's cache dies with it.
 */
import { authorizer, type BearerAuth, type SigV4Auth } from './auth.js';
import { BrokerClientError, checkId, send, type RetryPolicy } from './http.js';

export type { AwsCredentials, BearerAuth, SigV4Auth } from './auth.js';
export { BrokerClientError } from './http.js';

export interface BrokerClientOptions {
  /** The broker's base URL, with the API Gateway stage if any: `https://abc.execute-api.eu-west-1.amazonaws.com/prod`. */
  baseUrl: string;
  auth: BearerAuth | SigV4Auth;
  /** Defaults to the global `fetch`. */
  fetch?: typeof globalThis.fetch;
  /** Milliseconds since the epoch; defaults to `Date.now`. Cache expiry is measured on this clock. */
  clock?: () => number;
  /** Retries of 503 and 429 answers. */
  retry?: RetryPolicy;
  /** Accounts kept in the cache at most (least recently used go first); default 1000. */
  maxCachedAccounts?: number;
}

/** An access token for one (tenant, account). Never a refresh token: the broker never shows one. */
export interface BrokerToken {
  accessToken: string;
  /** When the token expires, measured on the client's clock from `expires_in` (immune to clock skew). */
  expiresAt: Date;
  scope: string;
}

export interface GetTokenOptions {
  /** Seconds of validity the token must still have; default 60, at most 3000 (the broker's `min_ttl`). */
  minTtl?: number;
}

/** A typed broker client; see {@link createBrokerClient}. */
export interface BrokerClient {
  /**
   * A token with at least `minTtl` seconds left: from this client's cache when it has one, else
   * `GET /v1/tenants/{tenant}/accounts/{account}/token?min_ttl=…` (shared by concurrent callers).
   */
  getToken(tenant: string, account: string, options?: GetTokenOptions): Promise<BrokerToken>;
  /**
   * Forces a refresh now (`POST …/refresh`) and replaces the cached token with the new one; a 404 or
   * 409 answer (unlinked, `reauth_required`) drops the cached token.
   */
  refresh(tenant: string, account: string): Promise<BrokerToken>;
  /** Forgets the cached token of (tenant, account); the next `getToken` asks the broker. */
  invalidate(tenant: string, account: string): void;
}

const DEFAULT_MIN_TTL_S = 60;

/**
 * Creates a broker client. The cache and the in-flight requests belong to the instance, so make one
 * client per process (or per broker) and share it.
 *
 * @example
 * const broker = createBrokerClient({ baseUrl: process.env.BROKER_URL!, auth: { type: 'sigv4', region: 'eu-west-1' } });
 * const { accessToken } = await broker.getToken('acme', 'alice');
 */
export function createBrokerClient(options: BrokerClientOptions): BrokerClient {
  const fetch = options.fetch ?? globalThis.fetch;
  const clock = options.clock ?? Date.now;
  const maxCached = Math.max(1, options.maxCachedAccounts ?? 1000);

  const cache = new Map<string, BrokerToken>();
  const inflight = new Map<string, { minTtlS: number; promise: Promise<BrokerToken> }>();

  const remember = (key: string, token: BrokerToken) => {
    cache.delete(key);
    cache.set(key, token);
    // least recently used first: Map keeps insertion order, and a hit re-inserts
    while (cache.size > maxCached) cache.delete(cache.keys().next().value!);
  };

  const transport = { baseUrl: options.baseUrl, authorize: authorizer(options.auth, clock), fetch, clock, retry: options.retry };
  async function call(method: 'GET' | 'POST', path: string, query: Record<string, string>): Promise<BrokerToken> {
    const { res, sentAt } = await send(transport, { method, path, query });
    return readToken(res, sentAt);
  }

  const tokenPath = (tenant: string, account: string, leaf: 'token' | 'refresh') =>
    `/v1/tenants/${encodeURIComponent(checkId('tenant', tenant))}/accounts/${encodeURIComponent(checkId('account', account))}/${leaf}`;

  return {
    async getToken(tenant, account, { minTtl = DEFAULT_MIN_TTL_S } = {}) {
      const minTtlS = Math.max(0, Math.ceil(minTtl));
      const path = tokenPath(tenant, account, 'token');
      const key = cacheKey(tenant, account);
      const cached = cache.get(key);
      // a cached token is used only while it still has at least minTtl seconds left
      if (cached && cached.expiresAt.getTime() - clock() >= minTtlS * 1000) {
        remember(key, cached);
        return cached;
      }
      // concurrent callers share one request, when that request asks for at least as much validity
      const pending = inflight.get(key);
      if (pending && pending.minTtlS >= minTtlS) return pending.promise;
      const record = {
        minTtlS,
        promise: call('GET', path, { min_ttl: String(minTtlS) })
          .then((token) => {
            // an invalidate() or refresh() since this request started wins over its answer
            if (inflight.get(key) === record) remember(key, token);
            return token;
          })
          .catch((err: unknown) => {
            if (inflight.get(key) === record && isGone(err)) cache.delete(key);
            throw err;
          })
          .finally(() => {
            if (inflight.get(key) === record) inflight.delete(key);
          }),
      };
      inflight.set(key, record);
      return record.promise;
    },

    async refresh(tenant, account) {
      const path = tokenPath(tenant, account, 'refresh');
      const key = cacheKey(tenant, account);
      inflight.delete(key);
      try {
        const token = await call('POST', path, {});
        remember(key, token);
        return token;
      } catch (err) {
        if (isGone(err)) cache.delete(key);
        throw err;
      }
    },

    invalidate(tenant, account) {
      const key = cacheKey(tenant, account);
      cache.delete(key);
      inflight.delete(key);
    },
  };
}

/** The account is unlinked (404) or no longer usable (409 `reauth_required`, `account_revoked`). */
const isGone = (err: unknown) => err instanceof BrokerClientError && (err.status === 404 || err.status === 409);

const cacheKey = (tenant: string, account: string) => `${tenant}\u0000${account}`;

async function readToken(res: Response, sentAt: number): Promise<BrokerToken> {
  const body = (await res.json().catch(() => undefined)) as Record<string, unknown> | undefined;
  if (!body || typeof body.access_token !== 'string' || typeof body.scope !== 'string' || typeof body.expires_in !== 'number' || !Number.isFinite(body.expires_in)) {
    throw new BrokerClientError(res.status, 'invalid_response', 'the broker answered without access_token, expires_in and scope');
  }
  // expires_in against the time the request left: never later than the broker's own expires_at
  return { accessToken: body.access_token, expiresAt: new Date(sentAt + body.expires_in * 1000), scope: body.scope };
}
