import * as oauth from 'oauth4webapi';
import { upstreamUnavailable, type BrokerError } from '../errors.js';
import { isLoopbackHost } from '../config.js';
import { PROVIDER_REQUEST_MS } from '../deadlines.js';

/**
 * How the broker talks HTTP to an authorization server: every request through one fetch with a
 * deadline, plain http only on loopback (local testing), and every failure turned into a
 * {@link BrokerError} by the one normaliser (`toBrokerError` in `lib/errors.ts`), whose code says
 * whether it is worth retrying: `upstream_unavailable` (503: network error, time-out, HTTP 429 or
 * 5xx), `invalid_grant` (409: the end user must link again), `invalid_client` (502: the operator
 * must fix the client secret), `upstream_error` (502: any other OAuth error or a broken answer).
 */
export interface UpstreamHttp {
  fetch: typeof fetch;
  /** Deadline of one request, connection to the last byte of the answer, ms. */
  timeoutMs: number;
}

export const defaultUpstreamHttp = (): UpstreamHttp => ({ fetch: globalThis.fetch, timeoutMs: PROVIDER_REQUEST_MS });

/**
 * Plain http is allowed only when the configured issuer itself is a loopback http URL (local
 * testing). An https issuer's document naming an http endpoint — say the Lambda runtime API on
 * 127.0.0.1 — is refused by oauth4webapi, so secrets never travel in clear text.
 */
export function insecureAllowedFor(issuer: string): boolean {
  const url = new URL(issuer);
  return url.protocol === 'http:' && isLoopbackHost(url.hostname);
}

/** Options shared by every oauth4webapi call towards `issuer`'s endpoints: the deadline-bound fetch. */
export function requestOptions(http: UpstreamHttp, issuer: string) {
  return {
    [oauth.customFetch]: (input: string, init: RequestInit) => http.fetch(input, { ...init, signal: AbortSignal.timeout(http.timeoutMs) }),
    ...(insecureAllowedFor(issuer) ? { [oauth.allowInsecureRequests]: true } : {}),
  };
}

/**
 * Answers transient HTTP statuses before the spec-level processing sees them, so that a 503 with an
 * HTML body is an outage (with its `Retry-After`), not a protocol violation.
 */
export function rejectTransientStatus(response: Response, what: string): void {
  if (response.status === 429 || response.status >= 500) {
    throw upstreamUnavailable(`${what}: the provider answered HTTP ${response.status}`, {
      retryAfterS: parseRetryAfter(response.headers.get('retry-after')),
      cause: new Error(`HTTP ${response.status}`),
    });
  }
}

/** RFC 9110 §10.2.3: delay-seconds or an HTTP date; bounded to an hour. */
export function parseRetryAfter(value: string | null, now = Date.now()): number | undefined {
  if (!value) return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Math.min(Number(trimmed), 3600);
  const date = Date.parse(trimmed);
  if (Number.isNaN(date)) return undefined;
  return Math.min(Math.max(0, Math.ceil((date - now) / 1000)), 3600);
}
