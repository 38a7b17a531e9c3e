import { documentSdk } from '../aws-sdk.js';
import { randomBytes, randomInt } from 'node:crypto';
import { AUDIT_BATCH_REMAINDER, UnfinishedAttempt, withRetries } from '../retry.js';
import { AUDIT_INDEX, AUDIT_SHARDS, auditSortKey, auditSortParts, keys } from './schema.js';
import type { Db } from './table.js';

const { BatchWriteCommand, GetCommand, PutCommand, QueryCommand } = documentSdk;

/**
 * The audit trail in the table (key schema in `schema.ts`): events of one tenant incarnation,
 * spread over {@link AUDIT_SHARDS} partitions, with a sparse index for the account and token
 * filters. Every page of {@link listAudit} costs a bounded number of store reads, whatever the
 * filter: at most 1 (the tenant's incarnation) + {@link AUDIT_SHARDS} (the shards of a deleted
 * tenant's latest incarnation) + {@link AUDIT_SHARDS} (an unfiltered page) Queries.
 */
export type AuditAction =
  | 'tenant.register'
  | 'tenant.update'
  | 'tenant.delete'
  | 'link.create'
  | 'link.complete'
  | 'token.read'
  | 'token.reads'
  | 'token.refresh'
  | 'account.reauth'
  | 'account.unlink'
  | 'access.denied';

/** One event, as stored and as `GET …/audit` answers it (CONTRACT.md, "Audit trail"). */
export interface AuditEvent {
  at: string; // ISO time
  action: AuditAction;
  account?: string;
  caller: string;
  outcome: string;
  generation?: number;
  token_fingerprint?: string;
  count?: number;
}

/** The trail of one tenant incarnation: a tenant deleted and registered again under the same id starts another. */
export interface Trail {
  tenant: string;
  /** The tenant record's `createdAt` (ms epoch). */
  incarnation: number;
}

export const trailOf = (tenant: { tenant: string; createdAt: number }): Trail => ({ tenant: tenant.tenant, incarnation: tenant.createdAt });

export type AuditItem = Record<string, unknown> & { pk: string; sk: string; ttl: number };

let sequence = 0;

/** Per-process sequence (order within one millisecond), then randomness (across processes). */
function nextEventId(): string {
  sequence = (sequence + 1) % 0x1_0000_0000;
  return `${sequence.toString(16).padStart(8, '0')}${randomBytes(4).toString('hex')}`;
}

/**
 * The item of one event, in a random shard of its trail. Its key is fixed here, once: writing the
 * same item again overwrites it, so a write retried after an unclear failure never counts twice.
 */
export function auditItem(trail: Trail, event: AuditEvent, retentionDays: number): AuditItem {
  const sk = keys.auditSort(trail.incarnation, event.at, nextEventId());
  return {
    pk: keys.auditShard(trail.tenant, randomInt(AUDIT_SHARDS)),
    sk,
    ...event,
    ...(event.account ? { auditFilter: keys.auditByAccount(trail.tenant, event.account), auditAt: sk } : {}),
    ttl: Math.ceil(Date.parse(event.at) / 1000) + retentionDays * 86_400,
  };
}

/** Writes one audit item. Throws when it cannot be written: callers answer only after it lands. */
export async function putAuditItem(db: Db, item: AuditItem): Promise<void> {
  await db.doc.send(new PutCommand({ TableName: db.table, Item: item }));
}

/**
 * Writes up to 25 audit items in one request (BatchWriteItem). Resolves only when every one is
 * stored; items DynamoDB leaves unprocessed are sent again ({@link AUDIT_BATCH_REMAINDER}), then the
 * whole batch fails with a 503.
 */
export async function putAuditItems(db: Db, items: AuditItem[]): Promise<void> {
  if (items.length === 1) return putAuditItem(db, items[0]!);
  let requests = items.map((Item) => ({ PutRequest: { Item } }));
  await withRetries(AUDIT_BATCH_REMAINDER, { what: 'audit write' }, async () => {
    const out = await db.doc.send(new BatchWriteCommand({ RequestItems: { [db.table]: requests } }));
    requests = (out.UnprocessedItems?.[db.table] ?? []) as typeof requests;
    if (requests.length > 0) throw new UnfinishedAttempt(`${requests.length} audit records were left unprocessed (the table is busy); try again shortly`);
  });
}

/** The incarnation of a registered tenant (its `createdAt`), or undefined when it does not exist. */
export async function tenantIncarnation(db: Db, tenant: string): Promise<number | undefined> {
  const out = await db.doc.send(
    new GetCommand({ TableName: db.table, Key: keys.tenant(tenant), ConsistentRead: true, ProjectionExpression: 'createdAt' }),
  );
  return typeof out.Item?.createdAt === 'number' ? out.Item.createdAt : undefined;
}

/** The newest incarnation that wrote a trail under this tenant id (a deleted tenant's), from the newest event of each shard. */
async function latestIncarnation(db: Db, tenant: string): Promise<number | undefined> {
  const newest = await Promise.all(
    shards().map((shard) =>
      db.doc.send(
        new QueryCommand({
          TableName: db.table,
          KeyConditionExpression: 'pk = :pk',
          ExpressionAttributeValues: { ':pk': keys.auditShard(tenant, shard) },
          ProjectionExpression: 'sk',
          ScanIndexForward: false,
          Limit: 1,
        }),
      ),
    ),
  );
  const found = newest.flatMap((out) => (out.Items ?? []).map((item) => auditSortParts(String(item.sk)).incarnation));
  return found.length > 0 ? Math.max(...found) : undefined;
}

const shards = () => Array.from({ length: AUDIT_SHARDS }, (_, i) => i);

export interface AuditQueryOptions {
  limit: number;
  /** ISO time (UTC, as stored): events at or after it. */
  since?: string | undefined;
  /** The `next` of the previous page: events older than it. */
  cursor?: string | undefined;
  account?: string | undefined;
  fingerprint?: string | undefined;
  /** The trail to read; by default the registered tenant's, else the newest one left under its id. */
  incarnation?: number | undefined;
}

export interface AuditPage {
  events: AuditEvent[];
  next?: string;
}

/**
 * One page of a tenant's trail, newest first. The registered tenant's trail is read, or, while the
 * id is not registered, the trail its last incarnation left (until its TTL); never an older one.
 */
export async function listAudit(db: Db, tenant: string, options: AuditQueryOptions): Promise<AuditPage> {
  // a tenant deleted and registered again starts a new trail; the old one is not readable through the new tenant
  const incarnation = options.incarnation ?? (await tenantIncarnation(db, tenant)) ?? (await latestIncarnation(db, tenant));
  if (incarnation === undefined) return { events: [] };
  // sort keys `<inc>#<ISO time>#<id>`: a page is one key range, ending just before the cursor
  const range = { lo: auditSortKey(incarnation, options.since ?? ''), hi: auditSortKey(incarnation, options.cursor ?? '~') };
  if (range.lo > range.hi) return { events: [] };
  const fetch = options.limit + 1; // the cursor's own event is in range (BETWEEN is inclusive)
  // every page of GET …/audit costs a bounded number of store reads, whatever the filter
  if (options.fingerprint) return filteredPage(db, keys.auditByToken(tenant, options.fingerprint), range, options.limit, fetch, options.account);
  if (options.account) return filteredPage(db, keys.auditByAccount(tenant, options.account), range, options.limit, fetch);
  return mergedPage(db, tenant, range, options.limit, fetch);
}

type Range = { lo: string; hi: string };

/** A filtered page: one Query of the sparse index (an `account` with a fingerprint narrows it further). */
async function filteredPage(db: Db, filter: string, range: Range, limit: number, fetch: number, account?: string): Promise<AuditPage> {
  const out = await db.doc.send(
    new QueryCommand({
      TableName: db.table,
      IndexName: AUDIT_INDEX,
      KeyConditionExpression: 'auditFilter = :filter AND auditAt BETWEEN :lo AND :hi',
      ...(account ? { FilterExpression: 'account = :account' } : {}),
      ExpressionAttributeValues: { ':filter': filter, ':lo': range.lo, ':hi': range.hi, ...(account ? { ':account': account } : {}) },
      ScanIndexForward: false,
      Limit: fetch,
    }),
  );
  const items = (out.Items ?? []).filter((item) => item.auditAt !== range.hi);
  const page = items.slice(0, limit);
  const more = items.length > limit || out.LastEvaluatedKey !== undefined;
  // a page thinned by the account filter goes on from where the Query stopped
  const last = page.length === limit ? page[page.length - 1]!.auditAt : out.LastEvaluatedKey?.auditAt;
  return { events: page.map(eventOf), ...(more && last !== undefined ? { next: cursorOf(String(last)) } : {}) };
}

/**
 * An unfiltered page: one Query per shard (newest first), merged. Events go to a random shard, so a
 * page's events spread evenly over the shards: each is asked for twice its share (and a little), not
 * for the whole page. An item is served only when no shard that has more could hold a newer one:
 * below the oldest item of a shard that was cut off, the merge is incomplete and the page ends there
 * (rarely short of `limit`; `next` goes on).
 */
async function mergedPage(db: Db, tenant: string, range: Range, limit: number, fetch: number): Promise<AuditPage> {
  const perShard = Math.min(fetch, Math.ceil((2 * fetch) / AUDIT_SHARDS) + 2);
  const outs = await Promise.all(
    shards().map((shard) =>
      db.doc.send(
        new QueryCommand({
          TableName: db.table,
          KeyConditionExpression: 'pk = :pk AND sk BETWEEN :lo AND :hi',
          ExpressionAttributeValues: { ':pk': keys.auditShard(tenant, shard), ':lo': range.lo, ':hi': range.hi },
          ScanIndexForward: false,
          Limit: perShard,
        }),
      ),
    ),
  );
  let frontier = '';
  const items: Record<string, unknown>[] = [];
  for (const out of outs) {
    const shardItems = out.Items ?? [];
    const oldest = shardItems[shardItems.length - 1];
    if (out.LastEvaluatedKey && oldest && String(oldest.sk) > frontier) frontier = String(oldest.sk);
    items.push(...shardItems.filter((item) => item.sk !== range.hi));
  }
  const complete = items.filter((item) => String(item.sk) >= frontier).sort((a, b) => (String(a.sk) < String(b.sk) ? 1 : -1));
  const page = complete.slice(0, limit);
  const more = complete.length > limit || frontier !== '';
  const last = page[page.length - 1];
  return { events: page.map(eventOf), ...(more && last ? { next: cursorOf(String(last.sk)) } : {}) };
}

/** The cursor of a sort key `<inc>#<ISO time>#<id>`: its time and id (the incarnation is the server's to choose). */
const cursorOf = (sortKey: string): string => auditSortParts(sortKey).rest;

/** The event an item holds (an exposure marker holds a copy of its `token.read`). */
export function eventOf(item: Record<string, unknown>): AuditEvent {
  const optional = <K extends 'account' | 'generation' | 'token_fingerprint' | 'count'>(key: K, type: 'string' | 'number') =>
    typeof item[key] === type ? ({ [key]: item[key] } as Pick<AuditEvent, K>) : {};
  return {
    at: String(item.at),
    action: item.action as AuditAction,
    ...optional('account', 'string'),
    caller: String(item.caller),
    outcome: String(item.outcome),
    ...optional('generation', 'number'),
    ...optional('token_fingerprint', 'string'),
    ...optional('count', 'number'),
  };
}
