import { createHash, hash, timingSafeEqual } from 'node:crypto';
import type { ApiKeyGrant, Role } from '../config.js';
import { BrokerError } from '../errors.js';

/** Who is calling a `/v1` route, and what they may reach. */
export interface Caller {
  /** Stable, non-secret label for logs and the audit trail (an IAM ARN, or `key:<fingerprint>`). */
  id: string;
  role: Role;
  tenants: '*' | string[];
}

/**
 * A caller reaches a tenant only when granted it, with a role at least as strong as the route needs
 * (admin ⊇ service). The answer never depends on whether the tenant or account exists.
 */
export function requireAccess(caller: Caller, tenant: string, need: Role): void {
  if (!mayAccess(caller, tenant, need)) throw new BrokerError('forbidden', 403, `this caller may not ${need === 'admin' ? 'administer' : 'read tokens of'} tenant ${tenant}`);
}

/** Whether {@link requireAccess} lets the caller reach the tenant with the role a route needs. */
export function mayAccess(caller: Caller, tenant: string, need: Role): boolean {
  const tenantOk = reachesEveryTenant(caller) || caller.tenants.includes(tenant);
  const roleOk = need === 'service' || caller.role === 'admin';
  return tenantOk && roleOk;
}

/** A caller has at least the role a route needs (admin ⊇ service), for routes that name no tenant. */
export function requireRole(caller: Caller, need: Role): void {
  if (need === 'admin' && caller.role !== 'admin') throw new BrokerError('forbidden', 403, 'this route needs an admin caller');
}

/** The caller may reach every tenant: the admin token, a key granted `["*"]`, or any IAM caller (IAM decides per path). */
export const reachesEveryTenant = (caller: Caller): boolean => caller.tenants === '*' || caller.tenants.includes('*');

/** Broker-wide state (the refresher's health) is for an admin of every tenant only. */
export function requireEveryTenant(caller: Caller): void {
  requireRole(caller, 'admin');
  // Precondition: broker-wide state is for an admin of every tenant only
  if (!reachesEveryTenant(caller)) throw new BrokerError('forbidden', 403, 'this route needs an admin of every tenant');
}

/** A short fingerprint that names a key in logs without revealing it. */
export function keyFingerprint(key: string): string {
  return createHash('sha256').update(key).digest('hex').slice(0, 12);
}

/**
 * Local mode: the bearer token is the admin token or one of `BROKER_API_KEYS`. Every candidate is
 * compared in constant time (hashes of equal length), so timing reveals neither key nor prefix.
 */
export function callerFromBearer(presented: string, adminToken: string | undefined, apiKeys: Record<string, ApiKeyGrant>): Caller | undefined {
  const digest = sha(presented);
  let found: Caller | undefined;
  for (const known of knownCredentials(adminToken, apiKeys)) {
    // no early exit: every candidate is compared
    if (timingSafeEqual(digest, known.digest) && !found) found = known.caller;
  }
  return found;
}

interface KnownCredential {
  digest: Buffer;
  caller: Readonly<Caller>;
}

const credentialSets = new WeakMap<Record<string, ApiKeyGrant>, { adminToken: string | undefined; known: KnownCredential[] }>();

/**
 * The configured credentials, hashed once per configuration (not once per request): the admin
 * token first, then each key, with the caller each one is. The configuration's key map is the memo's key.
 */
function knownCredentials(adminToken: string | undefined, apiKeys: Record<string, ApiKeyGrant>): KnownCredential[] {
  const memo = credentialSets.get(apiKeys);
  if (memo && memo.adminToken === adminToken) return memo.known;
  const known: KnownCredential[] = [];
  if (adminToken) known.push({ digest: sha(adminToken), caller: Object.freeze<Caller>({ id: 'admin', role: 'admin', tenants: '*' }) });
  for (const [key, grant] of Object.entries(apiKeys)) {
    known.push({ digest: sha(key), caller: Object.freeze<Caller>({ id: `key:${keyFingerprint(key)}`, role: grant.role, tenants: grant.tenants.includes('*') ? '*' : grant.tenants }) });
  }
  credentialSets.set(apiKeys, { adminToken, known });
  return known;
}

/* the digest as hex, then bytes: in Node.js 20 `hash(…, 'buffer')` costs twice as much as both together */
const sha = (s: string): Buffer => Buffer.from(hash('sha256', s, 'hex'), 'hex');
