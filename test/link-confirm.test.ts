/**
 * Confirmed links (issue 12 item 8, CONTRACT.md link/confirm and callback rows), in-process against
 * DynamoDB Local and the LongPort simulator: with `confirm_links`, the callback stores the token set
 * sealed in a link session and sends the browser to `return_to?status=confirm…`; only the tenant's
 * confirmation links the account; unconfirmed sessions expire, and the refresher revokes and drops
 * their tokens.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LINK_SESSION_TTL_MS } from '../lib/broker/linking.js';
import { MAX_SESSION_REVOCATION_ATTEMPTS } from '../lib/broker/linking-expiry.js';
import { runRefresher } from '../lib/broker/refresher.js';
import { getAccount } from '../lib/store/accounts.js';
import { getLinkSession } from '../lib/store/links.js';
import { secretHash } from '../lib/store/schema.js';
import { api, inProcessBrowser } from './support/flow.js';
import { startHarness, type Harness } from './support/harness.js';
import { confirm, landing, linkSessionOf, newLink, pendingTokens, registerTenant, tableText, TENANT_APP, trailOf } from './support/linking.js';

const SERVICE_KEY = 'svc-acme-0123456789abcdef';

let h: Harness;
beforeEach(async () => {
  h = await startHarness({ env: { BROKER_API_KEYS: JSON.stringify({ [SERVICE_KEY]: { tenants: ['acme'], role: 'service' } }) } });
  await registerTenant(h, 'acme', { confirm_links: true });
});
afterEach(async () => h?.close());

const refresherRun = () => runRefresher(h.deps, { deadline: h.clock() + 60_000 });

describe('confirm_links: the callback waits for the tenant', () => {
  it('with confirm_links the callback ends at return_to?status=confirm&account=…&link_session=…, and nothing is linked until the tenant confirms', async () => {
    const linkUrl = await newLink(h, 'acme', 'alice', { return_to: `${TENANT_APP}/linked?tab=2` });

    const { callback } = await inProcessBrowser(h).completeLink(linkUrl);

    const { url, params } = landing(callback);
    expect(`${url.origin}${url.pathname}`).toBe(`${TENANT_APP}/linked`);
    expect(params).toEqual({ tab: '2', status: 'confirm', account: 'alice', link_session: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/) });
    expect(await getAccount(h.db, 'acme', 'alice')).toBeUndefined();
    expect((await api(h, 'GET', '/v1/tenants/acme/accounts/alice')).status).toBe(404);
    expect(h.events.filter((e) => e.type === 'AccountLinked')).toEqual([]);
  });

  it('a pending link session is never readable through the token route', async () => {
    await linkSessionOf(inProcessBrowser(h), await newLink(h, 'acme', 'alice'));

    const token = await api(h, 'GET', '/v1/tenants/acme/accounts/alice/token', undefined, { authorization: `Bearer ${SERVICE_KEY}` });

    expect(token.status).toBe(404);
    expect(await token.text()).not.toMatch(/at_|rt_/);
  });

  it('the link session id is a capability: the table keys the session by its hash and never holds the id', async () => {
    const linkSession = await linkSessionOf(inProcessBrowser(h), await newLink(h, 'acme', 'alice'));

    const table = await tableText(h.db);

    expect(table).not.toContain(linkSession);
    expect(table).toContain(`LINKSESSION#${secretHash(linkSession)}`);
  });

  it('links of a tenant that confirms links need a return_to: without one, POST …/link is 400 and stores no link', async () => {
    const links = async () => (await tableText(h.db)).split('"LINK#').length;
    const before = await links();

    const res = await api(h, 'POST', '/v1/tenants/acme/accounts/alice/link', {});

    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: string }).error).toBe('invalid_request');
    expect(await links()).toBe(before);
  });

  it('a tenant that confirms links receives the link_session at its return_to, so a flow without one links nothing', async () => {
    // a link made before the tenant turned confirm_links on, without a return_to
    await api(h, 'PUT', '/v1/tenants/acme', { region: 'global', confirm_links: false });
    const browser = inProcessBrowser(h);
    const callbackUrl = await browser.reachCallback(await newLink(h, 'acme', 'alice', {}));
    await api(h, 'PUT', '/v1/tenants/acme', { region: 'global', confirm_links: true });
    const tokenRequests = h.sim.stats.tokenRequests.length;

    const res = await browser.open(callbackUrl);

    expect(res.status).toBe(400);
    expect(await res.text()).toContain('cannot confirm');
    expect(h.sim.stats.tokenRequests.length).toBe(tokenRequests);
    expect(await getAccount(h.db, 'acme', 'alice')).toBeUndefined();
  });

  it('confirm_links changes in place on PUT, and the tenant view shows it', async () => {
    const off = await api(h, 'PUT', '/v1/tenants/acme', { region: 'global', confirm_links: false });
    const on = await api(h, 'PUT', '/v1/tenants/acme', { region: 'global', confirm_links: true });

    expect(((await off.json()) as { confirm_links: boolean }).confirm_links).toBe(false);
    expect(((await on.json()) as { confirm_links: boolean }).confirm_links).toBe(true);
    expect(((await (await api(h, 'GET', '/v1/tenants/acme')).json()) as { confirm_links: boolean }).confirm_links).toBe(true);
  });
});

describe('POST …/link/confirm', () => {
  it("the tenant's admin confirms a link session: 200 with the account view, the account is linked and its token works", async () => {
    const linkSession = await linkSessionOf(inProcessBrowser(h), await newLink(h, 'acme', 'alice'));

    const res = await confirm(h, 'acme', 'alice', linkSession);

    expect(res.status).toBe(200);
    const view = (await res.json()) as Record<string, unknown>;
    expect(view).toEqual({ account: 'alice', status: 'linked', scope: '3', expires_at: expect.any(String), refreshed_at: expect.any(String), linked_at: expect.any(String) });
    const token = await api(h, 'GET', '/v1/tenants/acme/accounts/alice/token');
    expect(token.status).toBe(200);
    const { access_token } = (await token.json()) as { access_token: string };
    expect((await fetch(`${h.sim.url}/v1/quote/get_security_list`, { headers: { authorization: `Bearer ${access_token}` } })).status).toBe(200);
  });

  it('a confirmed linking is audited as link.complete by the confirming caller and publishes AccountLinked; its session keeps no tokens', async () => {
    const linkSession = await linkSessionOf(inProcessBrowser(h), await newLink(h, 'acme', 'alice'));

    expect((await confirm(h, 'acme', 'alice', linkSession)).status).toBe(200);

    expect(await trailOf(h, 'acme', 'alice')).toEqual(expect.arrayContaining(['link.complete admin awaiting_confirmation', 'link.complete admin linked']));
    expect(h.events.filter((e) => e.type === 'AccountLinked').map((e) => e.detail)).toEqual([{ tenant: 'acme', account: 'alice', relinked: false }]);
    const session = await getLinkSession(h.db, secretHash(linkSession));
    expect(session).toMatchObject({ confirmedBy: 'admin' });
    expect(session?.sealedTokens).toBeUndefined();
  });

  it('a link session is confirmed once: confirming it again is 409 and changes nothing', async () => {
    const linkSession = await linkSessionOf(inProcessBrowser(h), await newLink(h, 'acme', 'alice'));
    expect((await confirm(h, 'acme', 'alice', linkSession)).status).toBe(200);
    const linked = await getAccount(h.db, 'acme', 'alice');

    const again = await confirm(h, 'acme', 'alice', linkSession);

    expect(again.status).toBe(409);
    expect(((await again.json()) as { error: string }).error).toBe('conflict');
    expect(await getAccount(h.db, 'acme', 'alice')).toEqual(linked);
  });

  it('a link session made for another account is 409 and links nothing, and the right account can still confirm it', async () => {
    const linkSession = await linkSessionOf(inProcessBrowser(h), await newLink(h, 'acme', 'alice'));

    const wrong = await confirm(h, 'acme', 'mallory', linkSession);

    expect(wrong.status).toBe(409);
    expect(await getAccount(h.db, 'acme', 'mallory')).toBeUndefined();
    expect(await getAccount(h.db, 'acme', 'alice')).toBeUndefined();
    expect((await confirm(h, 'acme', 'alice', linkSession)).status).toBe(200);
  });

  it('an unknown link session is 404', async () => {
    const res = await confirm(h, 'acme', 'alice', 'A'.repeat(43));

    expect(res.status).toBe(404);
    expect(((await res.json()) as { error: string }).error).toBe('not_found');
  });

  it("another tenant's link session is 404 for this tenant and links nothing", async () => {
    await registerTenant(h, 'beta', { confirm_links: true });
    const linkSession = await linkSessionOf(inProcessBrowser(h), await newLink(h, 'acme', 'alice'));

    const res = await confirm(h, 'beta', 'alice', linkSession);

    expect(res.status).toBe(404);
    expect(await getAccount(h.db, 'beta', 'alice')).toBeUndefined();
  });

  it('an expired link session is 404 and links nothing', async () => {
    const linkSession = await linkSessionOf(inProcessBrowser(h), await newLink(h, 'acme', 'alice'));
    h.clock.advance(LINK_SESSION_TTL_MS + 1000);

    const res = await confirm(h, 'acme', 'alice', linkSession);

    expect(res.status).toBe(404);
    expect(await getAccount(h.db, 'acme', 'alice')).toBeUndefined();
  });

  it('only an admin confirms: a service key is 403 and links nothing', async () => {
    const linkSession = await linkSessionOf(inProcessBrowser(h), await newLink(h, 'acme', 'alice'));

    const res = await confirm(h, 'acme', 'alice', linkSession, { authorization: `Bearer ${SERVICE_KEY}`, 'content-type': 'application/json' });

    expect(res.status).toBe(403);
    expect(await getAccount(h.db, 'acme', 'alice')).toBeUndefined();
  });

  it('a link_session that is not one the broker issues is 400, and the answer never echoes it', async () => {
    const crafted = 'Your account was suspended. Call 555-0100';

    const res = await api(h, 'POST', '/v1/tenants/acme/accounts/alice/link/confirm', { link_session: crafted });

    expect(res.status).toBe(400);
    expect(await res.text()).not.toContain('suspended');
  });

  it('re-linking through a confirmation replaces the account tokens and revokes the replaced refresh token upstream', async () => {
    expect((await confirm(h, 'acme', 'alice', await linkSessionOf(inProcessBrowser(h), await newLink(h, 'acme', 'alice')))).status).toBe(200);
    const second = await linkSessionOf(inProcessBrowser(h), await newLink(h, 'acme', 'alice'));
    const revocationsBefore = h.sim.stats.revocations.length;

    const res = await confirm(h, 'acme', 'alice', second);

    expect(res.status).toBe(200);
    expect(h.sim.stats.revocations.length).toBe(revocationsBefore + 1);
    expect(h.events.filter((e) => e.type === 'AccountLinked').map((e) => e.detail.relinked)).toEqual([false, true]);
  });
});

describe('unconfirmed link sessions expire', () => {
  it('unconfirmed link sessions expire after 10 minutes: the refresher revokes their tokens upstream and drops them', async () => {
    const linkSession = await linkSessionOf(inProcessBrowser(h), await newLink(h, 'acme', 'alice'));
    const pending = await pendingTokens(h, linkSession);
    h.clock.advance(LINK_SESSION_TTL_MS - 1000);
    await refresherRun();
    expect(h.sim.stats.revocations).not.toContain(pending.refresh_token);

    h.clock.advance(2000);
    await refresherRun();

    expect(h.sim.stats.revocations).toContain(pending.refresh_token);
    const session = await getLinkSession(h.db, secretHash(linkSession));
    expect(session?.sealedTokens).toBeUndefined();
    expect(session?.droppedAt).toBeDefined();
    expect(await getAccount(h.db, 'acme', 'alice')).toBeUndefined();
    expect(await trailOf(h, 'acme', 'alice')).toContain('link.complete refresher unconfirmed:revoked');
    // the revoked refresh token is dead at LongPort
    const grant = await fetch(`${h.sim.url}/oauth2/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: pending.refresh_token!, client_id: h.sim.clients.keys().next().value! }).toString(),
    });
    expect(grant.status).toBe(400);
  });

  it('an expired session is claimed before its tokens are revoked, and a claimed session can no longer be confirmed', async () => {
    const linkSession = await linkSessionOf(inProcessBrowser(h), await newLink(h, 'acme', 'alice'));
    const createdAt = h.clock();
    h.clock.advance(LINK_SESSION_TTL_MS + 1000);
    // the revocation meets an outage, so the claimed session keeps its tokens for a later run
    h.sim.setFaults({ revocationStatus: 503, retryAfterS: 0 });
    await refresherRun();
    expect((await getLinkSession(h.db, secretHash(linkSession)))?.revocationAttempts).toBe(1);
    // an instance whose clock lags still believes the session alive
    h.clock.set(createdAt + LINK_SESSION_TTL_MS / 2);

    const res = await confirm(h, 'acme', 'alice', linkSession);

    expect(res.status).toBe(404);
    expect(await getAccount(h.db, 'acme', 'alice')).toBeUndefined();
    expect((await getLinkSession(h.db, secretHash(linkSession)))?.sealedTokens).toBeDefined();
  });

  it('a revocation that fails for a reason that may pass is tried again by a later refresher run, and the tokens are dropped only then', async () => {
    const linkSession = await linkSessionOf(inProcessBrowser(h), await newLink(h, 'acme', 'alice'));
    const pending = await pendingTokens(h, linkSession);
    h.clock.advance(LINK_SESSION_TTL_MS + 1000);
    // the first run's revocation and its one retry both meet a provider outage
    h.sim.setFaults({ revocationStatus: 503, revocationFailCount: 2, retryAfterS: 0 });

    await refresherRun();

    expect(h.sim.stats.revocations).not.toContain(pending.refresh_token);
    expect((await getLinkSession(h.db, secretHash(linkSession)))?.sealedTokens).toBeDefined();
    // the next run (a minute later) revokes and drops them
    h.clock.advance(61_000);
    await refresherRun();
    expect(h.sim.stats.revocations).toContain(pending.refresh_token);
    expect((await getLinkSession(h.db, secretHash(linkSession)))?.sealedTokens).toBeUndefined();
  });

  it(`an expired session's tokens are dropped after ${MAX_SESSION_REVOCATION_ATTEMPTS} failed revocation attempts, and the trail says they were not revoked`, async () => {
    const linkSession = await linkSessionOf(inProcessBrowser(h), await newLink(h, 'acme', 'alice'));
    h.clock.advance(LINK_SESSION_TTL_MS + 1000);
    h.sim.setFaults({ revocationStatus: 503, retryAfterS: 0 });

    for (let run = 0; run < MAX_SESSION_REVOCATION_ATTEMPTS; run++) {
      await refresherRun();
      h.clock.advance(61_000);
    }

    expect((await getLinkSession(h.db, secretHash(linkSession)))?.sealedTokens).toBeUndefined();
    expect(await trailOf(h, 'acme', 'alice')).toContain('link.complete refresher unconfirmed:not_revoked:upstream_unavailable');
  });

  it('the refresher finds expiring sessions through the due index, and overlapping runs revoke a session once', async () => {
    const linkSession = await linkSessionOf(inProcessBrowser(h), await newLink(h, 'acme', 'alice'));
    const pending = await pendingTokens(h, linkSession);
    h.clock.advance(LINK_SESSION_TTL_MS + 1000);

    await Promise.all([refresherRun(), refresherRun()]);

    expect(h.sim.stats.revocations.filter((t) => t === pending.refresh_token)).toHaveLength(1);
  });
});
