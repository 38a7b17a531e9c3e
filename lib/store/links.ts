import { DeleteCommand, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { keys } from './schema.js';
import { conditional, stripKeys } from './conditional.js';
import type { FlowStateRecord, LinkRecord } from './records.js';
import type { Db } from './table.js';

const ttlOf = (expiresAt: number) => Math.ceil(expiresAt / 1000);

export async function putLink(db: Db, link: LinkRecord): Promise<void> {
  await db.doc.send(
    new PutCommand({
      TableName: db.table,
      Item: { ...keys.link(link.linkId), ...link, ttl: ttlOf(link.expiresAt) },
      ConditionExpression: 'attribute_not_exists(pk)',
    }),
  );
}

/** Reads a link without consuming it (the consuming is {@link consumeLink}'s job). */
export async function peekLink(db: Db, linkId: string): Promise<LinkRecord | undefined> {
  const out = await db.doc.send(new GetCommand({ TableName: db.table, Key: keys.link(linkId), ConsistentRead: true }));
  return out.Item ? stripKeys<LinkRecord>(out.Item) : undefined;
}

export type ConsumeResult<T> = { ok: true; record: T } | { ok: false; reason: 'unknown' | 'expired' | 'mismatch' };

/** Links are single-use: consumed by one conditional delete, never read-then-delete. */
export async function consumeLink(db: Db, linkId: string, now: number): Promise<ConsumeResult<LinkRecord>> {
  const res = await conditional(() =>
    db.doc.send(
      new DeleteCommand({
        TableName: db.table,
        Key: keys.link(linkId),
        ConditionExpression: 'attribute_exists(pk) AND expiresAt > :now',
        ExpressionAttributeValues: { ':now': now },
        ReturnValues: 'ALL_OLD',
        ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
      }),
    ),
  );
  if (res.ok) return { ok: true, record: stripKeys<LinkRecord>(res.value.Attributes ?? {}) };
  return { ok: false, reason: res.old ? 'expired' : 'unknown' };
}

export async function putFlowState(db: Db, flow: FlowStateRecord): Promise<void> {
  await db.doc.send(
    new PutCommand({
      TableName: db.table,
      Item: { ...keys.state(flow.state), ...flow, ttl: ttlOf(flow.expiresAt) },
      ConditionExpression: 'attribute_not_exists(pk)',
    }),
  );
}

/**
 * State is single-use, unexpired and bound to the browser that started the flow: one conditional
 * delete checks all three. A request from another browser does not consume the state, so an
 * attacker replaying a victim's callback URL cannot burn the victim's flow.
 */
export async function consumeFlowState(db: Db, state: string, browserHash: string, now: number): Promise<ConsumeResult<FlowStateRecord>> {
  const res = await conditional(() =>
    db.doc.send(
      new DeleteCommand({
        TableName: db.table,
        Key: keys.state(state),
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
