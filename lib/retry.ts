import { setTimeout as sleep } from 'node:timers/promises';
import { BrokerError, toBrokerError } from './errors.js';

/**
 * The broker's one retry helper and its named policies. A policy says what is retried (which
 * failures, as {@link toBrokerError} classifies them), how many attempts, the pause between them
 * (backoff and jitter), whether a `Retry-After` replaces the pause, and whether a deadline bounds
 * the run. Every loop that tries something again goes through {@link withRetries}.
 */
export interface RetryPolicy {
  /** What is retried: the failures worth another attempt. */
  readonly retryable: (failure: BrokerError) => boolean;
  /** Attempts in all, the first included (`Infinity`: bounded by the deadline alone). */
  readonly maxAttempts: number;
  /** The pause after the `failures`-th failed attempt (≥ 1), ms; `random` ∈ [0, 1) is for jitter. */
  readonly pauseMs: (failures: number, random: number) => number;
  /** A failure that says how long to wait (`Retry-After`, as the provider asked) is waited for that long instead. */
  readonly honoursRetryAfter: boolean;
  /** The run must pass a deadline: no retry starts unless its pause and one more attempt end by then. */
  readonly needsDeadline: boolean;
}

const transientUpstream = (failure: BrokerError) => failure.code === 'upstream_unavailable';
const lostCompareAndSet = (failure: BrokerError) => failure.code === 'conflict';
/** A compare-and-set lost to a concurrent writer, or its transaction to a concurrent transaction. */
const lostRace = (failure: BrokerError) => lostCompareAndSet(failure) || failure instanceof TransactionContention;

/**
 * The refresh grant (RFC 6749 §6) towards the provider: a provider outage (`upstream_unavailable`)
 * is retried up to 3 attempts, after a full-jitter exponential pause (≤ 200 ms, then ≤ 400 ms, at
 * most 2 s), or after the provider's `Retry-After`; only while the answer still fits before the
 * caller's deadline, counting one more HTTP time-out. `invalid_grant` is never retried.
 */
export const REFRESH_GRANT: RetryPolicy = {
  retryable: transientUpstream,
  maxAttempts: 3,
  pauseMs: (failures, random) => random * Math.min(2_000, 100 * 2 ** failures),
  honoursRetryAfter: true,
  needsDeadline: true,
};

/**
 * Sealing and committing a rotated token pair: the provider has already retired the old refresh
 * token, so every transient failure (503: store or key service) is retried after 200 ms, 400 ms,
 * 800 ms, 1.6 s, then every 2 s (so a pair lands within about 2 s of the store coming back), for as
 * long as the deadline allows (the lease, see `refresh.ts`). An integrity failure (`server_error`)
 * is never retried.
 */
export const ROTATED_PAIR_COMMIT: RetryPolicy = {
  retryable: (failure) => failure.status === 503,
  maxAttempts: Number.POSITIVE_INFINITY,
  pauseMs: (failures) => Math.min(2_000, 200 * 2 ** (failures - 1)),
  honoursRetryAfter: false,
  needsDeadline: true,
};

/**
 * Best-effort calls that clean up at the provider: token revocation (RFC 7009) and client deletion
 * (RFC 7592). A provider outage is tried once more after 200 ms, then reported, never thrown further
 * by the callers; no deadline beyond the two HTTP time-outs.
 */
export const UPSTREAM_CLEANUP: RetryPolicy = {
  retryable: transientUpstream,
  maxAttempts: 2,
  pauseMs: () => 200,
  honoursRetryAfter: false,
  needsDeadline: false,
};

/**
 * An attempt that did part of its work and leaves the rest to the next attempt (a BatchWriteItem
 * that DynamoDB answered with unprocessed items, which means the table is throttled). Left over
 * after the last attempt, it is the 503 the caller sees.
 */
export class UnfinishedAttempt extends BrokerError {
  constructor(description: string) {
    super('temporarily_unavailable', 503, description);
  }
}

/**
 * A DynamoDB transaction canceled because another one wrote one of its items at the same moment
 * (`TransactionConflict`): it wrote nothing, and the same transaction may land in a moment. Left
 * over after the last attempt ({@link TRANSACTION_CONTENTION}), it is the 503 the caller sees, with
 * its `Retry-After`: the store is busy, the request is not wrong (CONTRACT.md: 503 is anything
 * that may work in a moment).
 */
export class TransactionContention extends BrokerError {
  constructor(description: string, cause: unknown) {
    super('temporarily_unavailable', 503, description, { cause, retryAfterS: 1 });
  }
}

/**
 * The audit batch write: the records DynamoDB left unprocessed (and only those: a failed request was
 * already retried by the SDK) are sent again up to 5 attempts in all, after 40, 80, 160, 320 ms.
 */
export const AUDIT_BATCH_REMAINDER: RetryPolicy = {
  retryable: (failure) => failure instanceof UnfinishedAttempt,
  maxAttempts: 5,
  pauseMs: (failures) => 20 * 2 ** failures,
  honoursRetryAfter: false,
  needsDeadline: false,
};

/**
 * A BatchGetItem (the tenant list's tenant records and counts): the keys DynamoDB left unprocessed
 * (the table is throttled) are asked for again, paced as the audit batch write's remainder.
 */
export const BATCH_GET_REMAINDER: RetryPolicy = { ...AUDIT_BATCH_REMAINDER };

/**
 * Delivering a batch of events (EventBridge PutEvents, the local webhook) from the outbox, off the
 * request path: what the receiver did not accept (an {@link UnfinishedAttempt}: entries EventBridge
 * failed) and passing failures (503: unreachable, throttled, a webhook's 5xx or time-out) are sent
 * again, 3 attempts in all, after a jittered 250 ms then 500 ms. A refusal (a 4xx, no permission)
 * is not retried; what is left is counted as failed.
 */
export const EVENT_DELIVERY: RetryPolicy = {
  retryable: (failure) => failure instanceof UnfinishedAttempt || failure.status === 503,
  maxAttempts: 3,
  pauseMs: (failures, random) => (0.5 + random / 2) * 250 * 2 ** (failures - 1),
  honoursRetryAfter: false,
  needsDeadline: false,
};

/**
 * Compare-and-set loops on an account item: a write conditioned on the generation read lost to a
 * concurrent writer (`conflict`), or its transaction kept colliding with others (a
 * {@link TransactionContention}, already paused and retried), so the item is read (or taken from
 * the failed write) and the write made again at once, without a pause; after the last attempt the
 * conflict is the caller's 409, the contention its 503.
 */
const compareAndSet = (maxAttempts: number): RetryPolicy => ({ retryable: lostRace, maxAttempts, pauseMs: () => 0, honoursRetryAfter: false, needsDeadline: false });
/** Storing a freshly linked token set over whatever the account holds: 5 attempts. */
export const LINKED_TOKENS_PUT = compareAndSet(5);
/** Unlinking at the generation whose refresh token was revoked (a newer one is revoked in its turn): 3 attempts. */
export const UNLINK_AT_GENERATION = compareAndSet(3);
/** Moving an account to `needs_reauth` at the generation read (a region change): 3 attempts. */
export const REAUTH_AT_GENERATION = compareAndSet(3);

/**
 * A DynamoDB transaction canceled by another one on the same item (`TransactionConflict`: account
 * transitions of one tenant all add to its directory entry's counts): it wrote nothing, so it is sent
 * again, 5 attempts in all, after a full-jitter pause of at most 20, 40, 80, 160 ms; then it is the
 * caller's 503 ({@link TransactionContention}).
 */
export const TRANSACTION_CONTENTION: RetryPolicy = {
  retryable: (failure) => failure instanceof TransactionContention,
  maxAttempts: 5,
  pauseMs: (failures, random) => random * 10 * 2 ** failures,
  honoursRetryAfter: false,
  needsDeadline: false,
};

/**
 * Recording that a caller received a token (`lib/broker/token-exposure.ts`): a transaction that lost
 * a race (another transaction on the same marker, a {@link TransactionContention}; or the tenant's
 * incarnation changed, a `conflict`) is made again after 10–30 ms, 3 attempts in all; the next
 * attempt finds the marker written, or reads the tenant anew. Then the contention is the read's 503,
 * the changed tenant its 409.
 */
export const EXPOSURE_WRITE: RetryPolicy = {
  retryable: lostRace,
  maxAttempts: 3,
  pauseMs: (_failures, random) => 10 + random * 20,
  honoursRetryAfter: false,
  needsDeadline: false,
};

export interface RetryRun {
  /** Names the operation in the description of a failure the normaliser classifies (`refresh`, `revocation`). */
  what: string;
  /** ms epoch clock the deadline is read on (injected in tests); pauses are real time. */
  clock?: () => number;
  /** ms epoch: a retry starts only when its pause and `attemptMs` end by then. */
  deadline?: number;
  /** How long one attempt may take (an HTTP time-out), counted against the deadline. */
  attemptMs?: number;
  /** Told of every failed attempt, retried or not (to forget a discovery document, to count). */
  onFailure?: (failure: BrokerError, attempt: number) => void;
  random?: () => number;
  /** Pauses for `ms` (real time unless a test passes its own). */
  sleep?: (ms: number) => Promise<unknown>;
}

export type RetryOutcome<T> = { ok: true; value: T; attempts: number } | { ok: false; error: BrokerError; attempts: number };

/** Runs `attempt` under `policy`: its value, or the outcome of the last attempt, normalised. Never throws. */
export async function attemptWithRetries<T>(policy: RetryPolicy, run: RetryRun, attempt: (n: number) => Promise<T>): Promise<RetryOutcome<T>> {
  if (policy.needsDeadline && run.deadline === undefined) throw new Error(`a retry policy that needs a deadline ran without one (${run.what})`);
  const clock = run.clock ?? Date.now;
  const random = run.random ?? Math.random;
  const pause = run.sleep ?? sleep;
  for (let n = 1; ; n++) {
    try {
      return { ok: true, value: await attempt(n), attempts: n };
    } catch (thrown) {
      const failure = toBrokerError(thrown, run.what);
      run.onFailure?.(failure, n);
      const asked = policy.honoursRetryAfter ? failure.requestedRetryAfterS : undefined;
      const pauseMs = asked !== undefined ? asked * 1000 : policy.pauseMs(n, random());
      // the next attempt needs time for itself too: stop when it would not fit
      const outOfTime = run.deadline !== undefined && clock() + pauseMs + (run.attemptMs ?? 0) > run.deadline;
      if (!policy.retryable(failure) || n >= policy.maxAttempts || outOfTime) return { ok: false, error: failure, attempts: n };
      if (pauseMs > 0) await pause(pauseMs);
    }
  }
}

/** Runs `attempt` under `policy`: its value, or the last failure thrown, normalised. */
export async function withRetries<T>(policy: RetryPolicy, run: RetryRun, attempt: (n: number) => Promise<T>): Promise<T> {
  const outcome = await attemptWithRetries(policy, run, attempt);
  if (outcome.ok) return outcome.value;
  throw outcome.error;
}
