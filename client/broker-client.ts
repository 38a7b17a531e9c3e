/**
 * The client for internal services: one call, `getToken(tenant, account)`, that answers a valid
 * LongPort access token and does the right thing by default — a per-instance cache that never hands
 * out a token with less than `minTtl` seconds left, one request per key for concurrent callers,
 * bounded retries of 503/429 after `Retry-After`, and SigV4 (API Gateway IAM) or a bearer key.
 *
 * It holds no global state: two clients share nothing, and a client's cache dies with it.
 */
import { createHash, createHmac, type Hash, type Hmac } from 'node:crypto';
import { SignatureV4 } from '@smithy/signature-v4';

/** AWS credentials, as the SDK's credential providers answer them. */
export interface AwsCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
  expiration?: Date;
}

/** Local mode: `BROKER_ADMIN_TOKEN` or a `BROKER_API_KEYS` key, sent as `Authorization: Bearer`. */
export interface BearerAuth {
  type: 'bearer';
  token: string;
}

/**
 * AWS: the `/v1` routes use API Gateway IAM authorization. Requests are signed with the SDK's own
 * `SignatureV4` for service `execute-api`; without `credentials`, the SDK's default credential chain
 * (`defaultProvider` of @aws-sdk/credential-provider-node: environment, SSO, web identity, ECS/EC2 roles, …) is used.
 */
export interface SigV4Auth {
  type: 'sigv4';
  /** The region of the API Gateway, e.g. `eu-west-1`. */
  region: string;
  credentials?: AwsCredentials | (() => Promise<AwsCredentials>);
}

export interface BrokerClientOptions {
  /** The broker's base URL, with the API Gateway stage if any: `https://abc.execute-api.eu-west-1.amazonaws.com/prod`. */
  baseUrl: string;
  auth: BearerAuth | SigV4Auth;
  /** Defaults to the global `fetch`. */
  fetch?: typeof globalThis.fetch;
  /** Milliseconds since the epoch; defaults to `Date.now`. Cache expiry is measured on this clock. */
  clock?: () => number;
  /** Retries of 503 and 429 answers. */
  retry?: {
    /** Attempts in all, the first included; default 3. */
    maxAttempts?: number;
    /** The longest wait between attempts; a `Retry-After` longer than this is not waited for. Default 5000. */
    maxDelayMs?: number;
  };
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

/**
 * A failed broker call: the contract's `{ error, error_description }` as `error` and `description`.
 * It never carries token material; `status` is 0 when no HTTP answer arrived.
 */
export class BrokerClientError extends Error {
  override readonly name = 'BrokerClientError';

  constructor(
    /** The HTTP status, or 0 for a network failure. */
    readonly status: number,
    /** The error code, e.g. `reauth_required`, `temporarily_unavailable`. */
    readonly error: string,
    readonly description: string,
    /** Seconds the broker asked to wait before trying again, when it said. */
    readonly retryAfterS?: number,
    options?: { cause?: unknown },
  ) {
    super(`${status ? `HTTP ${status} ` : ''}${error}: ${description}`, options);
  }
}

const DEFAULT_MIN_TTL_S = 60;
const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const MAX_DESCRIPTION_CHARS = 300;

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
  const maxAttempts = Math.max(1, options.retry?.maxAttempts ?? 3);
  const maxDelayMs = Math.max(0, options.retry?.maxDelayMs ?? 5_000);
  const maxCached = Math.max(1, options.maxCachedAccounts ?? 1000);
  const baseUrl = options.baseUrl.replace(/\/+$/, '');
  const authorize = authorizer(options.auth, clock);

  const cache = new Map<string, BrokerToken>();
  const inflight = new Map<string, { minTtlS: number; promise: Promise<BrokerToken> }>();

  const remember = (key: string, token: BrokerToken) => {
    cache.delete(key);
    cache.set(key, token);
    // least recently used first: Map keeps insertion order, and a hit re-inserts
    while (cache.size > maxCached) cache.delete(cache.keys().next().value!);
  };

  async function call(method: 'GET' | 'POST', path: string, query: Record<string, string>): Promise<BrokerToken> {
    for (let attempt = 1; ; attempt++) {
      const url = new URL(baseUrl + path);
      for (const [k, v] of Object.entries(query)) url.searchParams.set(k, v);
      const sentAt = clock();
      const headers = await authorize(method, url, { accept: 'application/json' });
      let res: Response;
      try {
        res = await fetch(url, { method, headers });
      } catch (err) {
        throw new BrokerClientError(0, 'network_error', `${method} ${url.origin}${url.pathname} failed: ${err instanceof Error ? err.message : String(err)}`, undefined, { cause: err });
      }
      if (res.ok) return readToken(res, sentAt);
      const failure = await readError(res);
      if ((res.status === 503 || res.status === 429) && attempt < maxAttempts) {
        const delayMs = failure.retryAfterS !== undefined ? failure.retryAfterS * 1000 : Math.min(jitteredBackoffMs(attempt), maxDelayMs);
        // a wait longer than the caller would accept is not shortened: the broker asked for it
        if (delayMs <= maxDelayMs) {
          await sleep(delayMs);
          continue;
        }
      }
      throw failure;
    }
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

/** Identifiers as the contract defines them; anything else could walk to another path (`..`). */
function checkId(name: string, value: string): string {
  if (!ID_PATTERN.test(value)) throw new BrokerClientError(400, 'invalid_request', `${name} must match ${ID_PATTERN.source}`);
  return value;
}

async function readToken(res: Response, sentAt: number): Promise<BrokerToken> {
  const body = (await res.json().catch(() => undefined)) as Record<string, unknown> | undefined;
  if (!body || typeof body.access_token !== 'string' || typeof body.scope !== 'string' || typeof body.expires_in !== 'number' || !Number.isFinite(body.expires_in)) {
    throw new BrokerClientError(res.status, 'invalid_response', 'the broker answered without access_token, expires_in and scope');
  }
  // expires_in against the time the request left: never later than the broker's own expires_at
  return { accessToken: body.access_token, expiresAt: new Date(sentAt + body.expires_in * 1000), scope: body.scope };
}

/**
 * The contract's error body, or (from API Gateway itself) `{ "message": … }`. Only the first line of
 * a message is kept: API Gateway's signature-mismatch text goes on with the canonical request,
 * which would hold the session token.
 */
async function readError(res: Response): Promise<BrokerClientError> {
  const body = (await res.json().catch(() => undefined)) as Record<string, unknown> | undefined;
  const retryAfterS = parseRetryAfter(res.headers.get('retry-after'), Date.now());
  const code = typeof body?.error === 'string' && /^[\w.-]{1,64}$/.test(body.error) ? body.error : fallbackCode(res.status);
  const text = typeof body?.error_description === 'string' ? body.error_description : typeof body?.message === 'string' ? body.message : `HTTP ${res.status}`;
  return new BrokerClientError(res.status, code, firstLine(text), retryAfterS);
}

function fallbackCode(status: number): string {
  const known: Record<number, string> = { 400: 'invalid_request', 401: 'unauthorized', 403: 'forbidden', 404: 'not_found', 429: 'too_many_requests', 503: 'temporarily_unavailable' };
  return known[status] ?? (status >= 500 ? 'server_error' : 'http_error');
}

const firstLine = (text: string) => (text.split(/\r?\n/, 1)[0] ?? '').slice(0, MAX_DESCRIPTION_CHARS);

/** RFC 9110 §10.2.3: delay-seconds or an HTTP-date. */
function parseRetryAfter(value: string | null, now: number): number | undefined {
  if (value === null) return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim());
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, Math.ceil((at - now) / 1000));
}

/** Full jitter: uniform in [0, 200 ms · 2^(attempt−1)]. */
const jitteredBackoffMs = (attempt: number) => Math.random() * 200 * 2 ** (attempt - 1);

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

type Authorizer = (method: string, url: URL, headers: Record<string, string>) => Promise<Record<string, string>>;

function authorizer(auth: BearerAuth | SigV4Auth, clock: () => number): Authorizer {
  if (auth.type === 'bearer') {
    const authorization = `Bearer ${auth.token}`;
    return async (_method, _url, headers) => ({ ...headers, authorization });
  }
  let signer: Promise<SignatureV4> | undefined;
  return async (method, url, headers) => {
    signer ??= signerFor(auth).catch((err: unknown) => {
      signer = undefined;
      throw err;
    });
    const query: Record<string, string> = {};
    for (const [k, v] of url.searchParams) query[k] = v;
    const signed = await (
      await signer
    ).sign(
      {
        method,
        protocol: url.protocol,
        hostname: url.hostname,
        ...(url.port ? { port: Number(url.port) } : {}),
        path: url.pathname,
        query,
        headers: { ...headers, host: url.host },
      },
      { signingDate: new Date(clock()) },
    );
    // fetch sets Host itself, from the same URL
    const { host: _host, ...out } = signed.headers;
    return out;
  };
}

async function signerFor(auth: SigV4Auth): Promise<SignatureV4> {
  // the default chain is loaded only when it is needed: local-mode callers never import it
  const credentials = auth.credentials ?? (await import('@aws-sdk/credential-provider-node')).defaultProvider();
  return new SignatureV4({ service: 'execute-api', region: auth.region, credentials, sha256: NodeSha256, uriEscapePath: true, applyChecksum: false });
}

/** SHA-256 and HMAC-SHA256 over node:crypto, in the shape the SDK's signer expects (as @smithy/hash-node). */
class NodeSha256 {
  private hash: Hash | Hmac;

  constructor(private readonly secret?: string | ArrayBuffer | ArrayBufferView) {
    this.hash = this.fresh();
  }

  update(data: string | ArrayBuffer | ArrayBufferView): void {
    this.hash.update(bytes(data));
  }

  async digest(): Promise<Uint8Array> {
    return new Uint8Array(this.hash.digest());
  }

  reset(): void {
    this.hash = this.fresh();
  }

  private fresh(): Hash | Hmac {
    return this.secret === undefined ? createHash('sha256') : createHmac('sha256', bytes(this.secret));
  }
}

function bytes(data: string | ArrayBuffer | ArrayBufferView): Buffer | string {
  if (typeof data === 'string') return data;
  if (ArrayBuffer.isView(data)) return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  return Buffer.from(data);
}
