/**
 * `GET /v1/tenants` and `GET /v1/refresher` against DynamoDB Local and the LongPort simulator: the
 * tenant directory's counts follow every account status change, in the account write's own
 * transaction, and move for nothing else.
 */
import { TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import { afterEach, describe, expect, it } from 'vitest';
import { storeLinkedAccount } from '../lib/broker/linking-accounts.js';
import { FORCED_REFRESH_FLOOR_MS } from '../lib/broker/refresh.js';
import { runRefresher } from '../lib/broker/refresher.js';
import { TRANSACTION_CONTENTION } from '../lib/retry.js';
import { deleteAccountAtGeneration, getAccount, setAccountStatus } from '../lib/store/accounts.js';
import { linkSessionConfirmation } from '../lib/store/links.js';
import { keys, secretHash } from '../lib/store/schema.js';
import { addToCounts } from '../lib/store/tenant-directory.js';
import type { Db } from '../lib/store/table.js';
import { api, linkAccount } from './support/flow.js';
import { startHarness, type Harness } from './support/harness.js';
import { tableText } from './support/linking.js';

let h: Harness;
afterEach(async () => {
  await h?.close();
});

const ACME_ADMIN = 'acme-and-beta-admin-key-0123456789';
const ACME_SERVICE = 'acme-service-key-0123456789abcdef';
const API_KEYS = JSON.stringify({ [ACME_ADMIN]: { tenants: ['beta', 'acme'], role: 'admin' }, [ACME_SERVICE]: { tenants: ['acme'], role: 'service' } });
const bearer = (key: string) => ({ authorization: `Bearer ${key}` });

interface TenantList {
  tenants: { tenant: string; region: string; client_type: string; accounts: { linked: number; needs_reauth: number }; state: string }[];
  next?: string;
}

async function listTenants(query = '', headers?: Record<string, string>): Promise<TenantList> {
  const res = await api(h, 'GET', `/v1/tenants${query}`, undefined, headers);
  expect(res.status).toBe(200);
  return (await res.json()) as TenantList;
}

async function countsOf(tenant: string): Promise<{ linked: number; needs_reauth: number } | undefined> {
  return (await listTenants('?limit=200')).tenants.find((t) => t.tenant === tenant)?.accounts;
}

/** The provider refuses the account's refresh token: a forced refresh marks it needs_reauth. */
async function strand(tenant: string, account: string): Promise<void> {
  h.sim.revokeAll();
  h.clock.advance(FORCED_REFRESH_FLOOR_MS);
  const res = await api(h, 'POST', `/v1/tenants/${tenant}/accounts/${account}/refresh`);
  expect(res.status).toBe(409);
  expect((await getAccount(h.db, tenant, account))!.status).toBe('needs_reauth');
}

async function register(tenant: string): Promise<void> {
  const res = await api(h, 'PUT', `/v1/tenants/${tenant}`, { region: 'global' });
  expect(res.status).toBe(201);
}

describe('GET /v1/tenants: account counts', () => {
  it('a new tenant is listed with its region, client type, state and no account', async () => {
    h = await startHarness();
    await register('acme');

    const list = await listTenants();

    expect(list).toEqual({ tenants: [{ tenant: 'acme', region: 'global', client_type: 'public', accounts: { linked: 0, needs_reauth: 0 }, state: 'active' }] });
  });

  it('the counts follow every account status change: link, re-link, needs_reauth, re-link of a needs_reauth account, unlink', async () => {
    h = await startHarness();
    await linkAccount(h, 'acme', 'alice');
    await linkAccount(h, 'acme', 'bob');
    expect(await countsOf('acme')).toEqual({ linked: 2, needs_reauth: 0 });

    await linkAccount(h, 'acme', 'bob');
    expect(await countsOf('acme')).toEqual({ linked: 2, needs_reauth: 0 });

    await strand('acme', 'alice');
    expect(await countsOf('acme')).toEqual({ linked: 1, needs_reauth: 1 });

    await linkAccount(h, 'acme', 'alice');
    expect(await countsOf('acme')).toEqual({ linked: 2, needs_reauth: 0 });

    await strand('acme', 'bob');
    expect((await api(h, 'DELETE', '/v1/tenants/acme/accounts/bob')).status).toBe(204);
    expect(await countsOf('acme')).toEqual({ linked: 1, needs_reauth: 0 });
    expect((await api(h, 'DELETE', '/v1/tenants/acme/accounts/alice')).status).toBe(204);
    expect(await countsOf('acme')).toEqual({ linked: 0, needs_reauth: 0 });
  });

  it('a deleted tenant leaves the list, its directory entry deleted with it', async () => {
    h = await startHarness();
    await linkAccount(h, 'acme', 'alice');
    await linkAccount(h, 'beta', 'bob');

    expect((await api(h, 'DELETE', '/v1/tenants/acme')).status).toBe(204);

    expect((await listTenants()).tenants.map((t) => t.tenant)).toEqual(['beta']);
    const directory = (JSON.parse(await tableText(h.db)) as { pk: string; sk: string }[]).filter((i) => i.pk === keys.tenantDirectoryPartition);
    expect(directory.map((i) => i.sk)).toEqual(['beta']);
    expect(await countsOf('beta')).toEqual({ linked: 1, needs_reauth: 0 });
  });

  it('counts that no registration started (an account write that raced its tenant\'s deletion) list no tenant, and a new registration starts from zero', async () => {
    h = await startHarness();
    await linkAccount(h, 'acme', 'alice');
    expect((await api(h, 'DELETE', '/v1/tenants/acme')).status).toBe(204);
    await addToCounts(h.db, 'acme', { linked: 1 });

    expect((await listTenants()).tenants).toEqual([]);

    await register('acme');
    expect(await countsOf('acme')).toEqual({ linked: 0, needs_reauth: 0 });
  });

  it('accounts linked at the same moment in one tenant are each counted once', async () => {
    h = await startHarness();
    await register('acme');
    const accounts = Array.from({ length: 12 }, (_, i) => `user-${i}`);

    await Promise.all(accounts.map((account) => linkAccount(h, 'acme', account)));

    expect(await countsOf('acme')).toEqual({ linked: accounts.length, needs_reauth: 0 });
  });
});

describe('a transition that does not happen moves no count', () => {
  it('a needs_reauth mark at a generation the account has left is refused, and moves no count', async () => {
    h = await startHarness();
    await linkAccount(h, 'acme', 'alice');
    const read = (await getAccount(h.db, 'acme', 'alice'))!;

    const res = await setAccountStatus(h.db, read, read.generation - 1, 'needs_reauth', 'invalid_grant');

    expect(res.ok).toBe(false);
    expect((await getAccount(h.db, 'acme', 'alice'))!.status).toBe('linked');
    expect(await countsOf('acme')).toEqual({ linked: 1, needs_reauth: 0 });
  });

  it('an account already needs_reauth is not marked again, and moves no count', async () => {
    h = await startHarness();
    await linkAccount(h, 'acme', 'alice');
    const linked = (await getAccount(h.db, 'acme', 'alice'))!;
    expect((await setAccountStatus(h.db, linked, linked.generation, 'needs_reauth', 'invalid_grant')).ok).toBe(true);

    // a second refresh that failed on the same generation, read before the first mark landed
    const again = await setAccountStatus(h.db, linked, linked.generation, 'needs_reauth', 'invalid_grant');

    expect(again).toMatchObject({ ok: false, current: { status: 'needs_reauth', generation: linked.generation } });
    expect(await countsOf('acme')).toEqual({ linked: 0, needs_reauth: 1 });
  });

  it('an unlink at a generation or status the account has left is refused, and moves no count', async () => {
    h = await startHarness();
    await linkAccount(h, 'acme', 'alice');
    const read = (await getAccount(h.db, 'acme', 'alice'))!;
    await setAccountStatus(h.db, read, read.generation, 'needs_reauth', 'invalid_grant');

    const staleStatus = await deleteAccountAtGeneration(h.db, read, read.generation);
    const staleGeneration = await deleteAccountAtGeneration(h.db, { ...read, status: 'needs_reauth' }, read.generation - 1);

    expect(staleStatus).toMatchObject({ ok: false, current: { status: 'needs_reauth' } });
    expect(staleGeneration.ok).toBe(false);
    expect(await getAccount(h.db, 'acme', 'alice')).toBeDefined();
    expect(await countsOf('acme')).toEqual({ linked: 0, needs_reauth: 1 });
  });

  it('an unlink of an account already gone moves no count', async () => {
    h = await startHarness();
    await linkAccount(h, 'acme', 'alice');
    await linkAccount(h, 'acme', 'bob');
    const read = (await getAccount(h.db, 'acme', 'alice'))!;
    expect((await deleteAccountAtGeneration(h.db, read, read.generation)).ok).toBe(true);

    const again = await deleteAccountAtGeneration(h.db, read, read.generation);

    expect(again).toEqual({ ok: false, current: undefined });
    expect(await countsOf('acme')).toEqual({ linked: 1, needs_reauth: 0 });
  });

  it('a linking whose single-use guard is refused stores nothing and moves no count', async () => {
    h = await startHarness();
    await linkAccount(h, 'acme', 'alice');
    const tokens = { tenant: 'acme', account: 'bob', issuer: h.sim.issuer, scope: '3', sealedTokens: 'never-opened', expiresAt: h.clock() + 3_600_000 };
    // a confirmation of a link session that does not exist: its guard's condition fails
    const guard = (now: number) => linkSessionConfirmation(h.db, secretHash('no-such-session'), { account: 'bob', by: 'admin', now });

    const res = await storeLinkedAccount(h.deps, tokens, guard);

    expect(res.ok).toBe(false);
    expect(await getAccount(h.db, 'acme', 'bob')).toBeUndefined();
    expect(await countsOf('acme')).toEqual({ linked: 1, needs_reauth: 0 });
  });
});

describe('transactions that collide on a tenant\'s counts', () => {
  /** As DynamoDB cancels a transaction that touched an item another transaction was writing: the first `times` TransactWriteItems. */
  function collide(db: Db, times: number): { sent: () => number } {
    let sent = 0;
    db.doc.middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName !== 'TransactWriteItemsCommand') return next(args);
        sent += 1;
        if (sent <= times) {
          throw new TransactionCanceledException({ message: 'Transaction cancelled', $metadata: {}, CancellationReasons: [{ Code: 'None' }, { Code: 'TransactionConflict' }] });
        }
        return next(args);
      },
      { step: 'build', name: 'collide' },
    );
    return { sent: () => sent };
  }

  it('a transaction canceled by a conflict is sent again, and lands once', async () => {
    h = await startHarness();
    await linkAccount(h, 'acme', 'alice');
    const read = (await getAccount(h.db, 'acme', 'alice'))!;
    const conflicts = collide(h.db, 2);

    const res = await setAccountStatus(h.db, read, read.generation, 'needs_reauth', 'invalid_grant');

    expect(res.ok).toBe(true);
    expect(conflicts.sent()).toBe(3);
    expect(await countsOf('acme')).toEqual({ linked: 0, needs_reauth: 1 });
  });

  it('a transaction that keeps colliding is a 503 with Retry-After (the store is busy, the request not wrong), and writes nothing', async () => {
    h = await startHarness();
    await linkAccount(h, 'acme', 'alice');
    const read = (await getAccount(h.db, 'acme', 'alice'))!;
    const conflicts = collide(h.db, 100);

    const failure = await deleteAccountAtGeneration(h.db, read, read.generation).catch((err: unknown) => err);

    expect(failure).toMatchObject({ code: 'temporarily_unavailable', status: 503, retryAfterS: 1 });
    expect(conflicts.sent()).toBe(TRANSACTION_CONTENTION.maxAttempts);
    h.db.doc.middlewareStack.remove('collide');
    expect(await getAccount(h.db, 'acme', 'alice')).toBeDefined();
    expect(await countsOf('acme')).toEqual({ linked: 1, needs_reauth: 0 });
  });
});

describe('GET /v1/tenants: pages and callers', () => {
  it('pages through every tenant in tenant-id order with `next` as the cursor', async () => {
    h = await startHarness();
    const names = ['delta', 'alpha', 'echo', 'charlie', 'bravo'];
    for (const t of names) await register(t);

    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await listTenants(`?limit=2${cursor ? `&cursor=${cursor}` : ''}`);
      expect(page.tenants.length).toBeLessThanOrEqual(2);
      seen.push(...page.tenants.map((t) => t.tenant));
      cursor = page.next;
      pages += 1;
    } while (cursor);

    expect(seen).toEqual([...names].sort());
    expect(pages).toBeLessThanOrEqual(3);
  });

  it.each([['cursor=..%2Fevil'], ['cursor=a%23b'], ['limit=0'], ['limit=201'], ['limit=1e3'], ['cursor=acme&cursor=beta']])(
    'a malformed list query (%s) is a 400 that changes nothing',
    async (query) => {
      h = await startHarness();
      await linkAccount(h, 'acme', 'alice');
      const before = await tableText(h.db);

      const res = await api(h, 'GET', `/v1/tenants?${query}`);

      expect(res.status).toBe(400);
      expect(((await res.json()) as { error: string }).error).toBe('invalid_request');
      expect(await tableText(h.db)).toEqual(before);
    },
  );

  it('a key restricted to some tenants lists only those, in order and by pages', async () => {
    h = await startHarness({ env: { BROKER_API_KEYS: API_KEYS } });
    await linkAccount(h, 'acme', 'alice');
    await register('beta');
    await register('gamma');

    const all = await listTenants('', bearer(ACME_ADMIN));
    const first = await listTenants('?limit=1', bearer(ACME_ADMIN));
    const second = await listTenants(`?limit=1&cursor=${first.next}`, bearer(ACME_ADMIN));

    expect(all.tenants.map((t) => [t.tenant, t.accounts])).toEqual([
      ['acme', { linked: 1, needs_reauth: 0 }],
      ['beta', { linked: 0, needs_reauth: 0 }],
    ]);
    expect(all.next).toBeUndefined();
    expect(first).toMatchObject({ tenants: [{ tenant: 'acme' }], next: 'acme' });
    expect(second.tenants.map((t) => t.tenant)).toEqual(['beta']);
    expect(second.next).toBeUndefined();
  });

  it('a service key may not list tenants (403)', async () => {
    h = await startHarness({ env: { BROKER_API_KEYS: API_KEYS } });
    await register('acme');

    const res = await api(h, 'GET', '/v1/tenants', undefined, bearer(ACME_SERVICE));

    expect(res.status).toBe(403);
  });
});

describe('GET /v1/refresher', () => {
  it('before the first run: 200 with the interval and no last_run', async () => {
    h = await startHarness({ env: { BROKER_REFRESH_INTERVAL_S: '45' } });

    const res = await api(h, 'GET', '/v1/refresher');

    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ interval_s: 45 });
  });

  it("answers the last run's report: due, refreshed, skipped, failed by reason, duration", async () => {
    h = await startHarness();
    await linkAccount(h, 'acme', 'alice');
    h.clock.advance(3_600_000);
    const report = await runRefresher(h.deps, { deadline: h.clock() + 60_000 });

    const res = await api(h, 'GET', '/v1/refresher');

    expect(res.status).toBe(200);
    const body = (await res.json()) as { last_run: Record<string, unknown>; interval_s: number };
    expect(body.interval_s).toBe(60);
    expect(body.last_run).toEqual({
      at: new Date(h.clock()).toISOString(),
      due: report.due,
      refreshed: report.refreshed,
      skipped: report.skipped,
      failed: report.failed,
      duration_ms: expect.any(Number),
    });
    expect(body.last_run.refreshed).toBe(1);
  });

  it('broker-wide state is for an admin of every tenant only', async () => {
    h = await startHarness({ env: { BROKER_API_KEYS: API_KEYS } });

    const restricted = await api(h, 'GET', '/v1/refresher', undefined, bearer(ACME_ADMIN));
    const service = await api(h, 'GET', '/v1/refresher', undefined, bearer(ACME_SERVICE));

    expect(restricted.status).toBe(403);
    expect(service.status).toBe(403);
  });
});
