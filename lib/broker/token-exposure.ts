import { BrokerError, notFound } from '../errors.js';
import { EXPOSURE_WRITE, withRetries } from '../retry.js';
import { addExposureHint, callerDigest, hintOf, recordExposure } from '../store/exposures.js';
import type { BrokerDeps } from './deps.js';
import type { CachedToken } from './token-cache.js';

/** Caller labels and their digests: a service calls with the same few labels again and again. */
const digests = new Map<string, { digest: string; hint: string }>();

function digestOf(callerId: string): { digest: string; hint: string } {
  let known = digests.get(callerId);
  if (known === undefined) {
    if (digests.size >= 10_000) digests.clear();
    const digest = callerDigest(callerId);
    known = { digest, hint: hintOf(digest) };
    digests.set(callerId, known);
  }
  return known;
}

/** The caller is known to hold its `token.read` of this token (this instance's write, or the account's exposure hint). */
export const holdsTokenRead = (callerId: string, entry: CachedToken): boolean => entry.exposedTo.has(digestOf(callerId).hint);

/**
 * Audit by exposure (CONTRACT.md, "Audit trail"): before a caller first receives a token of an
 * account, a durable `token.read { caller, account, generation, token_fingerprint }` exists, and
 * exactly one per caller and token, whichever instance serves it. Answers true when this read is
 * the one recorded (it is then not counted again in `token.reads`).
 *
 * - For a caller not known to hold that event: one known to hold it already ({@link holdsTokenRead}:
 *   this instance's own write, or the account's exposure hint) gets the token with no I/O at all,
 *   without a promise, and never comes here.
 * - One transaction writes the marker and the event (`recordExposure`); when another
 *   instance was first, it writes nothing. Concurrent reads of this instance share that write (only
 *   the first is the recorded read). Then the caller joins the account's hint, so that other
 *   instances reading the account learn it without a write.
 * - When the event cannot be written, the token is not served: the read fails instead.
 */
export async function exposeToken(
  deps: Pick<BrokerDeps, 'db' | 'auditLog' | 'clock' | 'log' | 'singleFlight'>,
  callerId: string,
  target: { tenant: string; account: string },
  entry: CachedToken,
  outcome: string,
): Promise<boolean> {
  const { digest, hint } = digestOf(callerId);
  let first = false;
  const recorded = await deps.singleFlight.run(`expose:${target.tenant}/${target.account}/${entry.fingerprint}/${digest}`, () => {
    first = true;
    return recordOnce(deps, callerId, digest, target, entry, outcome);
  });
  entry.exposedTo.add(hint);
  return first && recorded;
}

/** The exposure's transaction (retried on a lost race), then the account's hint. */
async function recordOnce(
  deps: Pick<BrokerDeps, 'db' | 'auditLog' | 'clock' | 'log'>,
  callerId: string,
  digest: string,
  target: { tenant: string; account: string },
  entry: CachedToken,
  outcome: string,
): Promise<boolean> {
  const hintIsOfThisToken = entry.exposedTo.size > 0;
  const recorded = await withRetries(EXPOSURE_WRITE, { what: 'audit write' }, async (attempt) => {
    // the incarnation this instance knows first; after a failed check, the one stored now
    const trail = attempt === 1 ? await deps.auditLog.knownTrail(target.tenant) : await deps.auditLog.currentTrail(target.tenant);
    if (!trail) throw notFound(`tenant ${target.tenant} is not registered`);
    const exposure = {
      trail,
      account: target.account,
      generation: entry.generation,
      fingerprint: entry.fingerprint,
      caller: callerId,
      digest,
      outcome,
      at: new Date(deps.clock()).toISOString(),
    };
    const res = await recordExposure(deps.db, exposure, deps.auditLog.retentionDays);
    if (res === 'trail_moved') throw new BrokerError('conflict', 409, `tenant ${target.tenant} changed while this read was being recorded; try again`);
    return res === 'recorded';
  });
  const hinted = { ...target, generation: entry.generation, linkedAt: entry.linkedAt, fingerprint: entry.fingerprint };
  await addExposureHint(deps.db, hinted, hintOf(digest), hintIsOfThisToken).catch((err: unknown) => deps.log.warn('audit.hint_failed', { ...target, err }));
  return recorded;
}
