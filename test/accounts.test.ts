import { afterEach, describe, expect, it } from 'vitest';
import { accountTokensContext } from '../lib/broker/account-tokens.js';
import { getAccount, setAccountStatus } from '../lib/store/accounts.js';
import { runRefresher } from '../lib/broker/refresher.js';
import { REVOCATION_GIVE_UP_MS } from '../lib/broker/revocation-retry.js';
import { listAudit } from '../lib/store/audit.js';
import { listPendingRevocations } from '../lib/store/revocations.js';
import type { AccountTokens } from '../lib/store/records.js';
import { api, linkAccount } from './support/flow.js';
import { startHarness, type Harness } from './support/harness.js';
import { trailOldestFirst } from './support/trail.js';

let h: Harness;
afterEach(async () => h?.close());

/** The token set sealed in an account's item, opened as the broker would (test inspection only). */
async function storedTokens(h: Harness, tenant: string, account: string): Promise<AccountTokens> {
  const rec = await getAccount(h.db, tenant, account);
  if (!rec) throw new Error(`${tenant}/${account} is not stored`);
  return h.deps.cipher.open<AccountTokens>(rec.sealedTokens, accountTokensContext(tenant, account));
}

/** Counts the broker's requests to the provider's revocation endpoint; `answer` may replace the n-th one. */
function watchRevocations(h: Harness, answer?: (n: number) => Response | undefined) {
  const seen = { count: 0 };
  const real = h.deps.http.fetch;
  h.deps.http.fetch = (async (input: RequestInfo | URL, init?: RequestInit) => {
    const url = String(input instanceof Request ? input.url : input);
    if (url.endsWith('/oauth2/revoke')) {
      seen.count += 1;
      const replaced = answer?.(seen.count);
      if (replaced) return replaced;
    }
    return real(input, init);
  }) as typeof fetch;
  return seen;
}

const ACCOUNT_VIEW_FIELDS = ['account', 'expires_at', 'linked_at', 'refreshed_at', 'scope', 'status'];

describe('listing and reading accounts', () => {
  it('lists accounts in account-id order, paginated by `next`, with no token material', async () => {
    h = await startHarness();
    for (const account of ['carol', 'alice', 'bob']) await linkAccount(h, 'acme', account);
    const secrets = await Promise.all(['alice', 'bob', 'carol'].map((a) => storedTokens(h, 'acme', a)));

    const first = await api(h, 'GET', '/v1/tenants/acme/accounts?limit=2');
    const page1 = (await first.json()) as { accounts: Record<string, unknown>[]; next?: string };
    const second = await api(h, 'GET', `/v1/tenants/acme/accounts?limit=2&cursor=${page1.next}`);
    const page2 = (await second.json()) as { accounts: Record<string, unknown>[]; next?: string };

    expect(first.status).toBe(200);
    expect(page1.accounts.map((a) => a.account)).toEqual(['alice', 'bob']);
    expect(page1.next).toBe('bob');
    expect(page2.accounts.map((a) => a.account)).toEqual(['carol']);
    expect(page2.next).toBeUndefined();
    for (const view of [...page1.accounts, ...page2.accounts]) {
      expect(Object.keys(view).sort()).toEqual(ACCOUNT_VIEW_FIELDS);
      expect(view).toMatchObject({ status: 'linked', scope: '3' });
      expect(new Date(view.expires_at as string).toISOString()).toBe(view.expires_at);
    }
    const bodies = JSON.stringify([page1, page2]);
    for (const t of secrets) {
      expect(bodies).not.toContain(t.access_token);
      expect(bodies).not.toContain(t.refresh_token);
    }
  });

  it('filters the list by status', async () => {
    h = await startHarness();
    for (const account of ['alice', 'bob', 'carol']) await linkAccount(h, 'acme', account);
    const bob = (await getAccount(h.db, 'acme', 'bob'))!;
    await setAccountStatus(h.db, bob, bob.generation, 'needs_reauth', 'invalid_grant');

    const reauth = (await (await api(h, 'GET', '/v1/tenants/acme/accounts?status=needs_reauth')).json()) as { accounts: { account: string }[] };
    const linked = (await (await api(h, 'GET', '/v1/tenants/acme/accounts?status=linked')).json()) as { accounts: { account: string }[] };

    expect(reauth.accounts.map((a) => a.account)).toEqual(['bob']);
    expect(linked.accounts.map((a) => a.account)).toEqual(['alice', 'carol']);
  });

  it.each([
    ['limit=0', 'limit'],
    ['limit=201', 'limit'],
    ['limit=0x10', 'limit'],
    ['cursor=..%2Fevil', 'cursor'],
    ['status=gone', 'status'],
    // an account is linked or needs_reauth: there is no other state to filter on
    ['status=revoked', 'status'],
  ])('refuses a malformed list query (%s) with 400', async (query, field) => {
    h = await startHarness();
    await linkAccount(h, 'acme', 'alice');

    const res = await api(h, 'GET', `/v1/tenants/acme/accounts?${query}`);

    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: 'invalid_request', error_description: expect.stringContaining(field) });
  });

  it('reads one account, and answers 404 for an account or tenant that is not there', async () => {
    h = await startHarness();
    await linkAccount(h, 'acme', 'alice');

    const one = await api(h, 'GET', '/v1/tenants/acme/accounts/alice');
    const missingAccount = await api(h, 'GET', '/v1/tenants/acme/accounts/ghost');
    const missingTenantList = await api(h, 'GET', '/v1/tenants/nowhere/accounts');

    expect(one.status).toBe(200);
    const view = (await one.json()) as Record<string, unknown>;
    expect(Object.keys(view).sort()).toEqual(ACCOUNT_VIEW_FIELDS);
    expect(view).toMatchObject({ account: 'alice', status: 'linked' });
    expect(missingAccount.status).toBe(404);
    expect(missingTenantList.status).toBe(404);
  });
});

describe('unlinking an account', () => {
  it('unlink revokes the refresh token upstream (RFC 7009), deletes the account, and the token route then answers 404', async () => {
    h = await startHarness();
    await linkAccount(h, 'acme', 'alice');
    const { refresh_token } = await storedTokens(h, 'acme', 'alice');

    const res = await api(h, 'DELETE', '/v1/tenants/acme/accounts/alice');

    expect(res.status).toBe(204);
    expect(h.sim.stats.revocations).toEqual([refresh_token]);
    expect(await getAccount(h.db, 'acme', 'alice')).toBeUndefined();
    expect((await api(h, 'GET', '/v1/tenants/acme/accounts/alice/token')).status).toBe(404);
    expect((await api(h, 'GET', '/v1/tenants/acme/accounts/alice')).status).toBe(404);
    expect(h.events.filter((e) => e.type === 'AccountUnlinked')).toEqual([{ type: 'AccountUnlinked', detail: { tenant: 'acme', account: 'alice', revoked: true } }]);
    const trail = await listAudit(h.db, 'acme', { limit: 50 });
    expect(trail.events.filter((e) => e.action === 'account.unlink')).toEqual([expect.objectContaining({ account: 'alice', caller: 'admin', outcome: 'revoked' })]);
  });

  it('a transient revocation failure is retried once, and the retry revokes', async () => {
    h = await startHarness();
    await linkAccount(h, 'acme', 'alice');
    const { refresh_token } = await storedTokens(h, 'acme', 'alice');
    const attempts = watchRevocations(h, (n) => (n === 1 ? new Response('busy', { status: 503 }) : undefined));

    const res = await api(h, 'DELETE', '/v1/tenants/acme/accounts/alice');

    expect(res.status).toBe(204);
    expect(attempts.count).toBe(2);
    expect(h.sim.stats.revocations).toEqual([refresh_token]);
    expect(h.events.find((e) => e.type === 'AccountUnlinked')?.detail).toMatchObject({ revoked: true });
  });

  it('when the provider cannot be reached, the unlink still happens, and the event and audit say the revocation is pending', async () => {
    h = await startHarness();
    await linkAccount(h, 'acme', 'alice');
    h.sim.setFaults({ revocationStatus: 503, retryAfterS: 0 });
    const attempts = watchRevocations(h);

    const res = await api(h, 'DELETE', '/v1/tenants/acme/accounts/alice');

    expect(res.status).toBe(204);
    expect(attempts.count).toBe(2);
    expect(await getAccount(h.db, 'acme', 'alice')).toBeUndefined();
    expect(h.events.find((e) => e.type === 'AccountUnlinked')?.detail).toEqual({ tenant: 'acme', account: 'alice', revoked: false, reason: 'upstream_unavailable', revocation_pending: true });
    const trail = await listAudit(h.db, 'acme', { limit: 50 });
    expect(trail.events.filter((e) => e.action === 'account.unlink')).toEqual([expect.objectContaining({ outcome: 'revocation_pending:upstream_unavailable' })]);
    expect((await listPendingRevocations(h.db, { limit: 10 })).items).toEqual([expect.objectContaining({ tenant: 'acme', account: 'alice', cause: 'unlink', attempts: 1 })]);
  });

  it('a revocation the provider refuses (HTTP 400) is not retried; the unlink still happens', async () => {
    h = await startHarness();
    await linkAccount(h, 'acme', 'alice');
    h.sim.setFaults({ revocationStatus: 400 });
    const attempts = watchRevocations(h);

    const res = await api(h, 'DELETE', '/v1/tenants/acme/accounts/alice');

    expect(res.status).toBe(204);
    expect(attempts.count).toBe(1);
    expect(await getAccount(h.db, 'acme', 'alice')).toBeUndefined();
    expect(h.events.find((e) => e.type === 'AccountUnlinked')?.detail).toMatchObject({ revoked: false, reason: 'upstream_error' });
  });

  it('without a revocation_endpoint in discovery, unlink deletes without revoking and says so', async () => {
    h = await startHarness({ simulator: { revocation: false } });
    await linkAccount(h, 'acme', 'alice');

    const res = await api(h, 'DELETE', '/v1/tenants/acme/accounts/alice');

    expect(res.status).toBe(204);
    expect(h.sim.stats.revocations).toEqual([]);
    expect(await getAccount(h.db, 'acme', 'alice')).toBeUndefined();
    expect(h.events.find((e) => e.type === 'AccountUnlinked')?.detail).toMatchObject({ revoked: false, reason: 'no_revocation_endpoint' });
  });

  it('unlinking an account that is not linked answers 404 and revokes nothing', async () => {
    h = await startHarness();
    await linkAccount(h, 'acme', 'alice');

    const res = await api(h, 'DELETE', '/v1/tenants/acme/accounts/ghost');

    expect(res.status).toBe(404);
    expect(h.sim.stats.revocations).toEqual([]);
  });
});

describe('re-linking an account', () => {
  it('re-link replaces the tokens atomically and revokes the old refresh token', async () => {
    h = await startHarness();
    await linkAccount(h, 'acme', 'alice');
    const old = await storedTokens(h, 'acme', 'alice');
    const firstGeneration = (await getAccount(h.db, 'acme', 'alice'))!.generation;

    await linkAccount(h, 'acme', 'alice');

    const fresh = await storedTokens(h, 'acme', 'alice');
    expect(fresh.refresh_token).not.toBe(old.refresh_token);
    expect(fresh.access_token).not.toBe(old.access_token);
    expect((await getAccount(h.db, 'acme', 'alice'))?.generation).toBe(firstGeneration + 1);
    expect(h.sim.stats.revocations).toEqual([old.refresh_token]);
    const token = (await (await api(h, 'GET', '/v1/tenants/acme/accounts/alice/token')).json()) as { access_token: string };
    expect(token.access_token).toBe(fresh.access_token);
  });
});

describe('revocations that could not reach the provider', () => {
  const gauge = (h: Harness) =>
    h.logs
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .filter((l) => l.event === 'metrics' && 'RevocationsPending' in l)
      .map((l) => l.RevocationsPending);
  const unlinkAudits = async (h: Harness) => (await trailOldestFirst(h.db, 'acme', { limit: 50 })).filter((e) => e.action === 'account.unlink').map((e) => e.outcome);

  it('are retried later by the refresher until done, each outcome audited, with the RevocationsPending gauge', async () => {
    h = await startHarness();
    await linkAccount(h, 'acme', 'alice');
    const { refresh_token } = await storedTokens(h, 'acme', 'alice');
    h.sim.setFaults({ revocationStatus: 503, retryAfterS: 0 });
    await api(h, 'DELETE', '/v1/tenants/acme/accounts/alice');

    const tooSoon = await runRefresher(h.deps, { deadline: h.clock() + 60_000 });
    h.clock.advance(61_000);
    const stillDown = await runRefresher(h.deps, { deadline: h.clock() + 60_000 });
    h.sim.resetFaults();
    h.clock.advance(121_000);
    const back = await runRefresher(h.deps, { deadline: h.clock() + 60_000 });

    expect(tooSoon.revocations).toEqual({ pending: 1, revoked: 0, givenUp: 0 });
    expect(stillDown.revocations).toEqual({ pending: 1, revoked: 0, givenUp: 0 });
    expect(back.revocations).toEqual({ pending: 0, revoked: 1, givenUp: 0 });
    expect(h.sim.stats.revocations).toEqual([refresh_token]);
    expect(await unlinkAudits(h)).toEqual(['revocation_pending:upstream_unavailable', 'revoked_on_retry:3']);
    expect((await listPendingRevocations(h.db, { limit: 10 })).items).toEqual([]);
    expect(gauge(h)).toEqual([1, 1, 0]);
  });

  it('are given up 24 h after the first failure while the provider stays down, audited and logged as an error', async () => {
    h = await startHarness();
    await linkAccount(h, 'acme', 'alice');
    h.sim.setFaults({ revocationStatus: 503, retryAfterS: 0 });
    await api(h, 'DELETE', '/v1/tenants/acme/accounts/alice');
    const failedAt = h.clock();

    const runs = [];
    while (h.clock() - failedAt < REVOCATION_GIVE_UP_MS + 3_600_000) {
      h.clock.advance(3_600_000);
      runs.push(await runRefresher(h.deps, { deadline: h.clock() + 60_000 }));
    }

    expect(runs.filter((r) => r.revocations.givenUp === 1)).toHaveLength(1);
    expect(runs.at(-1)!.revocations).toEqual({ pending: 0, revoked: 0, givenUp: 0 });
    expect((await unlinkAudits(h)).at(-1)).toBe('revocation_given_up:retries_exhausted');
    expect(h.logs.some((l) => l.includes('"level":"error"') && l.includes('revocation.given_up'))).toBe(true);
    expect(h.sim.stats.revocations).toEqual([]);
  });

  it('are given up at once when the provider refuses them (a 4xx: trying again will not help)', async () => {
    h = await startHarness();
    await linkAccount(h, 'acme', 'alice');
    h.sim.setFaults({ revocationStatus: 503, retryAfterS: 0 });
    await api(h, 'DELETE', '/v1/tenants/acme/accounts/alice');
    h.sim.setFaults({ revocationStatus: 400 });
    h.clock.advance(61_000);

    const run = await runRefresher(h.deps, { deadline: h.clock() + 60_000 });

    expect(run.revocations).toEqual({ pending: 0, revoked: 0, givenUp: 1 });
    expect((await unlinkAudits(h)).at(-1)).toBe('revocation_given_up:upstream_error');
  });
});
