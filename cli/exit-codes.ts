/** What the CLI's exit status means; scripts branch on these. */
import { BrokerClientError } from '../client/http.js';

export const EXIT = {
  ok: 0,
  /** anything else: a bug, or an answer the broker should not have given */
  failed: 1,
  /** bad command line or input: nothing was sent */
  usage: 2,
  /** credentials missing or refused (401), or not allowed for this tenant (403) */
  auth: 3,
  /** unknown tenant, account or route (404) */
  notFound: 4,
  /** state conflict (409), e.g. reauth_required: the end user must link again */
  conflict: 5,
  /** the broker or its dependencies are unavailable (503, 429, no connection): try again later */
  unavailable: 6,
} as const;

export function exitCodeOf(err: unknown): number {
  if (err instanceof MissingCredentials) return EXIT.auth;
  if (err instanceof UsageError) return EXIT.usage;
  if (!(err instanceof BrokerClientError)) return EXIT.failed;
  if (err.status === 0 || err.status === 503 || err.status === 429) return EXIT.unavailable;
  if (err.status === 400) return EXIT.usage;
  if (err.status === 401 || err.status === 403) return EXIT.auth;
  if (err.status === 404) return EXIT.notFound;
  if (err.status === 409) return EXIT.conflict;
  return EXIT.failed;
}

/** Bad input caught before anything was sent. */
export class UsageError extends Error {
  override readonly name: string = 'UsageError';
}

/** No credential to send: nothing was sent. */
export class MissingCredentials extends UsageError {
  override readonly name = 'MissingCredentials';
}
