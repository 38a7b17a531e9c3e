/**
 * The broker's one error type. Every failure that reaches a caller is a `BrokerError`: its `code`
 * becomes `error` and its `description` becomes `error_description` in the JSON body. Anything else
 * that escapes is rendered as `server_error` with nothing internal in the body.
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
  | 'account_revoked'
  // link flow (browser)
  | 'invalid_state'
  | 'invalid_link'
  | 'access_denied'
  // upstream trouble
  | 'upstream_unavailable'
  | 'upstream_error'
  | 'invalid_grant'
  | 'invalid_issuer'
  | 'invalid_server_metadata'
  // ours
  | 'temporarily_unavailable'
  | 'server_error';

export interface BrokerErrorOptions {
  cause?: unknown;
  /** Seconds a caller should wait before trying again (rendered as `Retry-After`). */
  retryAfterS?: number;
}

export class BrokerError extends Error {
  override readonly name = 'BrokerError';
  readonly retryAfterS: number | undefined;

  constructor(
    readonly code: BrokerErrorCode,
    readonly status: 400 | 401 | 403 | 404 | 409 | 413 | 500 | 502 | 503 | 504,
    readonly description: string,
    options: BrokerErrorOptions = {},
  ) {
    super(description, options.cause === undefined ? undefined : { cause: options.cause });
    this.retryAfterS = options.retryAfterS;
  }
}

export const invalidRequest = (description: string) => new BrokerError('invalid_request', 400, description);
export const notFound = (description: string) => new BrokerError('not_found', 404, description);

/** Transient upstream failure: the caller may retry; the account is not touched. */
export const upstreamUnavailable = (description: string, options: BrokerErrorOptions = {}) =>
  new BrokerError('upstream_unavailable', 503, description, options);

export function isBrokerError(err: unknown): err is BrokerError {
  return err instanceof BrokerError;
}
