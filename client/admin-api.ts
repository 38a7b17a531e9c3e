/**
 * The admin operations of the broker's HTTP API (CONTRACT.md, "HTTP API"), typed: tenants,
 * accounts, links, the audit trail and the refresher's health. Browser-safe: the operator console
 * bundles this module with no credentials of its own (`noAuthorizer`) or a bearer key; the CLI
 * and services use {@link createAdminClient} in `./admin-client.ts`, which adds SigV4.
 */
import { checkId, noAuthorizer, readJson, send, type Authorizer, type RetryPolicy, type Transport } from './http.js';

export type Region = 'global' | 'cn';
/** An account's status (CONTRACT.md): an unlinked account is gone, not kept with a status. */
export const ACCOUNT_STATUSES = ['linked', 'needs_reauth'] as const;
export type AccountStatus = (typeof ACCOUNT_STATUSES)[number];
/** `active`, or a long operation under way (`moving`: a region change; `deleting`). */
export type TenantState = 'active' | 'moving' | 'deleting';

/** `GET /v1/tenants`: one tenant, with its account counts. */
export interface TenantSummary {
  tenant: string;
  region: Region;
  client_type: 'public' | 'confidential';
  accounts: { linked: number; needs_reauth: number };
  state: TenantState;
}

/** `GET /v1/tenants/{tenant}`: settings and client, never a secret. `state` from brokers that report it. */
export interface Tenant {
  tenant: string;
  region: Region;
  client_id: string;
  client_type: 'public' | 'confidential';
  redirect_uri: string;
  issuer?: string;
  scope?: string;
  return_to_origins?: string[];
  confirm_links?: boolean;
  created_at?: string;
  updated_at?: string;
  state?: TenantState;
}

/** `PUT /v1/tenants/{tenant}`. A client secret belongs in the body only, never a URL or a log. */
export interface PutTenantInput {
  region: Region;
  scope?: string;
  return_to_origins?: string[];
  confirm_links?: boolean;
  client_id?: string;
  client_secret?: string;
  token_endpoint_auth_method?: 'none' | 'client_secret_post' | 'client_secret_basic';
  change_region?: boolean;
}

/** An account as listed: no token material. */
export interface Account {
  account: string;
  status: AccountStatus;
  scope: string;
  /** When the stored access token expires (ISO 8601). */
  expires_at: string;
  refreshed_at: string;
  linked_at: string;
}

export interface Link {
  link_url: string;
  expires_at: string;
}

/** A token answer as the broker sends it (`GET …/token`, `POST …/refresh`). */
export interface TokenAnswer {
  access_token: string;
  token_type: 'Bearer';
  expires_at: string;
  expires_in: number;
  scope: string;
}

/** One event of the audit trail (CONTRACT.md, "Audit trail"); never token material or a key. */
export interface AuditEvent {
  at: string;
  action: string;
  account?: string;
  caller: string;
  outcome: string;
  generation?: number;
  token_fingerprint?: string;
  count?: number;
}

export interface AuditQuery {
  account?: string;
  since?: string;
  /** The first 16 hex characters of the SHA-256 of an access token; see {@link tokenFingerprint}. */
  token_fingerprint?: string;
  limit?: number;
  cursor?: string;
}

/** `GET /v1/refresher`: the scheduled refresher's last run, where the broker knows it. */
export interface RefresherHealth {
  last_run?: { at: string; due: number; refreshed: number; skipped: number; failed: Record<string, number>; duration_ms: number };
  interval_s?: number;
}

export interface Page {
  next?: string;
}

export interface AdminApi {
  /** `GET /v1/tenants`: the tenants this caller may administer. */
  listTenants(query?: { limit?: number; cursor?: string }): Promise<Page & { tenants: TenantSummary[] }>;
  getTenant(tenant: string): Promise<Tenant>;
  /** `PUT /v1/tenants/{tenant}`: 201 registered (`created`), 200 existing. */
  putTenant(tenant: string, input: PutTenantInput): Promise<{ created: boolean; tenant: Tenant }>;
  /** `DELETE /v1/tenants/{tenant}`: `deleted` when done within the request, `deleting` when it goes on in the background. */
  deleteTenant(tenant: string): Promise<{ state: 'deleted' | 'deleting' }>;
  listAccounts(tenant: string, query?: { status?: AccountStatus; limit?: number; cursor?: string }): Promise<Page & { accounts: Account[] }>;
  /** Every page of the account list; `onPage` sees the running count (for progress). */
  listAllAccounts(tenant: string, query?: { status?: AccountStatus; onPage?: (loaded: number) => void }): Promise<Account[]>;
  getAccount(tenant: string, account: string): Promise<Account>;
  unlinkAccount(tenant: string, account: string): Promise<void>;
  createLink(tenant: string, account: string, input?: { return_to?: string }): Promise<Link>;
  getToken(tenant: string, account: string, query?: { minTtl?: number }): Promise<TokenAnswer>;
  refresh(tenant: string, account: string): Promise<TokenAnswer>;
  /** `GET /v1/tenants/{tenant}/audit`: one page, in the order the broker answers (newest first per the contract). */
  audit(tenant: string, query?: AuditQuery): Promise<Page & { events: AuditEvent[] }>;
  /** `GET /v1/refresher` (admin of every tenant). */
  refresherHealth(): Promise<RefresherHealth>;
}

export interface AdminApiOptions {
  /** The broker's base URL, with the API Gateway stage if any; the console passes its own origin. */
  baseUrl: string;
  /** Credentials for each request; none by default (the console behind `npm run console`). */
  authorize?: Authorizer;
  fetch?: typeof globalThis.fetch;
  clock?: () => number;
  retry?: RetryPolicy;
}

const LIST_PAGE_SIZE = 200;

/** The admin operations over one transport; every identifier is checked before any request. */
export function createAdminApi(options: AdminApiOptions): AdminApi {
  const t: Transport = {
    baseUrl: options.baseUrl,
    authorize: options.authorize ?? noAuthorizer,
    // called as a plain function, not a method: a browser's fetch refuses a foreign `this`
    fetch: options.fetch ?? ((input, init) => globalThis.fetch(input, init)),
    clock: options.clock ?? Date.now,
    retry: options.retry,
  };
  const tenantPath = (tenant: string) => `/v1/tenants/${encodeURIComponent(checkId('tenant', tenant))}`;
  const accountPath = (tenant: string, account: string) => `${tenantPath(tenant)}/accounts/${encodeURIComponent(checkId('account', account))}`;
  const num = (n: number | undefined) => (n === undefined ? undefined : String(n));
  const isTenant = (b: Record<string, unknown>) => typeof b.tenant === 'string' && typeof b.region === 'string';
  const isToken = (b: Record<string, unknown>) => typeof b.access_token === 'string' && typeof b.expires_at === 'string';

  const api: AdminApi = {
    async listTenants(query = {}) {
      const { res } = await send(t, { method: 'GET', path: '/v1/tenants', query: { limit: num(query.limit), cursor: query.cursor } });
      return readJson(res, 'tenants', (b) => Array.isArray(b.tenants));
    },
    async getTenant(tenant) {
      const { res } = await send(t, { method: 'GET', path: tenantPath(tenant) });
      return readJson(res, 'tenant and region', isTenant);
    },
    async putTenant(tenant, input) {
      const { res } = await send(t, { method: 'PUT', path: tenantPath(tenant), body: input });
      return { created: res.status === 201, tenant: await readJson<Tenant>(res, 'tenant and region', isTenant) };
    },
    async deleteTenant(tenant) {
      const { res } = await send(t, { method: 'DELETE', path: tenantPath(tenant) });
      await res.body?.cancel();
      return { state: res.status === 202 ? 'deleting' : 'deleted' };
    },
    async listAccounts(tenant, query = {}) {
      const { res } = await send(t, { method: 'GET', path: `${tenantPath(tenant)}/accounts`, query: { status: query.status, limit: num(query.limit), cursor: query.cursor } });
      return readJson(res, 'accounts', (b) => Array.isArray(b.accounts));
    },
    async listAllAccounts(tenant, query = {}) {
      const all: Account[] = [];
      let cursor: string | undefined;
      do {
        const page = await api.listAccounts(tenant, { ...(query.status ? { status: query.status } : {}), limit: LIST_PAGE_SIZE, ...(cursor ? { cursor } : {}) });
        all.push(...page.accounts);
        query.onPage?.(all.length);
        cursor = page.next;
      } while (cursor);
      return all;
    },
    async getAccount(tenant, account) {
      const { res } = await send(t, { method: 'GET', path: accountPath(tenant, account) });
      return readJson(res, 'account and status', (b) => typeof b.account === 'string' && typeof b.status === 'string');
    },
    async unlinkAccount(tenant, account) {
      const { res } = await send(t, { method: 'DELETE', path: accountPath(tenant, account) });
      await res.body?.cancel();
    },
    async createLink(tenant, account, input = {}) {
      const { res } = await send(t, { method: 'POST', path: `${accountPath(tenant, account)}/link`, body: input });
      return readJson(res, 'link_url and expires_at', (b) => typeof b.link_url === 'string' && typeof b.expires_at === 'string');
    },
    async getToken(tenant, account, query = {}) {
      const { res } = await send(t, { method: 'GET', path: `${accountPath(tenant, account)}/token`, query: { min_ttl: num(query.minTtl) } });
      return readJson(res, 'access_token and expires_at', isToken);
    },
    async refresh(tenant, account) {
      const { res } = await send(t, { method: 'POST', path: `${accountPath(tenant, account)}/refresh` });
      return readJson(res, 'access_token and expires_at', isToken);
    },
    async audit(tenant, query = {}) {
      if (query.account !== undefined) checkId('account', query.account);
      const { res } = await send(t, {
        method: 'GET',
        path: `${tenantPath(tenant)}/audit`,
        query: { account: query.account, since: query.since, token_fingerprint: query.token_fingerprint, limit: num(query.limit), cursor: query.cursor },
      });
      return readJson(res, 'events', (b) => Array.isArray(b.events));
    },
    async refresherHealth() {
      const { res } = await send(t, { method: 'GET', path: '/v1/refresher' });
      return readJson(res, 'a refresher report', () => true);
    },
  };
  return api;
}

/** The broker's default `BROKER_REFRESH_HORIZON_S`: the refresher renews tokens expiring within it. */
export const DEFAULT_REFRESH_HORIZON_S = 900;

/**
 * About when the scheduled refresher renews this account's token (ms since the epoch):
 * `min(horizon, half its lifetime)` before it expires, so a short-lived token is renewed at
 * half-life rather than as soon as it is issued. Undefined for an account the refresher no longer
 * renews (`needs_reauth`, `revoked`).
 */
export function renewsAround(account: Pick<Account, 'status' | 'expires_at' | 'refreshed_at'>, horizonS = DEFAULT_REFRESH_HORIZON_S): number | undefined {
  if (account.status !== 'linked') return undefined;
  const expires = Date.parse(account.expires_at);
  const refreshed = Date.parse(account.refreshed_at);
  const lifetimeMs = Number.isFinite(refreshed) ? Math.max(0, expires - refreshed) : horizonS * 2000;
  return expires - Math.min(horizonS * 1000, lifetimeMs / 2);
}

/** A fingerprint as the audit trail writes it: 16 lower-case hex characters. */
export const FINGERPRINT_PATTERN = /^[0-9a-f]{16}$/;

/**
 * The audit trail's `token_fingerprint` of an access token: the first 16 hex characters of its
 * SHA-256 (CONTRACT.md, "Audit trail"). WebCrypto, so a browser computes it without sending the token.
 */
export async function tokenFingerprint(accessToken: string): Promise<string> {
  const digest = new Uint8Array(await globalThis.crypto.subtle.digest('SHA-256', new TextEncoder().encode(accessToken)));
  return Array.from(digest.subarray(0, 8), (b) => b.toString(16).padStart(2, '0')).join('');
}
