import { ProvisionedThroughputExceededException } from '@aws-sdk/client-dynamodb';
import { describe, expect, it } from 'vitest';
import { BrokerError } from '../lib/errors.js';
import {
  attemptWithRetries,
  AUDIT_BATCH_REMAINDER,
  LINKED_TOKENS_PUT,
  REAUTH_AT_GENERATION,
  REFRESH_GRANT,
  ROTATED_PAIR_COMMIT,
  UNLINK_AT_GENERATION,
  UnfinishedAttempt,
  UPSTREAM_CLEANUP,
  withRetries,
  type RetryPolicy,
  type RetryRun,
} from '../lib/retry.js';
import { manualClock } from './support/clock.js';

const outage = (retryAfterS?: number) => new BrokerError('upstream_unavailable', 503, 'the provider answered HTTP 503', retryAfterS === undefined ? {} : { retryAfterS });
const busyStore = () => new BrokerError('temporarily_unavailable', 503, 'the table is busy');
const lostCas = () => new BrokerError('conflict', 409, 'the account changed meanwhile');

/** Runs `policy` over a script of failures (then success): how many attempts were made, the pauses between them, how it ended. */
async function script(policy: RetryPolicy, failures: unknown[], run: Partial<RetryRun> = {}) {
  let calls = 0;
  const pausesMs: number[] = [];
  const sleep = async (ms: number) => pausesMs.push(ms);
  const outcome = await attemptWithRetries(policy, { what: 'test', random: () => 0.5, sleep, ...run }, async (n) => {
    calls += 1;
    expect(n).toBe(calls);
    if (calls <= failures.length) throw failures[calls - 1];
    return 'done';
  });
  return { calls, pausesMs, outcome };
}

describe('the retry helper', () => {
  it('the refresh grant retries a provider outage up to 3 attempts in all, never invalid_grant', async () => {
    const clock = manualClock();

    const outages = await script(REFRESH_GRANT, [outage(), outage(), outage(), outage()], { clock, deadline: clock() + 60_000 });
    const refused = await script(REFRESH_GRANT, [new BrokerError('invalid_grant', 409, 'refused')], { clock, deadline: clock() + 60_000 });
    const recovered = await script(REFRESH_GRANT, [outage()], { clock, deadline: clock() + 60_000 });

    // full jitter (random 0.5 here) of 200 ms, then of 400 ms
    expect(outages).toMatchObject({ calls: 3, pausesMs: [100, 200], outcome: { ok: false, attempts: 3, error: { code: 'upstream_unavailable' } } });
    expect(refused).toMatchObject({ calls: 1, outcome: { ok: false, error: { code: 'invalid_grant' } } });
    expect(recovered).toMatchObject({ calls: 2, outcome: { ok: true, value: 'done' } });
  });

  it('the refresh grant waits as long as the provider asked (Retry-After), and starts no attempt that would not fit before the deadline', async () => {
    const clock = manualClock();

    const waited = await script(REFRESH_GRANT, [outage(3)], { clock, deadline: clock() + 10_000, attemptMs: 1_000 });
    // 8 s asked + 5 s for the next attempt do not fit in 10 s: the outage is answered at once
    const tooLate = await script(REFRESH_GRANT, [outage(8)], { clock, deadline: clock() + 10_000, attemptMs: 5_000 });

    expect(waited).toMatchObject({ calls: 2, pausesMs: [3_000], outcome: { ok: true } });
    expect(tooLate).toMatchObject({ calls: 1, pausesMs: [], outcome: { ok: false, error: { code: 'upstream_unavailable', retryAfterS: 8 } } });
  });

  it('a rotated pair commit retries every transient failure until its deadline, and never an integrity failure', async () => {
    const clock = manualClock();

    // pauses of 200 and 400 ms fit in 700 ms, the next one (800 ms) does not
    const untilDeadline = await script(ROTATED_PAIR_COMMIT, Array.from({ length: 10 }, busyStore), { clock, deadline: clock() + 700 });
    const integrity = await script(ROTATED_PAIR_COMMIT, [new BrokerError('server_error', 500, 'stored credentials failed an integrity check')], { clock, deadline: clock() + 60_000 });
    const passing = await script(ROTATED_PAIR_COMMIT, [new ProvisionedThroughputExceededException({ message: 'Rate exceeded', $metadata: {} })], { clock, deadline: clock() + 60_000 });

    expect(untilDeadline).toMatchObject({ calls: 3, pausesMs: [200, 400], outcome: { ok: false, error: { code: 'temporarily_unavailable' } } });
    expect(integrity).toMatchObject({ calls: 1, outcome: { ok: false, error: { code: 'server_error' } } });
    expect(passing).toMatchObject({ calls: 2, outcome: { ok: true } });
  });

  it('a policy with a deadline refuses to run without one', async () => {
    await expect(withRetries(REFRESH_GRANT, { what: 'refresh' }, async () => 'never')).rejects.toThrow(/deadline/);
  });

  it('revocation and client deletion try a provider outage once more, then answer the outcome instead of throwing', async () => {
    const twice = await script(UPSTREAM_CLEANUP, [outage(), outage()]);
    const refused = await script(UPSTREAM_CLEANUP, [new BrokerError('upstream_error', 502, 'the provider answered invalid_request')]);

    expect(twice).toMatchObject({ calls: 2, pausesMs: [200], outcome: { ok: false, attempts: 2, error: { code: 'upstream_unavailable' } } });
    expect(refused).toMatchObject({ calls: 1, outcome: { ok: false, attempts: 1, error: { code: 'upstream_error' } } });
  });

  it('the audit batch sends what DynamoDB left unprocessed again, 5 attempts in all, and never a request the SDK already retried', async () => {
    const unfinished = () => new UnfinishedAttempt('3 audit records were left unprocessed');

    const remainder = await script(AUDIT_BATCH_REMAINDER, [unfinished(), unfinished()]);
    const exhausted = await script(AUDIT_BATCH_REMAINDER, Array.from({ length: 9 }, unfinished));
    const thrownBySdk = await script(AUDIT_BATCH_REMAINDER, [new ProvisionedThroughputExceededException({ message: 'Rate exceeded', $metadata: {} })]);

    expect(remainder).toMatchObject({ calls: 3, pausesMs: [40, 80], outcome: { ok: true } });
    // left over, the remainder is a 503 with Retry-After, not a 500
    expect(exhausted).toMatchObject({ calls: 5, pausesMs: [40, 80, 160, 320], outcome: { ok: false, error: { code: 'temporarily_unavailable', status: 503, retryAfterS: expect.any(Number) } } });
    expect(thrownBySdk).toMatchObject({ calls: 1, outcome: { ok: false, error: { code: 'temporarily_unavailable' } } });
  });

  it.each([
    ['storing linked tokens', 5, LINKED_TOKENS_PUT],
    ['unlinking at a generation', 3, UNLINK_AT_GENERATION],
    ['marking needs_reauth at a generation', 3, REAUTH_AT_GENERATION],
  ] as const)('a lost compare-and-set (%s) is written again at once, %i attempts in all; nothing else is retried', async (_, attempts, policy) => {
    const lost = await script(policy, Array.from({ length: 9 }, lostCas));
    const storeDown = await script(policy, [busyStore()]);

    expect(lost).toMatchObject({ calls: attempts, pausesMs: [], outcome: { ok: false, error: { code: 'conflict', status: 409 } } });
    expect(storeDown).toMatchObject({ calls: 1, outcome: { ok: false, error: { code: 'temporarily_unavailable' } } });
  });

  it('withRetries throws the last failure normalised, and reports every failed attempt', async () => {
    const seen: number[] = [];
    const clock = manualClock();

    const err = await withRetries(REFRESH_GRANT, { what: 'refresh', clock, deadline: clock() + 60_000, sleep: async () => {}, onFailure: (_, n) => seen.push(n) }, async () => {
      throw new TypeError('fetch failed');
    }).catch((e: unknown) => e);

    expect(err).toBeInstanceOf(BrokerError);
    expect(err).toMatchObject({ code: 'upstream_unavailable', description: 'refresh: the provider could not be reached' });
    expect(seen).toEqual([1, 2, 3]);
  });
});
