import * as oauth from 'oauth4webapi';

/**
 * The broker's one error type. Every failure that reaches a caller is a `BrokerError`: its `code`
 * becomes `error` and its `description` becomes `error_description` in the JSON body. Whatever
 * else is thrown becomes one through {@link toBrokerError}, the one normaliser.
 *
 * Descriptions are written for the caller and must never contain token material, codes, verifiers
 * or secrets. The `cause` is kept for logs (which redact secrets, see `lib/log.ts`).
 */
export type BrokerErrorCode =
  // caller mistakes
  | 'invalid_request'
  | 'unauthorized'
  | 'forbidden'
  | 'not_found'
  | 'conflict'
  | 'payload_too_large'
  // account state
  | 'reauth_required'
  // link flow (browser)
  | 'invalid_state'
  | 'invalid_link'
  | 'access_denied'
  // upstream trouble
  | 'upstream_unavailable'
  | 'upstream_error'
  | 'invalid_grant'
  /** The provider refused the tenant's client credentials: the operator must act (502: it is the broker's client that is refused, not the caller). */
  | 'invalid_client'
  | 'invalid_issuer'
  | 'invalid_server_metadata'
  // ours
  | 'temporarily_unavailable'
  | 'server_error';

/** Bounds of the `Retry-After` the broker sends (CONTRACT.md: at most 60 s), and its value when nobody said how long. */
const MIN_RETRY_AFTER_S = 1;
const MAX_RETRY_AFTER_S = 60;
export const DEFAULT_RETRY_AFTER_S = 5;

export interface BrokerErrorOptions {
  cause?: unknown;
  /** Seconds to wait before trying again, as the source of the failure asked (a provider's `Retry-After`) or as estimated here. */
  retryAfterS?: number;
}

export class BrokerError extends Error {
  override readonly name = 'BrokerError';
  /** Rendered as `Retry-After`; set on every 503, never on another status. */
  readonly retryAfterS: number | undefined;
  /** The wait as asked (uncapped, undefined when nobody said): paces the broker's own retries and refresher runs. */
  readonly requestedRetryAfterS: number | undefined;

  constructor(
    readonly code: BrokerErrorCode,
    readonly status: 400 | 401 | 403 | 404 | 409 | 413 | 500 | 502 | 503,
    readonly description: string,
    options: BrokerErrorOptions = {},
  ) {
    super(description, options.cause === undefined ? undefined : { cause: options.cause });
    this.requestedRetryAfterS = options.retryAfterS;
    // every 503 carries a Retry-After of 1 to 60 s
    this.retryAfterS = status === 503 ? boundedRetryAfter(options.retryAfterS) : undefined;
  }
}

/** A provider's larger `Retry-After` is capped at 60 s, a smaller one raised to 1 s, a missing one defaulted. */
function boundedRetryAfter(asked: number | undefined): number {
  if (asked === undefined || !Number.isFinite(asked)) return DEFAULT_RETRY_AFTER_S;
  return Math.min(MAX_RETRY_AFTER_S, Math.max(MIN_RETRY_AFTER_S, Math.ceil(asked)));
}

export const notFound = (description: string) => new BrokerError('not_found', 404, description);

/** Transient upstream failure: the caller may retry; the account is not touched. */
export const upstreamUnavailable = (description: string, options: BrokerErrorOptions = {}) =>
  new BrokerError('upstream_unavailable', 503, description, options);

/**
 * The one normaliser: whatever was thrown, as a {@link BrokerError}. `what` names the operation
 * (`refresh`, `discovery`, …) and prefixes the description. Checked in this order, first match wins:
 *
 * 1. a `BrokerError` as it is;
 * 2. oauth4webapi's `WWWAuthenticateChallengeError` (a challenge in `WWW-Authenticate`): a 401 is
 *    the client's authentication refused, `invalid_client`;
 * 3. oauth4webapi's `ResponseBodyError` (an RFC 6749 §5.2 error body), keeping its error code:
 *    `invalid_grant`, `invalid_client`, `temporarily_unavailable`/429/5xx as `upstream_unavailable`,
 *    any other as `upstream_error` naming the code;
 * 4. oauth4webapi's processing errors (an answer that breaks the spec) as `upstream_error`, unless
 *    the connection broke while the answer was read;
 * 5. time-outs and network errors: the AWS SDK's (they carry `$metadata`) as
 *    `temporarily_unavailable`, the provider's as `upstream_unavailable`;
 * 6. AWS SDK throttling and service errors as `temporarily_unavailable`, by the SDK's own marks
 *    (HTTP 429 or 5xx, a throttling error name, `$retryable`, `$fault: 'server'`); any other SDK
 *    error (no permission, a missing table or key) is a fault of the deployment: `server_error`;
 * 7. everything else as `server_error`, with nothing internal in the description.
 */
export function toBrokerError(err: unknown, what?: string): BrokerError {
  const about = (text: string) => (what ? `${what}: ${text}` : text);
  if (err instanceof BrokerError) return err;
  if (err instanceof oauth.WWWAuthenticateChallengeError) return fromChallenge(err, about);
  if (err instanceof oauth.ResponseBodyError) return fromErrorBody(err, about);
  if ((err instanceof oauth.OperationProcessingError || err instanceof oauth.UnsupportedOperationError) && !isNetworkFailure(err.cause)) {
    return new BrokerError('upstream_error', 502, about("the provider's answer does not follow the OAuth specification"), { cause: errorSummary(err) });
  }
  if (isAwsSdkError(err)) {
    // an unreachable or throttled store, key service or event bus is 503 temporarily_unavailable, not 500
    if (isNetworkFailure(err) || isAwsThrottling(err) || isAwsServiceFault(err)) {
      return new BrokerError('temporarily_unavailable', 503, about('a service the broker depends on (its table, key or event bus) is unreachable or busy; try again shortly'), {
        cause: err,
        retryAfterS: 1,
      });
    }
  } else if (isNetworkFailure(err)) {
    return isTimeout(err)
      ? upstreamUnavailable(about('the provider did not answer in time'), { cause: errorSummary(err) })
      : upstreamUnavailable(about('the provider could not be reached'), { cause: errorSummary(err) });
  }
  return new BrokerError('server_error', 500, about('internal error'), { cause: err });
}

// a wrong client secret (401 invalid_client, with or without a WWW-Authenticate challenge) is invalid_client, never upstream_error
const invalidClient = (about: (text: string) => string, cause: Error) =>
  new BrokerError(
    'invalid_client',
    502,
    about(
      "the provider refused the tenant's OAuth client (invalid_client): its client secret is wrong or expired, or the client no longer exists. " +
        'The operator must rotate or import the client secret with PUT /v1/tenants/{tenant} (same client_id, the current client_secret)',
    ),
    { cause },
  );

function fromChallenge(err: oauth.WWWAuthenticateChallengeError, about: (text: string) => string): BrokerError {
  const code = err.cause.map((challenge) => challenge.parameters.error).find((e) => e !== undefined);
  const schemes = err.cause.map((challenge) => challenge.scheme).join(', ');
  const cause = Object.assign(new Error(`HTTP ${err.status} ${schemes} challenge${code ? ` ${code}` : ''}`), { name: 'UpstreamChallenge' });
  // RFC 6749 §5.2: a 401 with a challenge is the client's own authentication refused
  if (err.status === 401 || code === 'invalid_client') return invalidClient(about, cause);
  if (err.status === 429 || err.status >= 500) return upstreamUnavailable(about(`the provider answered HTTP ${err.status}`), { cause });
  return new BrokerError('upstream_error', 502, about(`the provider answered HTTP ${err.status} with a ${schemes} challenge${code ? ` (${code})` : ''}`), { cause });
}

function fromErrorBody(err: oauth.ResponseBodyError, about: (text: string) => string): BrokerError {
  const cause = codeOnly(err);
  if (err.error === 'invalid_grant') return new BrokerError('invalid_grant', 409, about('the provider answered invalid_grant'), { cause });
  if (err.error === 'invalid_client') return invalidClient(about, cause);
  if (err.error === 'temporarily_unavailable' || err.status === 429 || err.status >= 500) {
    return upstreamUnavailable(about(`the provider answered ${err.error}`), { cause });
  }
  return new BrokerError('upstream_error', 502, about(`the provider answered ${err.error}`), { cause });
}

interface AwsSdkError extends Error {
  $metadata: { httpStatusCode?: number };
  $fault?: 'client' | 'server';
  $retryable?: { throttling?: boolean };
}

/** Errors of the AWS SDK carry `$metadata`: service exceptions, and network failures after the SDK's own retries. */
const isAwsSdkError = (err: unknown): err is AwsSdkError =>
  err instanceof Error && typeof (err as { $metadata?: unknown }).$metadata === 'object' && (err as { $metadata?: unknown }).$metadata !== null;

/*
 * The error names the AWS SDK's own retry strategy treats as throttling. The functions are bundled
 * without the SDK (the Lambda runtime provides it), so its classifier is not imported but followed.
 */
const AWS_THROTTLING_ERRORS = new Set([
  'ProvisionedThroughputExceededException',
  'RequestLimitExceeded',
  'ThrottlingException',
  'Throttling',
  'ThrottledException',
  'RequestThrottled',
  'RequestThrottledException',
  'TooManyRequestsException',
  'LimitExceededException',
  'TransactionInProgressException',
]);
const AWS_TIMEOUT_ERRORS = new Set(['RequestTimeout', 'RequestTimeoutException']);

const isAwsThrottling = (err: AwsSdkError) => err.$metadata.httpStatusCode === 429 || err.$retryable?.throttling === true || AWS_THROTTLING_ERRORS.has(err.name);
const isAwsServiceFault = (err: AwsSdkError) =>
  err.$fault === 'server' || (err.$metadata.httpStatusCode ?? 0) >= 500 || err.$retryable !== undefined || AWS_TIMEOUT_ERRORS.has(err.name);

const NETWORK_ERROR_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ECONNABORTED', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);

/** A fetch that failed to connect, was cut off or timed out, looking down the `cause` chain. */
function isNetworkFailure(err: unknown, depth = 0): boolean {
  if (!(err instanceof Error) || depth > 5) return false;
  const code = (err as { code?: unknown }).code;
  if (isTimeout(err)) return true;
  if (typeof code === 'string' && (NETWORK_ERROR_CODES.has(code) || code.startsWith('UND_ERR_'))) return true;
  // undici: "fetch failed" (could not connect or send), "terminated" (the answer was cut off)
  if (err instanceof TypeError && /fetch failed|terminated|network|socket/i.test(err.message)) return true;
  return isNetworkFailure(err.cause, depth + 1);
}

const isTimeout = (err: unknown) => err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError');

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
