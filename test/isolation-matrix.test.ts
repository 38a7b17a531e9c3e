import { ScanCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { accountTokensContext } from '../lib/broker/account-tokens.js';
import { keyFingerprint } from '../lib/broker/callers.js';
import { getAccount } from '../lib/store/accounts.js';
import { listAudit } from '../lib/store/audit.js';
import type { AccountTokens } from '../lib/store/records.js';
import { keys } from '../lib/store/schema.js';
import { getTenant } from '../lib/store/tenants.js';
import type { Db } from '../lib/store/table.js';
import { api, linkAccount } from './support/flow.js';
import { ADMIN_TOKEN, startHarness, type Harness } from './support/harness.js';

/**
 * Callers × routes × tenants. Two tenants, `acme` (A) and `beta` (B), each with an account named
 * `alice` — the same name, two accounts. Every cell answers what CONTRACT.md says; a denied cell
 * changes nothing in the table (audit items aside) and leaves one `access.denied` record.
 */
const ADMIN_KEY_A = 'admin-key-of-acme-0123456789abcdef';
const SERVICE_KEY_A = 'service-key-of-acme-0123456789abcdef';
const SERVICE_KEY_B = 'service-key-of-beta-0123456789abcdef';
const API_KEYS = {
  [ADMIN_KEY_A]: { tenants: ['acme'], role: 'admin' },
  [SERVICE_KEY_A]: { tenants: ['acme'], role: 'service' },
  [SERVICE_KEY_B]: { tenants: ['beta'], role: 'service' },
};

interface CallerCase {
  name: string;
  headers: Record<string, string>;
  /** How the audit trail names this caller. */
  auditId: string;
  /** undefined: not authenticated (401). */
  role?: 'admin' | 'service';
  tenants?: string[];
}

const json = { 'content-type': 'application/json' };
const bearer = (key: string) => ({ ...json, authorization: `Bearer ${key}` });
const CALLERS: CallerCase[] = [
  { name: 'admin token', headers: bearer(ADMIN_TOKEN), auditId: 'admin', role: 'admin', tenants: ['acme', 'beta'] },
  { name: 'admin key of A', headers: bearer(ADMIN_KEY_A), auditId: `key:${keyFingerprint(ADMIN_KEY_A)}`, role: 'admin', tenants: ['acme'] },
  { name: 'service key of A', headers: bearer(SERVICE_KEY_A), auditId: `key:${keyFingerprint(SERVICE_KEY_A)}`, role: 'service', tenants: ['acme'] },
  { name: 'service key of B', headers: bearer(SERVICE_KEY_B), auditId: `key:${keyFingerprint(SERVICE_KEY_B)}`, role: 'service', tenants: ['beta'] },
  { name: 'no key', headers: json, auditId: 'anonymous' },
  { name: 'wrong key', headers: bearer('not-a-key-of-this-broker-0123456789'), auditId: 'unknown-key' },
];

interface RouteCase {
  name: string;
  method: string;
  path: (tenant: string) => string;
  body?: unknown;
  need: 'admin' | 'service';
  ok: number;
}

const ROUTES: RouteCase[] = [
  { name: 'PUT tenant', method: 'PUT', path: (t) => `/v1/tenants/${t}`, body: { region: 'global' }, need: 'admin', ok: 200 },
  { name: 'GET tenant', method: 'GET', path: (t) => `/v1/tenants/${t}`, need: 'admin', ok: 200 },
  { name: 'DELETE tenant', method: 'DELETE', path: (t) => `/v1/tenants/${t}`, need: 'admin', ok: 204 },
  { name: 'POST link', method: 'POST', path: (t) => `/v1/tenants/${t}/accounts/alice/link`, body: {}, need: 'admin', ok: 201 },
  { name: 'GET token', method: 'GET', path: (t) => `/v1/tenants/${t}/accounts/alice/token`, need: 'service', ok: 200 },
  { name: 'POST refresh', method: 'POST', path: (t) => `/v1/tenants/${t}/accounts/alice/refresh`, need: 'service', ok: 200 },
  { name: 'GET accounts', method: 'GET', path: (t) => `/v1/tenants/${t}/accounts`, need: 'admin', ok: 200 },
  { name: 'GET account', method: 'GET', path: (t) => `/v1/tenants/${t}/accounts/alice`, need: 'admin', ok: 200 },
  { name: 'DELETE account', method: 'DELETE', path: (t) => `/v1/tenants/${t}/accounts/alice`, need: 'admin', ok: 204 },
  { name: 'GET audit', method: 'GET', path: (t) => `/v1/tenants/${t}/audit`, need: 'admin', ok: 200 },
];

const TENANTS = ['acme', 'beta'];

/** What the contract answers: 401 without valid credentials, 403 outside the caller's reach. */
function expectedStatus(caller: CallerCase, route: RouteCase, tenant: string): number {
  if (!caller.role) return 401;
  const reach = caller.tenants!.includes(tenant);
  const roleOk = route.need === 'service' || caller.role === 'admin';
  return reach && roleOk ? route.ok : 403;
}

const CELLS = CALLERS.flatMap((caller) =>
  ROUTES.flatMap((route) =>
    TENANTS.map((tenant) => {
      const status = expectedStatus(caller, route, tenant);
      const verdict = status === 401 ? '401, changes nothing, writes no audit record' : status === 403 ? '403, changes nothing, audited' : String(status);
      return { title: `${caller.name} → ${route.name} of ${tenant}: ${verdict}`, caller, route, tenant, status };
    }),
  ),
);

/** The table's items (audit aside), in key order: what a denied request must not change. */
async function stateOutsideAudit(db: Db): Promise<Record<string, unknown>[]> {
  const items: Record<string, unknown>[] = [];
  let start: Record<string, unknown> | undefined;
  do {
    const page = await db.doc.send(
      new ScanCommand({
        TableName: db.table,
        FilterExpression: 'NOT begins_with(pk, :audit)',
        ExpressionAttributeValues: { ':audit': 'AUDIT#' },
        ExclusiveStartKey: start,
        ConsistentRead: true,
      }),
    );
    items.push(...(page.Items ?? []));
    start = page.LastEvaluatedKey;
  } while (start);
  return items.sort((a, b) => `${a.pk} ${a.sk}`.localeCompare(`${b.pk} ${b.sk}`));
}

let h: Harness;
/** Set by an allowed cell that deleted part of the fixture. */
let fixtureDamaged = false;

/** Puts back what an allowed destructive cell took away: both tenants, each with `alice` linked. */
async function restoreFixture(): Promise<void> {
  for (const tenant of TENANTS) {
    if (!(await getTenant(h.db, tenant)) || !(await getAccount(h.db, tenant, 'alice'))) await linkAccount(h, tenant, 'alice');
  }
}

describe(`callers × routes × tenants (${CALLERS.length} × ${ROUTES.length} × ${TENANTS.length} = ${CELLS.length} cells)`, () => {
  beforeAll(async () => {
    h = await startHarness({ env: { BROKER_API_KEYS: JSON.stringify(API_KEYS) } });
    await restoreFixture();
  });
  afterAll(async () => h?.close());
  beforeEach(() => h.clock.advance(1000));
  afterEach(async () => {
    if (fixtureDamaged) await restoreFixture();
    fixtureDamaged = false;
  });

  it.each(CELLS)('$title', async ({ caller, route, tenant, status }) => {
    const denied = status === 401 || status === 403;
    const since = new Date(h.clock()).toISOString();
    const before = denied ? await stateOutsideAudit(h.db) : undefined;

    const res = await api(h, route.method, route.path(tenant), route.body, caller.headers);

    expect(res.status).toBe(status);
    fixtureDamaged = route.method === 'DELETE' && status === 204;
    if (!denied) return;
    const body = (await res.json()) as Record<string, unknown>;
    expect(body.error).toBe(status === 401 ? 'unauthorized' : 'forbidden');
    expect(body).not.toHaveProperty('access_token');
    expect(await stateOutsideAudit(h.db)).toEqual(before);
    const trail = await listAudit(h.db, tenant, { limit: 50, since });
    // a request with no or unknown credentials writes nothing durable; an authenticated denial is audited
    expect(trail.events).toEqual(
      status === 401
        ? []
        : [expect.objectContaining({ action: 'access.denied', caller: caller.auditId, outcome: expect.stringMatching(new RegExp(`^${body.error}:${route.method} /v1/tenants/`)) })],
    );
  });
});

describe('isolation', () => {
  beforeEach(async () => {
    h = await startHarness({ env: { BROKER_API_KEYS: JSON.stringify(API_KEYS) } });
  });
  afterEach(async () => h?.close());

  it('a caller outside its reach gets the same 403 whether or not the account exists', async () => {
    await linkAccount(h, 'acme', 'alice');

    const existing = await api(h, 'GET', '/v1/tenants/acme/accounts/alice/token', undefined, bearer(SERVICE_KEY_B));
    const missing = await api(h, 'GET', '/v1/tenants/acme/accounts/ghost/token', undefined, bearer(SERVICE_KEY_B));
    const existingAdmin = await api(h, 'DELETE', '/v1/tenants/acme/accounts/alice', undefined, bearer(SERVICE_KEY_A));
    const missingAdmin = await api(h, 'DELETE', '/v1/tenants/acme/accounts/ghost', undefined, bearer(SERVICE_KEY_A));

    expect([existing.status, missing.status, existingAdmin.status, missingAdmin.status]).toEqual([403, 403, 403, 403]);
    expect(await existing.text()).toBe(await missing.text());
    expect(await existingAdmin.text()).toBe(await missingAdmin.text());
  });

  it('a caller outside its reach gets the same 403 whether or not the tenant exists', async () => {
    await linkAccount(h, 'acme', 'alice');

    const existing = await api(h, 'GET', '/v1/tenants/acme', undefined, bearer(SERVICE_KEY_B));
    const missing = await api(h, 'GET', '/v1/tenants/nowhere', undefined, bearer(SERVICE_KEY_B));

    expect([existing.status, missing.status]).toEqual([403, 403]);
    expect((await existing.json()).error).toBe((await missing.json()).error);
  });

  it('the same account name in two tenants is two accounts: own tokens, unlinked apart', async () => {
    await linkAccount(h, 'acme', 'alice');
    await linkAccount(h, 'beta', 'alice');

    const acme = (await (await api(h, 'GET', '/v1/tenants/acme/accounts/alice/token')).json()) as { access_token: string };
    const beta = (await (await api(h, 'GET', '/v1/tenants/beta/accounts/alice/token')).json()) as { access_token: string };
    const unlinked = await api(h, 'DELETE', '/v1/tenants/beta/accounts/alice');

    expect(acme.access_token).not.toBe(beta.access_token);
    expect(unlinked.status).toBe(204);
    expect((await api(h, 'GET', '/v1/tenants/beta/accounts/alice/token')).status).toBe(404);
    const stillThere = await api(h, 'GET', '/v1/tenants/acme/accounts/alice/token');
    expect(stillThere.status).toBe(200);
    expect(((await stillThere.json()) as { access_token: string }).access_token).toBe(acme.access_token);
  });

  it.each([
    ['from another tenant', 'beta', 'alice'],
    ['from another account of the same tenant', 'acme', 'bob'],
  ])('a sealed token set copied %s fails to decrypt and fails closed: 500, no token, a log event naming the account', async (_, fromTenant, fromAccount) => {
    await linkAccount(h, 'acme', 'alice');
    await linkAccount(h, fromTenant, fromAccount);
    const victim = await h.deps.cipher.open<AccountTokens>((await getAccount(h.db, 'acme', 'alice'))!.sealedTokens, accountTokensContext('acme', 'alice'));
    const source = (await getAccount(h.db, fromTenant, fromAccount))!;
    const copied = await h.deps.cipher.open<AccountTokens>(source.sealedTokens, accountTokensContext(fromTenant, fromAccount));
    await h.db.doc.send(
      new UpdateCommand({
        TableName: h.db.table,
        Key: keys.account('acme', 'alice'),
        UpdateExpression: 'SET sealedTokens = :copied',
        ExpressionAttributeValues: { ':copied': source.sealedTokens },
      }),
    );
    h.logs.length = 0;

    const res = await api(h, 'GET', '/v1/tenants/acme/accounts/alice/token');

    const text = await res.text();
    expect(res.status).toBe(500);
    expect(JSON.parse(text)).toEqual({ error: 'server_error', error_description: expect.any(String) });
    for (const secret of [victim.access_token, victim.refresh_token!, copied.access_token, copied.refresh_token!]) {
      expect(text).not.toContain(secret);
      expect(h.logs.join('\n')).not.toContain(secret);
    }
    const failures = h.logs.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.level === 'error');
    const dedicated = failures.find((l) => l.event === 'token.read_failed');
    expect(dedicated).toMatchObject({ tenant: 'acme', account: 'alice', error: 'server_error' });
    expect(JSON.stringify(dedicated)).toContain('stored credentials of acme/alice failed an integrity check');
    // failed reads are counted (CONTRACT.md, "Audit trail"): the count lands with the next flush
    await h.deps.readCounts.flush();
    const trail = await listAudit(h.db, 'acme', { limit: 50, account: 'alice' });
    expect(trail.events.filter((e) => e.action === 'token.reads')).toEqual([expect.objectContaining({ outcome: 'failed:server_error', count: 1 })]);
  });
});
