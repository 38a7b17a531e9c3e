/**
 * The broker's one DynamoDB table.
 *
 *   entity        pk                   sk                        lives
 *   ------------  -------------------  ------------------------  -------------------------------
 *   tenant        TENANT#<tenant>      TENANT                    until the tenant is deleted
 *   account       TENANT#<tenant>      ACCOUNT#<account>         until unlinked
 *   link          LINK#<hash of id>    LINK                      10 min (`ttl`), completes one linking
 *   flow state    STATE#<hash>         STATE                     its link's life (`ttl`), consumed once
 *   link session  LINKSESSION#<hash>   LINKSESSION               10 min to confirm, then 1 day (`ttl`)
 *   audit event   AUDIT#<tenant>#<0..7>  <inc>#<ISO time>#<id>   BROKER_AUDIT_DAYS (`ttl`)
 *   exposure      AUDIT#<tenant>#token#<fingerprint>
 *                                      caller#<SHA-256 of caller> BROKER_AUDIT_DAYS (`ttl`), written once
 *   revocation    REVOKE               <tenant>#<account>#<gen>  until revoked upstream or given up
 *   refresher run REFRESHER            LAST_RUN                  overwritten by every run
 *   tenant entry  TENANTS              <tenant>                  created and deleted with its tenant
 *
 * - The audit trail of a tenant is bound to its incarnation: `<inc>` is the tenant record's
 *   `createdAt` (15 digits), so a tenant deleted and registered again under the same id writes and
 *   reads another range of keys. A trail is spread over AUDIT_SHARDS partitions (a random shard per
 *   event), so no single partition takes every write of a busy tenant; `<id>` is 16 hex (a
 *   per-process sequence, then randomness) and makes every sort key unique.
 * - An exposure marker says "this caller has received this token" (CONTRACT.md, "Audit trail"): it
 *   is put with `attribute_not_exists` in the same transaction as the `token.read` event, so there is
 *   exactly one per (caller, token), whichever instance serves it. It holds a copy of that event.
 * - Index `by-audit-filter` (sparse, ALL): partition `auditFilter`, sort `auditAt` (the event's
 *   sort key). Events with an account carry `A#<tenant>#<account>`, exposure markers
 *   `F#<tenant>#<fingerprint>`; nothing else has the attribute. A page filtered by account or token
 *   is one Query of it; an unfiltered page is one Query per shard, merged newest first.
 * - An account item may carry an exposure hint: `exposedToken` (the fingerprint of its current
 *   access token) and `exposedTo` (a string set of 16-hex caller digests, at most
 *   EXPOSURE_HINT_MAX), written only after the markers of those callers exist. An instance that
 *   reads the account learns from it which callers need no marker write.
 * - `ttl` (epoch seconds) is the table's TTL attribute. TTL deletion is lazy (up to days late), so
 *   every expiry is also checked in code against `expiresAt`.
 * - Index `by-refresh-due` (KEYS_ONLY): partition `dueShard` = `due#<0..DUE_SHARDS-1>`, sort
 *   `dueAt` (epoch seconds at which the refresher should renew). Only accounts whose tokens the
 *   refresher must renew carry the two attributes (a sparse index), so a refresher run reads the
 *   accounts that are due and nothing else.
 * - The same index holds unconfirmed link sessions (`confirm_links`) under partition
 *   `dueShard` = {@link LINK_SESSIONS_DUE}, sort `dueAt` = when the session expires: the refresher
 *   revokes their tokens upstream and drops them. Account queries never read that partition.
 * - Flow secrets are never table keys or attributes: a link id, a state and a link session id are
 *   capabilities, so the table keys their items by the SHA-256 of the value ({@link secretHash}), and
 *   the PKCE verifier is derived from the browser's flow cookie (`lib/broker/linking-secrets.ts`),
 *   whose value is stored as a hash too. A stolen copy of the table starts, completes or confirms no flow.
 * - A tenant with an unfinished job (`job`: a deletion or a region move, `state` `deleting` or
 *   `moving`) is in the index's account shards too, `dueAt` being when a process should take the
 *   job up (its lease lapsed, or a step is to be tried again): that is how the refresher resumes a
 *   job whose process died.
 * - Pending revocations (RFC 7009 calls the provider did not answer) share one partition: they
 *   exist only during a provider outage, and the refresher reads the whole partition each run,
 *   which also gives the `RevocationsPending` gauge. Each carries copies of the envelopes it needs
 *   (the account's tokens, the client's secret), so it can be retried after the tenant is gone.
 * - The tenant directory (`TENANTS`, one entry per tenant, `tenant-directory.ts`) is what
 *   `GET /v1/tenants` pages through, in tenant-id order. Each entry carries the tenant's account
 *   counts `linked` and `needsReauth`, moved by every account status change in the same
 *   transaction as the account's write: a listing reads one entry per tenant, however many
 *   accounts it has. The counts are not on the tenant item, which settings changes replace whole.
 * - Token material never sits in plaintext: `sealedTokens` (account) and `sealedClient` (tenant)
 *   are envelopes from `lib/crypto/token-cipher.ts`, bound to `{tenant, account, purpose}`.
 */
import { createHash } from 'node:crypto';

export const DUE_INDEX = 'by-refresh-due';
export const DUE_SHARDS = 8;
/** The due-index partition of link sessions awaiting confirmation (never one of {@link allDueShards}). */
export const LINK_SESSIONS_DUE = 'link-sessions';

/** The SHA-256 of a flow secret (base64url): what the table holds instead of the secret. */
export type SecretHash = string & { readonly __secretHash: unique symbol };

/**
 * Flow secrets are 256-bit random values, so a plain SHA-256 is enough to make a stolen key useless:
 * nothing can be guessed back from it.
 */
export const secretHash = (secret: string): SecretHash => createHash('sha256').update(secret, 'utf8').digest('base64url') as SecretHash;

export const AUDIT_INDEX = 'by-audit-filter';
/** Partitions of one tenant's trail: about 1,000 writes/s each in DynamoDB, read together by an unfiltered page. */
export const AUDIT_SHARDS = 8;
/** Callers an account item's exposure hint names at most (16 hex each: the item stays small). */
export const EXPOSURE_HINT_MAX = 100;

export const keys = {
  tenant: (tenant: string) => ({ pk: `TENANT#${tenant}`, sk: 'TENANT' }),
  account: (tenant: string, account: string) => ({ pk: `TENANT#${tenant}`, sk: `ACCOUNT#${account}` }),
  accountPrefix: 'ACCOUNT#',
  link: (linkHash: SecretHash) => ({ pk: `LINK#${linkHash}`, sk: 'LINK' }),
  state: (stateHash: SecretHash) => ({ pk: `STATE#${stateHash}`, sk: 'STATE' }),
  linkSession: (sessionHash: SecretHash) => ({ pk: `LINKSESSION#${sessionHash}`, sk: 'LINKSESSION' }),
  auditShard: (tenant: string, shard: number) => `AUDIT#${tenant}#${shard}`,
  /** The sort key of an event: incarnation, time, unique id. */
  auditSort: (incarnation: number, at: string, id: string) => auditSortKey(incarnation, `${at}#${id}`),
  exposure: (tenant: string, fingerprint: string, callerDigest: string) => ({ pk: `AUDIT#${tenant}#token#${fingerprint}`, sk: `caller#${callerDigest}` }),
  auditByAccount: (tenant: string, account: string) => `A#${tenant}#${account}`,
  auditByToken: (tenant: string, fingerprint: string) => `F#${tenant}#${fingerprint}`,
  /** Identifiers never hold `#` (ID_PATTERN), so the sort key splits back unambiguously. */
  revocationPartition: 'REVOKE',
  revocation: (tenant: string, account: string, generation: number) => ({ pk: 'REVOKE', sk: `${tenant}#${account}#${generation}` }),
  refresherReport: { pk: 'REFRESHER', sk: 'LAST_RUN' },
  tenantDirectoryPartition: 'TENANTS',
  tenantDirectory: (tenant: string) => ({ pk: 'TENANTS', sk: tenant }),
};

/**
 * An audit cursor is the time and id of the last event served: `<ISO time>#<16 hex>`, the sort key
 * without its incarnation. (Here, not in `audit.ts`: the HTTP schemas check it, and a function that
 * validates requests must not load the DynamoDB client for it.)
 */
export const AUDIT_CURSOR_PATTERN = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z#[0-9a-f]{16}$/;

/** Digits of a tenant incarnation (its `createdAt`, ms) in a key: a fixed width, so that key order is time order. */
const INCARNATION_DIGITS = 15;

/** An audit sort key, `<inc>#<rest>`: `rest` is `<ISO time>#<id>`, or a prefix of it for a key range. */
export const auditSortKey = (incarnation: number, rest: string): string => `${String(incarnation).padStart(INCARNATION_DIGITS, '0')}#${rest}`;

/** {@link auditSortKey}, read back: the incarnation, and the `<ISO time>#<id>` that is a page's cursor. */
export function auditSortParts(sortKey: string): { incarnation: number; rest: string } {
  return { incarnation: Number(sortKey.slice(0, INCARNATION_DIGITS)), rest: sortKey.slice(INCARNATION_DIGITS + 1) };
}

/** Spreads due accounts over a few index partitions, stable per account. */
export function dueShardOf(tenant: string, account: string): string {
  const n = createHash('sha256').update(`${tenant}/${account}`).digest().readUInt32BE(0) % DUE_SHARDS;
  return `due#${n}`;
}

export const allDueShards = (): string[] => Array.from({ length: DUE_SHARDS }, (_, i) => `due#${i}`);

/** The table definition: the local table is made from it, and the CDK construct takes its key schema and indexes from it (`infra/token-table.ts`). */
export function tableDefinition(tableName: string) {
  return {
    TableName: tableName,
    BillingMode: 'PAY_PER_REQUEST' as const,
    AttributeDefinitions: [
      { AttributeName: 'pk', AttributeType: 'S' as const },
      { AttributeName: 'sk', AttributeType: 'S' as const },
      { AttributeName: 'dueShard', AttributeType: 'S' as const },
      { AttributeName: 'dueAt', AttributeType: 'N' as const },
      { AttributeName: 'auditFilter', AttributeType: 'S' as const },
      { AttributeName: 'auditAt', AttributeType: 'S' as const },
    ],
    KeySchema: [
      { AttributeName: 'pk', KeyType: 'HASH' as const },
      { AttributeName: 'sk', KeyType: 'RANGE' as const },
    ],
    GlobalSecondaryIndexes: [
      {
        IndexName: DUE_INDEX,
        KeySchema: [
          { AttributeName: 'dueShard', KeyType: 'HASH' as const },
          { AttributeName: 'dueAt', KeyType: 'RANGE' as const },
        ],
        Projection: { ProjectionType: 'KEYS_ONLY' as const },
      },
      {
        IndexName: AUDIT_INDEX,
        KeySchema: [
          { AttributeName: 'auditFilter', KeyType: 'HASH' as const },
          { AttributeName: 'auditAt', KeyType: 'RANGE' as const },
        ],
        Projection: { ProjectionType: 'ALL' as const },
      },
    ],
  };
}
