import type { Region } from '../config.js';
import type { TenantDirectoryEntry, TenantRecord, TenantState } from '../store/records.js';
import { getTenantsWithCounts, listDirectory } from '../store/tenant-directory.js';
import { DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE } from './accounts.js';
import { reachesEveryTenant, requireRole, type Caller } from './callers.js';
import type { BrokerDeps } from './deps.js';

/** One tenant of `GET /v1/tenants`, with its account counts. */
export interface TenantSummary {
  tenant: string;
  region: Region;
  client_type: 'public' | 'confidential';
  accounts: { linked: number; needs_reauth: number };
  state: TenantState;
}

/**
 * `GET /v1/tenants`: the tenants this caller may administer, in tenant-id order, a page at a time.
 * A page costs one Query of the tenant directory (the counts) and one BatchGetItem of the tenant
 * records (region, client type, state), whatever the number of accounts; a caller restricted to some
 * tenants gets one BatchGetItem of its own tenants' entries and records, and never learns of others.
 */
export async function listTenants(deps: BrokerDeps, caller: Caller, query: { limit?: number | undefined; cursor?: string | undefined }): Promise<{ tenants: TenantSummary[]; next?: string }> {
  requireRole(caller, 'admin');
  const limit = Math.min(Math.max(1, query.limit ?? DEFAULT_PAGE_SIZE), MAX_PAGE_SIZE);
  if (reachesEveryTenant(caller)) {
    const page = await listDirectory(deps.db, { limit, cursor: query.cursor });
    const { records } = await getTenantsWithCounts(deps.db, page.items.map((e) => e.tenant), { entries: false });
    return withNext(summaries(page.items, records), page.next);
  }
  // a restricted caller: its own tenants only, the same order and cursor
  const own = [...new Set(caller.tenants as string[])].sort().filter((t) => query.cursor === undefined || t > query.cursor);
  const slice = own.slice(0, limit);
  const { records, entries } = await getTenantsWithCounts(deps.db, slice, { entries: true });
  const found = slice.flatMap((t) => entries.get(t) ?? []);
  return withNext(summaries(found, records), own.length > limit ? slice[slice.length - 1] : undefined);
}

/**
 * A directory entry without its tenant record (a tenant deleted while an account write raced its
 * deletion) names no tenant: it is left out.
 */
function summaries(entries: TenantDirectoryEntry[], records: Map<string, TenantRecord>): TenantSummary[] {
  return entries.flatMap((e) => {
    const t = records.get(e.tenant);
    if (!t) return [];
    return [{ tenant: t.tenant, region: t.region, client_type: t.clientType, accounts: { linked: e.linked, needs_reauth: e.needsReauth }, state: t.state ?? 'active' }];
  });
}

const withNext = (tenants: TenantSummary[], next: string | undefined) => (next ? { tenants, next } : { tenants });
