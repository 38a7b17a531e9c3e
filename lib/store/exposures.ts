import { documentSdk } from '../aws-sdk.js';
import { createHash } from 'node:crypto';
import { BrokerError } from '../errors.js';
import { TransactionContention } from '../retry.js';
import { auditItem, type AuditEvent, type Trail } from './audit.js';
import { cancellationReasons, conditional } from './conditional.js';
import type { AccountStatus } from './records.js';
import { EXPOSURE_HINT_MAX, keys } from './schema.js';
import type { Db } from './table.js';

const { GetCommand, TransactWriteCommand, UpdateCommand } = documentSdk;

/**
 * Exposure markers and hints (key schema in `schema.ts`): who has received which access token.
 * The marker is the proof (one conditional write per caller and token); the hint on the account
 * item only saves a write to an instance that reads the account anyway.
 */
const sha256Hex = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex');

/** `token_fingerprint` (CONTRACT.md): the first 16 hex characters of the SHA-256 of the access token. */
export const tokenFingerprint = (accessToken: string): string => sha256Hex(accessToken).slice(0, 16);

/** The SHA-256 of a caller's label: the marker's key names a caller by it. */
export const callerDigest = (callerId: string): string => sha256Hex(callerId);

/** A caller as an exposure hint names it: the first 16 hex characters of its digest. */
export const hintOf = (digest: string): string => digest.slice(0, 16);

/** One caller receiving one access token of an account, as the `token.read` event records it. */
export interface Exposure {
  trail: Trail;
  account: string;
  generation: number;
  fingerprint: string;
  caller: string;
  /** {@link callerDigest} of `caller`. */
  digest: string;
  /** How the read was served: `ok`, `refreshed`, `served_stale`. */
  outcome: string;
  at: string;
}

export type ExposureOutcome =
  /** This call wrote the marker and the `token.read` event. */
  | 'recorded'
  /** Another request (on any instance) recorded this caller and token first: nothing was written. */
  | 'already_recorded'
  /** The tenant is not (or no longer) at the trail's incarnation: nothing was written. */
  | 'trail_moved';

/**
 * Records an exposure in one transaction: the tenant is still at the trail's incarnation (a
 * ConditionCheck), the marker of (token, caller) is put only if absent, and the `token.read` event
 * goes into the trail. All three or nothing, so there is exactly one event per caller and token,
 * whichever instance serves it, and never an event in a trail the tenant has left.
 */
export async function recordExposure(db: Db, exposure: Exposure, retentionDays: number): Promise<ExposureOutcome> {
  const { trail } = exposure;
  const event: AuditEvent = {
    at: exposure.at,
    action: 'token.read',
    account: exposure.account,
    caller: exposure.caller,
    outcome: exposure.outcome,
    generation: exposure.generation,
    token_fingerprint: exposure.fingerprint,
  };
  const item = auditItem(trail, event, retentionDays);
  const marker = {
    ...keys.exposure(trail.tenant, exposure.fingerprint, exposure.digest),
    ...event,
    auditFilter: keys.auditByToken(trail.tenant, exposure.fingerprint),
    auditAt: item.sk,
    ttl: item.ttl,
  };
  try {
    await db.doc.send(
      new TransactWriteCommand({
        TransactItems: [
          { ConditionCheck: { TableName: db.table, Key: keys.tenant(trail.tenant), ConditionExpression: 'createdAt = :inc', ExpressionAttributeValues: { ':inc': trail.incarnation } } },
          // exactly one token.read per (caller, token): the marker is written once
          { Put: { TableName: db.table, Item: marker, ConditionExpression: 'attribute_not_exists(pk)' } },
          { Put: { TableName: db.table, Item: item } },
        ],
      }),
    );
    return 'recorded';
  } catch (err) {
    const reasons = cancellationReasons(err);
    if (!reasons) throw err;
    if (reasons[0]?.code === 'ConditionalCheckFailed') return 'trail_moved';
    if (reasons[1]?.code === 'ConditionalCheckFailed') return 'already_recorded';
    if (reasons.some((r) => r.code === 'TransactionConflict')) throw new TransactionContention('another request recorded a read of this token at the same moment; try again shortly', err);
    if (reasons.some((r) => r.code === 'ThrottlingError' || r.code === 'ProvisionedThroughputExceeded' || r.code === 'RequestLimitExceeded')) {
      throw new BrokerError('temporarily_unavailable', 503, 'the audit trail is busy; try again shortly', { cause: err, retryAfterS: 1 });
    }
    throw err;
  }
}

/** What a revalidation reads of an account: enough to tell whether the cached token is still its current one. */
export interface TokenState {
  generation: number;
  linkedAt: number;
  status: AccountStatus;
  hint: ExposureHint | undefined;
}

/** The callers an account item says have received its current access token (`fingerprint`). */
export interface ExposureHint {
  fingerprint: string;
  callers: Set<string>;
}

export function exposureHintOf(item: Record<string, unknown>): ExposureHint | undefined {
  const { exposedToken, exposedTo } = item;
  if (typeof exposedToken !== 'string' || !(exposedTo instanceof Set)) return undefined;
  return { fingerprint: exposedToken, callers: exposedTo as Set<string> };
}

/** A projected, consistent read of an account: generation, link time, status and exposure hint; never the sealed tokens. */
export async function readTokenState(db: Db, tenant: string, account: string, abortSignal?: AbortSignal): Promise<TokenState | undefined> {
  const out = await db.doc.send(
    new GetCommand({
      TableName: db.table,
      Key: keys.account(tenant, account),
      ConsistentRead: true,
      ProjectionExpression: 'generation, linkedAt, #status, exposedToken, exposedTo',
      ExpressionAttributeNames: { '#status': 'status' },
    }),
    abortSignal ? { abortSignal } : {},
  );
  if (!out.Item) return undefined;
  return { generation: Number(out.Item.generation), linkedAt: Number(out.Item.linkedAt), status: out.Item.status as AccountStatus, hint: exposureHintOf(out.Item) };
}

/**
 * Adds a caller to the account's exposure hint, after its marker exists. Only while the item still
 * holds the same token set (generation and link time), and the hint names at most
 * {@link EXPOSURE_HINT_MAX} callers; otherwise nothing is written (the marker alone is the proof).
 * Answers whether the hint was written.
 */
export async function addExposureHint(
  db: Db,
  target: { tenant: string; account: string; generation: number; linkedAt: number; fingerprint: string },
  hint: string,
  hintIsOfThisToken: boolean,
): Promise<boolean> {
  const values = { ':g': target.generation, ':l': target.linkedAt, ':fp': target.fingerprint, ':hint': new Set([hint]) };
  const sameTokens = 'generation = :g AND linkedAt = :l';
  const add = () =>
    conditional(() =>
      db.doc.send(
        new UpdateCommand({
          TableName: db.table,
          Key: keys.account(target.tenant, target.account),
          UpdateExpression: 'ADD exposedTo :hint',
          ConditionExpression: `${sameTokens} AND exposedToken = :fp AND size(exposedTo) < :max`,
          ExpressionAttributeValues: { ...values, ':max': EXPOSURE_HINT_MAX },
        }),
      ),
    );
  const start = () =>
    conditional(() =>
      db.doc.send(
        new UpdateCommand({
          TableName: db.table,
          Key: keys.account(target.tenant, target.account),
          UpdateExpression: 'SET exposedToken = :fp, exposedTo = :hint',
          ConditionExpression: `${sameTokens} AND (attribute_not_exists(exposedToken) OR exposedToken <> :fp)`,
          ExpressionAttributeValues: values,
        }),
      ),
    );
  // the hint seen may be out of date: the other form is tried once
  const [first, second] = hintIsOfThisToken ? [add, start] : [start, add];
  return (await first()).ok || (await second()).ok;
}
