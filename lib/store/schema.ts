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
 *   audit event   AUDIT#<tenant>       <ISO time>#<random>       BROKER_AUDIT_DAYS (`ttl`)
 *   revocation    REVOKE               <tenant>#<account>#<gen>  until revoked upstream or given up
 *   refresher run REFRESHER            LAST_RUN                  overwritten by every run
 *   tenant entry  TENANTS              <tenant>                  created and deleted with its tenant
 *
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

export const keys = {
  tenant: (tenant: string) => ({ pk: `TENANT#${tenant}`, sk: 'TENANT' }),
  account: (tenant: string, account: string) => ({ pk: `TENANT#${tenant}`, sk: `ACCOUNT#${account}` }),
  accountPrefix: 'ACCOUNT#',
  link: (linkHash: SecretHash) => ({ pk: `LINK#${linkHash}`, sk: 'LINK' }),
  state: (stateHash: SecretHash) => ({ pk: `STATE#${stateHash}`, sk: 'STATE' }),
  linkSession: (sessionHash: SecretHash) => ({ pk: `LINKSESSION#${sessionHash}`, sk: 'LINKSESSION' }),
  auditPartition: (tenant: string) => `AUDIT#${tenant}`,
  /** Identifiers never hold `#` (ID_PATTERN), so the sort key splits back unambiguously. */
  revocationPartition: 'REVOKE',
  revocation: (tenant: string, account: string, generation: number) => ({ pk: 'REVOKE', sk: `${tenant}#${account}#${generation}` }),
  refresherReport: { pk: 'REFRESHER', sk: 'LAST_RUN' },
  tenantDirectoryPartition: 'TENANTS',
  tenantDirectory: (tenant: string) => ({ pk: 'TENANTS', sk: tenant }),
};

/** Spreads due accounts over a few index partitions, stable per account. */
export function dueShardOf(tenant: string, account: string): string {
  const n = createHash('sha256').update(`${tenant}/${account}`).digest().readUInt32BE(0) % DUE_SHARDS;
  return `due#${n}`;
}

export const allDueShards = (): string[] => Array.from({ length: DUE_SHARDS }, (_, i) => `due#${i}`);

/** The table definition, shared by local set-up, tests and (by convention) the CDK construct. */
export function tableDefinition(tableName: string) {
  return {
    TableName: tableName,
    BillingMode: 'PAY_PER_REQUEST' as const,
    AttributeDefinitions: [
      { AttributeName: 'pk', AttributeType: 'S' as const },
      { AttributeName: 'sk', AttributeType: 'S' as const },
      { AttributeName: 'dueShard', AttributeType: 'S' as const },
      { AttributeName: 'dueAt', AttributeType: 'N' as const },
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
    ],
  };
}
