/**
 * The linking flow in real headless Chromium: the broker served on `http://localhost:<port>`, the
 * LongPort simulator on `http://127.0.0.1:<port>`, so the provider's redirect back is a cross-site
 * navigation and the browser's own cookie rules (SameSite, Path, HttpOnly) decide what reaches the
 * callback.
 */
import { mkdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { BrowserContext, Page, Response as PageResponse } from 'playwright-core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { useBrowserBroker } from './support/browser-broker.js';
import type { Harness } from './support/harness.js';
import { serveFetch } from './support/http-server.js';

const SCREENSHOT_DIR = fileURLToPath(new URL('./.tmp/', import.meta.url));

const served = useBrowserBroker();
let h: Harness;
let broker: string;
let context: BrowserContext;
let page: Page;

beforeEach(async () => {
  ({ h, broker } = served);
  context = await served.browser.newContext();
  page = await context.newPage();
});
afterEach(async () => {
  await context?.close();
});

const admin = served.admin;

/** Registers the tenant (discovery + dynamic registration at the simulator) and answers a fresh link URL. */
async function newLink(tenant: string, account: string, options: { register?: Record<string, unknown>; link?: Record<string, unknown> } = {}): Promise<string> {
  const reg = await admin('PUT', `/v1/tenants/${tenant}`, { region: 'global', ...options.register });
  expect([200, 201]).toContain(reg.status);
  const link = await admin('POST', `/v1/tenants/${tenant}/accounts/${account}/link`, options.link ?? {});
  expect(link.status).toBe(201);
  const { link_url } = (await link.json()) as { link_url: string };
  expect(link_url.startsWith(`${broker}/oauth/authorize?link=`)).toBe(true);
  return link_url;
}

const isCallback = (url: URL | string) => {
  const u = typeof url === 'string' ? new URL(url) : url;
  return u.origin === broker && u.pathname === '/oauth/callback';
};

/** Opens the link and answers the broker's response to the provider's redirect back. */
async function openLink(p: Page, linkUrl: string): Promise<PageResponse> {
  const callback = p.waitForResponse((r) => isCallback(r.url()));
  // 'commit': the login page submits itself before its load event, so only the first commit is ours to wait for
  await p.goto(linkUrl, { waitUntil: 'commit' });
  const res = await callback;
  await p.waitForLoadState('load');
  return res;
}

async function heading(p: Page): Promise<string> {
  return ((await p.locator('h1').textContent()) ?? '').trim();
}

async function callSecurityList(accessToken: string): Promise<Response> {
  return fetch(`${h.sim.url}/v1/quote/get_security_list`, { headers: { authorization: `Bearer ${accessToken}` } });
}

describe('account linking in real headless Chromium (broker on localhost, LongPort on 127.0.0.1)', () => {
  it('an end user links an account in a real browser: link URL → LongPort login page (auto-submitted form) → cross-site redirect back → linked', async () => {
    // arrange
    const linkUrl = await newLink('acme', 'alice');
    const visited: string[] = [];
    page.on('framenavigated', (frame) => {
      if (frame === page.mainFrame()) visited.push(frame.url());
    });

    // act
    const callback = await openLink(page, linkUrl);
    await mkdir(SCREENSHOT_DIR, { recursive: true });
    await page.screenshot({ path: `${SCREENSHOT_DIR}linked.png`, fullPage: true });

    // assert: the browser went to the simulator's login page and came back across sites with the flow cookie
    const origins = visited.map((u) => new URL(u).origin);
    expect(origins).toContain(h.sim.url);
    expect(origins.at(-1)).toBe(broker);
    expect(visited.some((u) => new URL(u).pathname === '/oauth2/authorize')).toBe(true);
    expect(callback.request().method()).toBe('GET');
    expect((await callback.request().allHeaders()).cookie).toMatch(/(^|; )lpb_[A-Za-z0-9_-]{16}=/);
    expect(callback.status()).toBe(200);
    expect(await heading(page)).toBe('Account linked');
    expect(await page.locator('body').textContent()).toContain('alice');
    expect(h.logs.filter((line) => (JSON.parse(line) as { level: string }).level === 'error')).toEqual([]);

    // assert: the stored token is served and works at LongPort
    const token = await admin('GET', '/v1/tenants/acme/accounts/alice/token');
    expect(token.status).toBe(200);
    const { access_token } = (await token.json()) as { access_token: string };
    expect((await callSecurityList(access_token)).status).toBe(200);
  });

  it("with return_to, the browser lands on the tenant's page with status=linked and the account", async () => {
    // arrange: the tenant's own web app, on another origin
    const tenantRequests: Request[] = [];
    const tenantApp = await serveFetch((req) => {
      tenantRequests.push(req);
      return new Response('<!doctype html><title>Tenant app</title><h1>Tenant app</h1>', { headers: { 'content-type': 'text/html; charset=utf-8' } });
    });
    try {
      const returnTo = `${tenantApp.url}/settings/brokerage?tab=longport`;
      const linkUrl = await newLink('acme', 'alice', { register: { return_to_origins: [tenantApp.url] }, link: { return_to: returnTo } });

      // act
      const callback = await openLink(page, linkUrl);
      await page.waitForURL((u) => u.origin === tenantApp.url);

      // assert
      expect(callback.status()).toBe(303);
      const landed = new URL(page.url());
      expect(landed.pathname).toBe('/settings/brokerage');
      expect(landed.searchParams.get('tab')).toBe('longport');
      expect(landed.searchParams.get('status')).toBe('linked');
      expect(landed.searchParams.get('account')).toBe('alice');
      expect(await heading(page)).toBe('Tenant app');
      // Referrer-Policy: no-referrer on the callback: nothing of LongPort's page or the callback reaches the tenant
      const landing = tenantRequests.filter((r) => new URL(r.url).pathname === '/settings/brokerage');
      expect(landing.map((r) => r.headers.get('referer'))).toEqual([null]);
      expect((await admin('GET', '/v1/tenants/acme/accounts/alice/token')).status).toBe(200);
    } finally {
      await tenantApp.close();
    }
  });

  it('the flow cookie is HttpOnly, SameSite=Lax, scoped to /oauth/callback', async () => {
    // arrange: look into the cookie jar while the browser is at LongPort, posting the login form
    const linkUrl = await newLink('acme', 'alice');
    let atLogin: Awaited<ReturnType<BrowserContext['cookies']>> | undefined;
    await page.route(
      (u) => u.origin === h.sim.url && u.pathname === '/login',
      async (route) => {
        atLogin = await context.cookies();
        await route.continue();
      },
    );

    // act
    const callback = await openLink(page, linkUrl);

    // assert
    expect(callback.status()).toBe(200);
    expect(atLogin).toHaveLength(1);
    expect(atLogin![0]).toMatchObject({ domain: 'localhost', path: '/oauth/callback', httpOnly: true, sameSite: 'Lax', secure: false });
    expect(atLogin![0]!.name).toMatch(/^lpb_[A-Za-z0-9_-]{16}$/);
    expect(atLogin![0]!.expires).toBeGreaterThan(0); // persistent for the flow's lifetime, not a session cookie
    // the callback clears it once the flow is done
    expect(await context.cookies()).toEqual([]);
  });

  it('a callback URL opened in another browser is refused and does not burn the flow', async () => {
    // arrange: the original browser posts LongPort's login form but is stopped before following the
    // redirect back (Playwright routes only the first request of a redirect chain, so the login POST
    // is the one to hold), keeping the callback URL it would have opened
    const linkUrl = await newLink('acme', 'alice');
    const captured = new Promise<string>((resolve, reject) => {
      void page.route(
        (u) => u.origin === h.sim.url && u.pathname === '/login',
        async (route) => {
          const login = await route.fetch({ maxRedirects: 0 });
          const location = login.headers()['location'];
          if (login.status() !== 303 || !location || !isCallback(location)) return reject(new Error(`login answered ${login.status()} → ${location}`));
          resolve(location);
          await route.fulfill({ status: 200, contentType: 'text/html', body: '<!doctype html><title>held</title><h1>Held before the callback</h1>' });
        },
        { times: 1 },
      );
    });
    await page.goto(linkUrl, { waitUntil: 'commit' });
    const callbackUrl = await captured;
    const otherContext = await served.browser.newContext();

    try {
      // act: the same callback URL in another browser (no flow cookie)
      const otherPage = await otherContext.newPage();
      const foreign = await otherPage.goto(callbackUrl);

      // assert: refused, and nothing was exchanged
      expect(foreign?.status()).toBe(400);
      expect(await heading(otherPage)).toBe('Linking failed');
      expect(await otherPage.locator('body').textContent()).toContain('another browser');
      expect(h.sim.stats.codeGrants).toBe(0);
    } finally {
      await otherContext.close();
    }

    // act: the original browser continues
    const own = await page.goto(callbackUrl);

    // assert: the flow was still alive for it
    expect(own?.status()).toBe(200);
    expect(await heading(page)).toBe('Account linked');
    expect(h.sim.stats.codeGrants).toBe(1);
    expect((await admin('GET', '/v1/tenants/acme/accounts/alice/token')).status).toBe(200);
  });

  it("a provider error page names the RFC 6749 error code and never shows the provider's description", async () => {
    // arrange: LongPort answers access_denied with a description holding <script> and quotes
    const linkUrl = await newLink('acme', 'alice');
    h.sim.setFaults({ authorizeError: 'access_denied' });
    const dialogs: string[] = [];
    page.on('dialog', (dialog) => {
      dialogs.push(dialog.message());
      void dialog.dismiss();
    });

    // act
    const callback = await openLink(page, linkUrl);

    // assert: the broker's own words and the code; the request's text is not on the page at all
    expect(callback.status()).toBe(400);
    expect(await heading(page)).toBe('Linking failed');
    const text = (await page.locator('body').textContent()) ?? '';
    expect(text).toContain('access_denied');
    expect(text).not.toContain('The user denied access');
    expect(text).not.toContain('longport")');
    expect(await page.locator('script').count()).toBe(0);
    expect(dialogs).toEqual([]);
    expect((await admin('GET', '/v1/tenants/acme/accounts/alice')).status).toBe(404);
    // the end user refused, the link still lives: the page offers it again
    expect(await page.locator('a').getAttribute('href')).toBe(new URL(linkUrl).pathname + new URL(linkUrl).search);
  });

  it("after a transient failure at the callback, the page's try-again link takes the same browser through the same link to a linked account", async () => {
    // arrange: LongPort's token endpoint answers 503 once
    const linkUrl = await newLink('acme', 'alice');
    h.sim.setFaults({ tokenStatus: 503, failCount: 1, retryAfterS: 0 });

    // act: the first attempt fails at the code exchange; the end user clicks "try again"
    const failed = await openLink(page, linkUrl);
    expect(failed.status()).toBe(503);
    expect(await heading(page)).toBe('Linking failed');
    expect(await page.locator('body').textContent()).toContain('could not be reached just now');
    const second = page.waitForResponse((r) => isCallback(r.url()));
    await page.locator('a').click();
    const callback = await second;
    await page.waitForLoadState('load');

    // assert: the same link linked the account on the second attempt
    expect(callback.status()).toBe(200);
    expect(await heading(page)).toBe('Account linked');
    expect(h.sim.stats.authorizations).toBe(2);
    expect(h.sim.stats.codeGrants).toBe(1);
    expect((await admin('GET', '/v1/tenants/acme/accounts/alice/token')).status).toBe(200);
  });

  it('a used link cannot be opened twice', async () => {
    // arrange: a link already used to link the account
    const linkUrl = await newLink('acme', 'alice');
    expect((await openLink(page, linkUrl)).status()).toBe(200);
    const grantsBefore = h.sim.stats.authorizations;

    // act
    const again = await page.goto(linkUrl);

    // assert: an error page on the broker, and the browser is not sent to LongPort again
    expect(again?.status()).toBe(400);
    expect(new URL(page.url()).origin).toBe(broker);
    expect(await heading(page)).toBe('Linking failed');
    expect(await page.locator('body').textContent()).toContain('already used');
    expect(h.sim.stats.authorizations).toBe(grantsBefore);
  });
});
