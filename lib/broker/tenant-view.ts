import type { Region } from '../config.js';
import type { TenantRecord, TenantState } from '../store/records.js';
import { requireAccess, type Caller } from './callers.js';
import type { BrokerDeps } from './deps.js';
import { readTenant } from './tenant-read.js';

/** What callers see of a tenant: never a secret. */
export interface TenantView {
  tenant: string;
  region: Region;
  issuer: string;
  client_id: string;
  client_type: 'public' | 'confidential';
  redirect_uri: string;
  scope: string;
  return_to_origins: string[];
  /** Each linking waits for the tenant's confirmation (`POST …/link/confirm`). */
  confirm_links: boolean;
  created_at: string;
  updated_at: string;
  /** `active`, `moving` (a region move under way) or `deleting` (CONTRACT.md). */
  state: TenantState;
}

export function tenantView(t: TenantRecord): TenantView {
  return {
    tenant: t.tenant,
    region: t.region,
    issuer: t.issuer,
    client_id: t.clientId,
    client_type: t.clientType,
    redirect_uri: t.redirectUri,
    scope: t.scope,
    return_to_origins: t.returnToOrigins,
    confirm_links: t.confirmLinks ?? false,
    created_at: new Date(t.createdAt).toISOString(),
    updated_at: new Date(t.updatedAt).toISOString(),
    state: t.state ?? 'active',
  };
}

/** `GET /v1/tenants/{tenant}`: the tenant's settings and client, never a secret. */
export async function getTenantView(deps: BrokerDeps, caller: Caller, tenant: string): Promise<TenantView> {
  requireAccess(caller, tenant, 'admin');
  return tenantView(await readTenant(deps, tenant));
}
