import type { TransactWriteCommandInput } from '@aws-sdk/lib-dynamodb';
import { documentSdk } from '../aws-sdk.js';
import { conditional, stripKeys, transactWrite } from './conditional.js';
import type { FlowStateRecord, LinkRecord, LinkSessionRecord } from './records.js';
import { DUE_INDEX, keys, LINK_SESSIONS_DUE, type SecretHash } from './schema.js';
import type { Db } from './table.js';

const { DeleteCommand, GetCommand, PutCommand, QueryCommand, UpdateCommand } = documentSdk;

/**
 * Links, flow states and link sessions (key shapes in `schema.ts`). Every item is keyed by the hash
 * of its secret id, so every function here takes a {@link SecretHash}, never the secret.
 */

const ttlOf = (expiresAt: number) => Math.ceil(expiresAt / 1000);
/** An unconfirmed link session outlives its expiry by a day, so the refresher can still revoke its tokens before TTL deletes it. */
const LINK_SESSION_KEPT_S = 24 * 60 * 60;

type TransactItem = NonNullable<TransactWriteCommandInput['TransactItems']>[number];
/** The conditional update that makes a guarded write single-use (a link's completion, a session's confirmation). */
export type GuardUpdate = NonNullable<TransactItem['Update']>;
/** The write a guard allows (an account's linked token set, a new link session). */
export type GuardedPut = NonNullable<TransactItem['Put']>;

export async function putLink(db: Db, linkHash: SecretHash, link: LinkRecord): Promise<void> {
  await db.doc.send(
    new PutCommand({
      TableName: db.table,
      Item: { ...keys.link(linkHash), ...link, ttl: ttlOf(link.expiresAt) },
      ConditionExpression: 'attribute_not_exists(pk)',
    }),
  );
}

export async function getLink(db: Db, linkHash: SecretHash): Promise<LinkRecord | undefined> {
  const out = await db.doc.send(new GetCommand({ TableName: db.table, Key: keys.link(linkHash), ConsistentRead: true }));
  return out.Item ? stripKeys<LinkRecord>(out.Item) : undefined;
}

export type LinkRefusal = 'unknown' | 'expired' | 'used' | 'exhausted';

/**
 * A link may start several flows (an end user trying again after a failure, a second tab), at most
 * `maxFlows`, and none once it has completed a linking: one conditional counter update says which.
 */
export async function startFlowFromLink(db: Db, linkHash: SecretHash, now: number, maxFlows: number): Promise<{ ok: true } | { ok: false; reason: LinkRefusal }> {
  const res = await conditional(() =>
    db.doc.send(
      new UpdateCommand({
        TableName: db.table,
        Key: keys.link(linkHash),
        UpdateExpression: 'ADD flowsStarted :one',
        ConditionExpression: 'attribute_exists(pk) AND attribute_not_exists(completedAt) AND expiresAt > :now AND (attribute_not_exists(flowsStarted) OR flowsStarted < :max)',
        ExpressionAttributeValues: { ':one': 1, ':now': now, ':max': maxFlows },
        ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
      }),
    ),
  );
  return res.ok ? { ok: true } : { ok: false, reason: whyLinkRefused(res.old, now) };
}

function whyLinkRefused(old: Record<string, unknown> | undefined, now: number): LinkRefusal {
  if (!old) return 'unknown';
  if (old.completedAt !== undefined) return 'used';
  if ((old.expiresAt as number) <= now) return 'expired';
  return 'exhausted';
}

export async function putFlowState(db: Db, stateHash: SecretHash, flow: FlowStateRecord): Promise<void> {
  await db.doc.send(
    new PutCommand({
      TableName: db.table,
      Item: { ...keys.state(stateHash), ...flow, ttl: ttlOf(flow.expiresAt) },
      ConditionExpression: 'attribute_not_exists(pk)',
    }),
  );
}

export type ConsumeResult<T> = { ok: true; record: T } | { ok: false; reason: 'unknown' | 'expired' | 'mismatch' };

/**
 * State is single-use, unexpired and bound to the browser that started the flow: one conditional
 * delete checks all three. A request from another browser does not consume the state, so an
 * attacker replaying a victim's callback URL cannot burn the victim's flow.
 */
export async function consumeFlowState(db: Db, stateHash: SecretHash, browserHash: SecretHash, now: number): Promise<ConsumeResult<FlowStateRecord>> {
  const res = await conditional(() =>
    db.doc.send(
      new DeleteCommand({
        TableName: db.table,
        Key: keys.state(stateHash),
        ConditionExpression: 'attribute_exists(pk) AND expiresAt > :now AND browserHash = :hash',
        ExpressionAttributeValues: { ':now': now, ':hash': browserHash },
        ReturnValues: 'ALL_OLD',
        ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
      }),
    ),
  );
  if (res.ok) return { ok: true, record: stripKeys<FlowStateRecord>(res.value.Attributes ?? {}) };
  if (!res.old) return { ok: false, reason: 'unknown' };
  return { ok: false, reason: (res.old.expiresAt as number) <= now ? 'expired' : 'mismatch' };
}

/** A link completes one linking at most: its completion is the guard of the write that links (or awaits confirmation). */
export function linkCompletion(db: Db, linkHash: SecretHash, now: number): GuardUpdate {
  return {
    TableName: db.table,
    Key: keys.link(linkHash),
    UpdateExpression: 'SET completedAt = :now',
    ConditionExpression: 'attribute_exists(pk) AND attribute_not_exists(completedAt) AND expiresAt > :now',
    ExpressionAttributeValues: { ':now': now },
    ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
  };
}

/** A new link session, in the due index under {@link LINK_SESSIONS_DUE} until confirmed or dropped. */
export function linkSessionPut(db: Db, sessionHash: SecretHash, session: LinkSessionRecord): GuardedPut {
  return {
    TableName: db.table,
    Item: {
      ...keys.linkSession(sessionHash),
      ...session,
      dueShard: LINK_SESSIONS_DUE,
      dueAt: ttlOf(session.expiresAt),
      ttl: ttlOf(session.expiresAt) + LINK_SESSION_KEPT_S,
    },
    ConditionExpression: 'attribute_not_exists(pk)',
  };
}

/**
 * A link session is confirmed once, for the account it was made for, before it expires and before
 * the refresher started revoking it; its sealed tokens leave the item in the same write.
 */
export function linkSessionConfirmation(db: Db, sessionHash: SecretHash, confirm: { account: string; by: string; now: number }): GuardUpdate {
  return {
    TableName: db.table,
    Key: keys.linkSession(sessionHash),
    UpdateExpression: 'SET confirmedAt = :now, confirmedBy = :by REMOVE sealedTokens, dueShard, dueAt',
    ConditionExpression:
      'attribute_exists(pk) AND #account = :account AND attribute_not_exists(confirmedAt) AND attribute_not_exists(revocationAttempts) AND expiresAt > :now',
    ExpressionAttributeNames: { '#account': 'account' },
    ExpressionAttributeValues: { ':now': confirm.now, ':by': confirm.by, ':account': confirm.account },
    ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
  };
}

export type GuardedWrite = { ok: true } | { ok: false; failed: 'guard'; old: Record<string, unknown> | undefined } | { ok: false; failed: 'write' };

/**
 * The guard and the write it allows as one transaction: a link is completed exactly when its
 * account (or link session) is stored, and never twice; `alongside` are unconditional writes the
 * same change makes (the tenant's account counts). A transaction that kept colliding with others on
 * the same items is a `TransactionContention` (lib/retry.ts), which the caller's compare-and-set loop retries.
 */
export async function writeGuarded(db: Db, guard: GuardUpdate, write: GuardedPut, alongside: TransactItem[] = []): Promise<GuardedWrite> {
  const res = await transactWrite(db, [{ Update: guard }, { Put: write }, ...alongside]);
  if (res.ok) return { ok: true };
  const [guardReason, writeReason] = res.reasons;
  if (guardReason?.code === 'ConditionalCheckFailed') return { ok: false, failed: 'guard', old: guardReason.old };
  if (writeReason?.code === 'ConditionalCheckFailed') return { ok: false, failed: 'write' };
  throw new Error('a transaction was refused by a condition none of its items has');
}

export async function getLinkSession(db: Db, sessionHash: SecretHash): Promise<LinkSessionRecord | undefined> {
  const out = await db.doc.send(new GetCommand({ TableName: db.table, Key: keys.linkSession(sessionHash), ConsistentRead: true }));
  return out.Item ? stripKeys<LinkSessionRecord>(out.Item) : undefined;
}

/** Keys of link sessions that expired unconfirmed by `nowS` (epoch s), from the due index. */
export async function queryExpiredLinkSessions(
  db: Db,
  nowS: number,
  options: { limit: number; startKey?: Record<string, unknown> | undefined },
): Promise<{ keys: { pk: string; sk: string }[]; startKey?: Record<string, unknown> }> {
  const out = await db.doc.send(
    new QueryCommand({
      TableName: db.table,
      IndexName: DUE_INDEX,
      KeyConditionExpression: 'dueShard = :shard AND dueAt <= :now',
      ExpressionAttributeValues: { ':shard': LINK_SESSIONS_DUE, ':now': nowS },
      Limit: options.limit,
      ExclusiveStartKey: options.startKey,
    }),
  );
  return {
    keys: (out.Items ?? []).map((item) => ({ pk: String(item.pk), sk: String(item.sk) })),
    ...(out.LastEvaluatedKey ? { startKey: out.LastEvaluatedKey } : {}),
  };
}

/**
 * Claims an expired, unconfirmed session for one revocation attempt: the attempt is counted (from
 * then on the session cannot be confirmed) and the session leaves the due index until `retryAtS`,
 * so overlapping refresher runs never revoke it twice at once.
 */
export async function claimExpiredLinkSession(db: Db, key: { pk: string; sk: string }, now: number, retryAtS: number): Promise<LinkSessionRecord | undefined> {
  const res = await conditional(() =>
    db.doc.send(
      new UpdateCommand({
        TableName: db.table,
        Key: key,
        UpdateExpression: 'ADD revocationAttempts :one SET dueAt = :retry',
        ConditionExpression: 'attribute_exists(sealedTokens) AND attribute_not_exists(confirmedAt) AND expiresAt <= :now AND dueAt <= :nowS',
        ExpressionAttributeValues: { ':one': 1, ':retry': retryAtS, ':now': now, ':nowS': Math.floor(now / 1000) },
        ReturnValues: 'ALL_NEW',
      }),
    ),
  );
  return res.ok ? stripKeys<LinkSessionRecord>(res.value.Attributes ?? {}) : undefined;
}

/** Drops the tokens of an expired session (revoked, or given up on) and takes it out of the due index; the husk answers 404 until TTL. */
export async function dropLinkSessionTokens(db: Db, key: { pk: string; sk: string }, now: number): Promise<void> {
  await conditional(() =>
    db.doc.send(
      new UpdateCommand({
        TableName: db.table,
        Key: key,
        UpdateExpression: 'SET droppedAt = :now REMOVE sealedTokens, dueShard, dueAt',
        ConditionExpression: 'attribute_not_exists(confirmedAt)',
        ExpressionAttributeValues: { ':now': now },
      }),
    ),
  );
}
