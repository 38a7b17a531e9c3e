import { setTimeout as sleep } from 'node:timers/promises';
import * as oauth from 'oauth4webapi';
import { BrokerError, upstreamUnavailable } from '../errors.js';
import { isLoopbackHost } from '../config.js';

/**
 * How the broker talks HTTP to an authorization server: every request through one fetch with a
 * deadline, plain http only on loopback (local testing), and every failure turned into a
 * {@link BrokerError} whose code says whether it is worth retrying.
 *
 * Classification (used by the refresh engine):
 * - `upstream_unavailable` (503): network error, time-out, HTTP 429 or 5xx — transient, retry.
 * - `invalid_grant` (409): the provider refused the grant (RFC 6749 §5.2) — the end user must link again.
 * - `upstream_error` (502): any other OAuth error or a response that breaks the spec.
 */
export interface UpstreamHttp {
  fetch: typeof fetch;
  /** Deadline of one request, ms. */
  timeoutMs: number;
}

export const defaultUpstreamHttp = (): UpstreamHttp => ({ fetch: globalThis.fetch, timeoutMs: 8_000 });

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

/** Turns whatever a request or its processing threw into a classified {@link BrokerError}. */
export function classifyUpstreamError(err: unknown, what: string): BrokerError {
  if (err instanceof BrokerError) return err;
  if (err instanceof oauth.ResponseBodyError) {
    if (err.error === 'invalid_grant') return new BrokerError('invalid_grant', 409, `${what}: the provider answered invalid_grant`, { cause: codeOnly(err) });
    if (err.error === 'temporarily_unavailable' || err.status === 429 || err.status >= 500) {
      return upstreamUnavailable(`${what}: the provider answered ${err.error}`, { cause: codeOnly(err) });
    }
    return new BrokerError('upstream_error', 502, `${what}: the provider answered ${err.error}`, { cause: codeOnly(err) });
  }
  const name = (err as { name?: string })?.name;
  if (name === 'TimeoutError' || name === 'AbortError') return upstreamUnavailable(`${what}: the provider did not answer in time`, { cause: errorSummary(err) });
  if (err instanceof TypeError && /fetch failed|network|socket|ECONN|terminated/i.test(`${err.message} ${String((err as { cause?: unknown }).cause ?? '')}`)) {
    return upstreamUnavailable(`${what}: the provider could not be reached`, { cause: errorSummary(err) });
  }
  if (err instanceof oauth.OperationProcessingError || err instanceof oauth.UnsupportedOperationError) {
    return new BrokerError('upstream_error', 502, `${what}: the provider's answer does not follow the OAuth specification`, { cause: errorSummary(err) });
  }
  if (err instanceof TypeError) {
    return upstreamUnavailable(`${what}: the provider could not be reached`, { cause: errorSummary(err) });
  }
  return new BrokerError('upstream_error', 502, `${what}: unexpected failure talking to the provider`, { cause: errorSummary(err) });
}

/**
 * Best-effort upstream calls (revocation, client deletion): one more try after `pauseMs` when the
 * first fails transiently, then the classified failure is answered, never thrown.
 */
export async function tryTwice<T>(
  call: () => Promise<T>,
  what: string,
  pauseMs: number,
): Promise<{ ok: true; value: T } | { ok: false; error: BrokerError; attempts: number }> {
  for (let attempt = 1; ; attempt++) {
    try {
      return { ok: true, value: await call() };
    } catch (caught) {
      const error = classifyUpstreamError(caught, what);
      if (error.code !== 'upstream_unavailable' || attempt >= 2) return { ok: false, error, attempts: attempt };
      await sleep(pauseMs);
    }
  }
}

/*
 * Causes keep the error's name, code and message only. oauth4webapi attaches the response body as
 * `cause`, and a malformed token response may hold tokens: it must not reach a log.
 */
function errorSummary(err: unknown): Error {
  const e = err as { name?: string; code?: string; message?: string };
  const summary = new Error(`${e?.name ?? 'Error'}${e?.code ? ` [${e.code}]` : ''}: ${e?.message ?? String(err)}`);
  summary.name = 'UpstreamFailure';
  return summary;
}

function codeOnly(err: oauth.ResponseBodyError): Error {
  const summary = new Error(`HTTP ${err.status} ${err.error}`);
  summary.name = 'UpstreamOAuthError';
  return summary;
}
