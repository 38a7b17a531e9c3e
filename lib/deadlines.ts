/**
 * How long the broker waits for each of its dependencies, in one place. CONTRACT.md ("HTTP API"):
 * no request waits on an unreachable dependency for more than a few seconds, and whatever may work
 * in a moment is a 503 with `Retry-After`. Every client the broker talks through is built with one
 * of these deadlines, and a dependency that misses it fails into `toBrokerError` (lib/errors.ts) as
 * a 503: `temporarily_unavailable` for DynamoDB, KMS and EventBridge, `upstream_unavailable` for the
 * provider.
 *
 * | dependency | connect | one attempt | attempts | longest wait of one call |
 * |---|---|---|---|---|
 * | DynamoDB (the store) | 1 s | 2 s | 2 | ≈ 4.1 s |
 * | KMS | 1 s | 2 s | 2 | ≈ 4.1 s |
 * | EventBridge | 1 s | 2 s | 2 | ≈ 4.1 s |
 * | the provider (each OAuth request) | within the 5 s | 5 s | `lib/retry.ts` policies, within the request's deadline | 5 s per attempt |
 *
 * DynamoDB and KMS answer in milliseconds in a region: two seconds for one attempt leaves room for
 * a slow moment (and for DynamoDB Local on a busy laptop) and still fails fast when the service is
 * gone. One retry, not two: a frozen store would otherwise hold a caller three attempts long; the
 * caller retries the 503 itself, after `Retry-After`.
 */

/** The deadline of an AWS SDK client: connection, one attempt, attempts in all. */
export interface SdkDeadline {
  /** The TCP connection must be up within this, ms. */
  connectMs: number;
  /** One attempt, sent to answered; also the longest silence while its body is read, ms. */
  attemptMs: number;
  /** Attempts in all, the first included: the SDK retries throttling, 5xx, time-outs and resets. */
  attempts: number;
}

/** DynamoDB, KMS and EventBridge alike: each answers in milliseconds in its region. */
export const AWS_SERVICE_DEADLINE: SdkDeadline = { connectMs: 1_000, attemptMs: 2_000, attempts: 2 };

/**
 * One HTTP request to the provider (discovery, registration, a grant, a revocation), from the
 * connection to the last byte of the answer, ms. Generous for a token endpoint a continent away,
 * short enough that a hung provider gives the caller an answer (a still-valid token, or a 503) in
 * seconds. A refresh that times out may still be processed upstream; a longer deadline would only
 * make a caller wait longer for the same outcome.
 */
export const PROVIDER_REQUEST_MS = 5_000;

/**
 * The client settings that make an AWS SDK v3 client keep `deadline`: the request handler's
 * connection time-out, a request time-out that throws (not only warns, `throwOnRequestTimeout`),
 * the socket idle time-out (what older SDKs, as a Lambda runtime may provide, called the request
 * time-out), and `maxAttempts`.
 */
export function sdkClientSettings(deadline: SdkDeadline) {
  return {
    maxAttempts: deadline.attempts,
    requestHandler: {
      connectionTimeout: deadline.connectMs,
      requestTimeout: deadline.attemptMs,
      throwOnRequestTimeout: true,
      socketTimeout: deadline.attemptMs,
    },
  };
}
