/**
 * What every broker call shares: the error type, reading the contract's error body, identifiers,
 * `Retry-After`, and one retry loop for 503/429. Browser-safe (no `node:` import): the operator
 * console bundles it, and the Node clients add SigV4 on top (`./auth.ts`).
 */

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

/**
 * Adds credentials to a request: a bearer key, a SigV4 signature, or nothing (the console behind
 * `npm run console`, whose loopback server signs for it). `body` is the exact bytes to be sent.
 */
export type Authorizer = (method: string, url: URL, headers: Record<string, string>, body?: string) => Promise<Record<string, string>>;

/** Local mode: `BROKER_ADMIN_TOKEN` or a `BROKER_API_KEYS` key, sent as `Authorization: Bearer`. */
export function bearerAuthorizer(token: string): Authorizer {
  const authorization = `Bearer ${token}`;
  return async (_method, _url, headers) => ({ ...headers, authorization });
}

export const noAuthorizer: Authorizer = async (_method, _url, headers) => headers;

export const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const MAX_DESCRIPTION_CHARS = 300;

/** Identifiers as the contract defines them; anything else could walk to another path (`..`). */
export function checkId(name: string, value: string): string {
  if (!ID_PATTERN.test(value)) throw new BrokerClientError(400, 'invalid_request', `${name} must match ${ID_PATTERN.source}`);
  return value;
}

/**
 * The contract's error body, or (from API Gateway itself) `{ "message": … }`. Only the first line of
 * a message is kept: API Gateway's signature-mismatch text goes on with the canonical request,
 * which would hold the session token.
 */
export async function readError(res: Response): Promise<BrokerClientError> {
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
export function parseRetryAfter(value: string | null, now: number): number | undefined {
  if (value === null) return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim());
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, Math.ceil((at - now) / 1000));
}

/**
 * The broker (or API Gateway in front of it) has no such route: an older broker than this client.
 * The broker says so in its description ("no route …", "this API has no such route …"); API
 * Gateway answers `{"message":"Not Found"}`. An unknown tenant or account names what is unknown instead.
 */
export const isMissingRoute = (err: unknown): boolean =>
  err instanceof BrokerClientError && err.status === 404 && (/\bno (such )?route\b/i.test(err.description) || err.description === 'Not Found');

/** Retries of 503 and 429 answers. */
export interface RetryPolicy {
  /** Attempts in all, the first included; default 3. */
  maxAttempts?: number;
  /** The longest wait between attempts; a `Retry-After` longer than this is not waited for. Default 5000. */
  maxDelayMs?: number;
}

export interface Transport {
  baseUrl: string;
  authorize: Authorizer;
  fetch: typeof globalThis.fetch;
  clock: () => number;
  retry?: RetryPolicy | undefined;
}

export interface BrokerRequest {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  /** Path below the base URL, starting with `/v1/`; identifiers already checked. */
  path: string;
  query?: Record<string, string | undefined>;
  body?: unknown;
}

/**
 * Sends one broker request: 503 and 429 are retried after `Retry-After` (or a jittered backoff),
 * at most `maxAttempts` times; any other failure throws a {@link BrokerClientError}. Answers the
 * response and when its request left (expiry is measured from then, immune to clock skew).
 */
export async function send(t: Transport, req: BrokerRequest): Promise<{ res: Response; sentAt: number }> {
  const maxAttempts = Math.max(1, t.retry?.maxAttempts ?? 3);
  const maxDelayMs = Math.max(0, t.retry?.maxDelayMs ?? 5_000);
  const body = req.body === undefined ? undefined : JSON.stringify(req.body);
  for (let attempt = 1; ; attempt++) {
    const url = new URL(t.baseUrl.replace(/\/+$/, '') + req.path);
    for (const [k, v] of Object.entries(req.query ?? {})) if (v !== undefined) url.searchParams.set(k, v);
    const sentAt = t.clock();
    const headers = await t.authorize(req.method, url, body === undefined ? { accept: 'application/json' } : { accept: 'application/json', 'content-type': 'application/json' }, body);
    let res: Response;
    try {
      res = await t.fetch(url, { method: req.method, headers, ...(body === undefined ? {} : { body }) });
    } catch (err) {
      throw new BrokerClientError(0, 'network_error', `${req.method} ${url.origin}${url.pathname} failed: ${err instanceof Error ? err.message : String(err)}`, undefined, { cause: err });
    }
    if (res.ok) return { res, sentAt };
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

/** The JSON body of a successful answer, or an `invalid_response` error naming what was expected. */
export async function readJson<T>(res: Response, expected: string, valid: (body: Record<string, unknown>) => boolean): Promise<T> {
  const body = (await res.json().catch(() => undefined)) as Record<string, unknown> | undefined;
  if (!body || typeof body !== 'object' || !valid(body)) throw new BrokerClientError(res.status, 'invalid_response', `the broker answered without ${expected}`);
  return body as T;
}

/** Full jitter: uniform in [0, 200 ms · 2^(attempt−1)]. */
const jitteredBackoffMs = (attempt: number) => Math.random() * 200 * 2 ** (attempt - 1);

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
