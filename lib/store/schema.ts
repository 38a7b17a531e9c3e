/**
 * The broker's one DynamoDB table.
 *
 *   entity        pk                   sk                        lives
 *   ------------  -------------------  ------------------------  -------------------------------
 *   tenant        TENANT#<tenant>      TENANT                    until the tenant is deleted
 *   account       TENANT#<tenant>      ACCOUNT#<account>         until unlinked
 *   link          LINK#<link id>       LINK                      10 min (`ttl`), consumed once
 *   flow state    STATE#<state>        STATE                     10 min (`ttl`), consumed once
 *   audit event   AUDIT#<tenant>       <ISO time>#<random>       BROKER_AUDIT_DAYS (`ttl`)
 *
 * - `ttl` (epoch seconds) is the table's TTL attribute. TTL deletion is lazy (up to days late), so
 *   every expiry is also checked in code against `expiresAt`.
 * - Index `by-refresh-due` (KEYS_ONLY): partition `dueShard` = `due#<0..DUE_SHARDS-1>`, sort
 *   `dueAt` (epoch seconds at which the refresher should renew). Only accounts whose tokens the
 *   refresher must renew carry the two attributes (a sparse index), so a refresher run reads the
 *   accounts that are due and nothing else.
 * - Token material never sits in plaintext: `sealedTokens` (account) and `sealedClient` (tenant)
 *   are envelopes from `lib/crypto/token-cipher.ts`, bound to `{tenant, account, purpose}`.
 */
import { createHash } from 'node:crypto';

export const DUE_INDEX = 'by-refresh-due';
export const DUE_SHARDS = 8;

export const keys = {
  tenant: (tenant: string) => ({ pk: `TENANT#${tenant}`, sk: 'TENANT' }),
  account: (tenant: string, account: string) => ({ pk: `TENANT#${tenant}`, sk: `ACCOUNT#${account}` }),
  accountPrefix: 'ACCOUNT#',
  link: (linkId: string) => ({ pk: `LINK#${linkId}`, sk: 'LINK' }),
  state: (state: string) => ({ pk: `STATE#${state}`, sk: 'STATE' }),
  auditPartition: (tenant: string) => `AUDIT#${tenant}`,
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
