/**
 * Confirmed links (issue 12 item 8) in real headless Chromium across sites: the broker on
 * `http://localhost:<port>`, the LongPort simulator and the tenant's own web app on `127.0.0.1`
 * (other ports). The tenant's app knows who is signed in to it (its own cookie); when the callback
 * sends the browser back with `status=confirm`, its backend confirms the linking only for that user.
 */
import type { BrowserContext } from 'playwright-core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LINK_SESSION_TTL_MS } from '../lib/broker/linking.js';
import { runRefresher } from '../lib/broker/refresher.js';
import { getLinkSession } from '../lib/store/links.js';
import { secretHash } from '../lib/store/schema.js';
import { useBrowserBroker } from './support/browser-broker.js';
import type { Harness } from './support/harness.js';
import { serveFetch, type RunningServer } from './support/http-server.js';
import { pendingTokens } from './support/linking.js';

const served = useBrowserBroker();
let h: Harness;
let broker: string;
let tenantApp: RunningServer;
/** What the tenant's app did with each `status=confirm` landing. */
let landings: { signedIn: string | undefined; account: string; linkSession: string; confirmed: number | undefined }[];
const contexts: BrowserContext[] = [];
const admin = served.admin;

beforeEach(async () => {
  ({ h, broker } = served);
  landings = [];
  tenantApp = await serveFetch(tenantAppHandler);
  const reg = await admin('PUT', '/v1/tenants/acme', { region: 'global', return_to_origins: [tenantApp.url], confirm_links: true });
  expect(reg.status).toBe(201);
});
afterEach(async () => {
  for (const c of contexts.splice(0)) await c.close();
  await tenantApp?.close();
});

/**
 * The tenant's web app: `/linked?status=confirm&account=…&link_session=…` is where the broker sends
 * the browser back. Its backend confirms the linking only when its signed-in user (cookie
 * `app_user`) is the account the link was made for; otherwise it refuses and links nothing.
 */
async function tenantAppHandler(req: Request): Promise<Response> {
  const url = new URL(req.url);
  const html = (title: string) => new Response(`<!doctype html><title>${title}</title><h1>${title}</h1>`, { headers: { 'content-type': 'text/html; charset=utf-8' } });
  if (url.pathname !== '/linked') return html('Tenant app');
  const signedIn = /(?:^|; )app_user=([^;]+)/.exec(req.headers.get('cookie') ?? '')?.[1];
  const account = url.searchParams.get('account') ?? '';
  const linkSession = url.searchParams.get('link_session') ?? '';
  if (url.searchParams.get('status') !== 'confirm') return html(`Status ${url.searchParams.get('status')}`);
  if (signedIn !== account) {
    landings.push({ signedIn, account, linkSession, confirmed: undefined });
    return html('Not confirmed: you are signed in as someone else');
  }
  const res = await admin('POST', `/v1/tenants/acme/accounts/${account}/link/confirm`, { link_session: linkSession });
  landings.push({ signedIn, account, linkSession, confirmed: res.status });
  return html(res.status === 200 ? `Linked ${account}` : `Confirmation failed (${res.status})`);
}

/** A browser of its own (its own cookie jar), signed in to the tenant's app as `user`. */
async function browserSignedInAs(user: string) {
  const context = await served.browser.newContext();
  contexts.push(context);
  await context.addCookies([{ name: 'app_user', value: user, url: tenantApp.url }]);
  return context.newPage();
}

async function newLink(account: string): Promise<string> {
  const res = await admin('POST', `/v1/tenants/acme/accounts/${account}/link`, { return_to: `${tenantApp.url}/linked` });
  expect(res.status).toBe(201);
  return ((await res.json()) as { link_url: string }).link_url;
}

/** Opens a link in `page` and waits until the browser is back on the tenant's app; answers its heading. */
async function followLink(page: Awaited<ReturnType<typeof browserSignedInAs>>, linkUrl: string): Promise<string> {
  const visited: string[] = [];
  page.on('request', (request) => {
    if (request.isNavigationRequest() && request.frame() === page.mainFrame()) visited.push(new URL(request.url()).origin);
  });
  await page.goto(linkUrl, { waitUntil: 'commit' });
  await page.waitForURL((u) => u.origin === tenantApp.url && u.pathname === '/linked');
  await page.waitForLoadState('load');
  // the browser really went broker → LongPort → broker → tenant app, across sites
  expect(visited.filter((origin, i) => origin !== visited[i - 1])).toEqual([broker, h.sim.url, broker, tenantApp.url]);
  return ((await page.locator('h1').textContent()) ?? '').trim();
}

describe('confirmed links in real headless Chromium (broker on localhost, LongPort and the tenant app on 127.0.0.1)', () => {
  it("a confirmed link: the end user's own browser completes the provider step, the tenant's app confirms for its signed-in user, and the account is linked", async () => {
    const alice = await browserSignedInAs('alice');

    const heading = await followLink(alice, await newLink('alice'));

    expect(heading).toBe('Linked alice');
    expect(landings).toEqual([{ signedIn: 'alice', account: 'alice', linkSession: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/), confirmed: 200 }]);
    const account = await admin('GET', '/v1/tenants/acme/accounts/alice');
    expect(((await account.json()) as { status: string }).status).toBe('linked');
    const token = await admin('GET', '/v1/tenants/acme/accounts/alice/token');
    const { access_token } = (await token.json()) as { access_token: string };
    expect((await fetch(`${h.sim.url}/v1/quote/get_security_list`, { headers: { authorization: `Bearer ${access_token}` } })).status).toBe(200);
  });

  it('a forwarded link: another browser completes the provider step, the tenant refuses to confirm, nothing is linked, and the pending tokens are revoked at the provider when the session expires', async () => {
    // alice's link reaches mallory, who is signed in to the tenant's app as himself
    const linkUrl = await newLink('alice');
    const mallory = await browserSignedInAs('mallory');

    const heading = await followLink(mallory, linkUrl);

    // the tenant's app saw someone else than alice come back, and did not confirm
    expect(heading).toBe('Not confirmed: you are signed in as someone else');
    expect(landings).toEqual([{ signedIn: 'mallory', account: 'alice', linkSession: expect.any(String), confirmed: undefined }]);
    expect((await admin('GET', '/v1/tenants/acme/accounts/alice')).status).toBe(404);
    expect((await admin('GET', '/v1/tenants/acme/accounts/alice/token')).status).toBe(404);
    // mallory's LongPort grant waits, sealed, until the session expires; then the refresher revokes it
    const pending = await pendingTokens(h, landings[0]!.linkSession);
    h.clock.advance(LINK_SESSION_TTL_MS + 1000);
    await runRefresher(h.deps, { deadline: h.clock() + 60_000 });
    expect(h.sim.stats.revocations).toContain(pending.refresh_token);
    expect((await getLinkSession(h.db, secretHash(landings[0]!.linkSession)))?.sealedTokens).toBeUndefined();
    expect((await admin('GET', '/v1/tenants/acme/accounts/alice')).status).toBe(404);
  });
});
