/**
 * The operator console in real headless Chromium against a real broker (DynamoDB Local, the
 * LongPort simulator), served on the broker's own origin as the local server serves it. Every test
 * also proves that no request left the broker's origin and that the page logged no error.
 */
import { createHash } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { seedAccounts } from '../bench/seed.js';
import { runRefresher } from '../lib/broker/refresher.js';
import { CONSOLE_CSP } from '../console/serve.js';
import { launchChromium } from './support/chromium.js';
import { startConsoleBroker, seedFleet, FLEET, type ConsoleBroker } from './support/console-broker.js';
import { ADMIN_TOKEN } from './support/harness.js';

const SCREENSHOT_DIR = fileURLToPath(new URL('./.tmp/console/', import.meta.url));

let browser: Browser;
let b: ConsoleBroker;
let context: BrowserContext;
let page: Page;
let requests: { url: string; method: string; body: string | null; headers: Record<string, string> }[];
let problems: string[];
/** Whether this broker already records token fingerprints in the audit trail (another branch adds them). */

beforeAll(async () => {
  browser = await launchChromium();
  b = await startConsoleBroker();
  await seedFleet(b);
  // a token read leaves a token.read with its fingerprint (audit by exposure): the audit filter below finds it
  await b.admin('GET', '/v1/tenants/globex/accounts/grace/token');
  await mkdir(SCREENSHOT_DIR, { recursive: true });
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await b?.close();
});

beforeEach(async () => {
  context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  page = await context.newPage();
  requests = [];
  problems = [];
  page.on('request', (r) => requests.push({ url: r.url(), method: r.method(), body: r.postData(), headers: r.headers() }));
  page.on('console', (m) => {
    // Chromium logs every 401/404 answer as a network line; the console shows those answers itself
    if (/^Failed to load resource: the server responded with a status of (401|404)\b/.test(m.text())) return;
    if (m.type() === 'error' || m.type() === 'warning') problems.push(`console.${m.type()}: ${m.text()}`);
  });
  page.on('pageerror', (err) => problems.push(`pageerror: ${err.message}`));
});

afterEach(async () => {
  await context?.close();
  // the console loads nothing from outside the broker, and runs without a script error
  expect(requests.filter((r) => new URL(r.url).origin !== b.url).map((r) => r.url)).toEqual([]);
  expect(problems).toEqual([]);
});

async function signIn(p: Page = page, token = ADMIN_TOKEN): Promise<void> {
  await p.goto(`${b.url}/console`);
  await p.getByLabel('Admin token or admin key').fill(token);
  await p.getByRole('button', { name: 'Sign in' }).click();
  await p.getByRole('heading', { name: 'Tenants', level: 1 }).waitFor();
}

/** Playwright's auto-waiting, for vitest: polls until the assertion holds (10 s). */
const eventually = <T>(read: () => Promise<T> | T) => expect.poll(read, { timeout: 10_000 });

const shot = (name: string, p: Page = page) => p.screenshot({ path: `${SCREENSHOT_DIR}${name}.png`, fullPage: true });

describe('the operator console in headless Chromium', () => {
  it('the console page is served with a strict CSP: no inline script, everything from its own origin', async () => {
    const res = await page.goto(`${b.url}/console`);

    expect(res!.status()).toBe(200);
    expect(res!.headers()['content-security-policy']).toBe(CONSOLE_CSP);
    expect(CONSOLE_CSP).toContain("default-src 'self'");
    expect(CONSOLE_CSP).toContain("connect-src 'self'");
    expect(CONSOLE_CSP).not.toContain('unsafe-inline');
    const inlineScripts = await page.locator('script:not([src])').count();
    expect(inlineScripts).toBe(0);
    await page.getByLabel('Admin token or admin key').waitFor();
    await shot('sign-in');
  });

  it('a refused token says "the token was refused"; the admin token signs in and stays in this tab only, never in localStorage or the URL', async () => {
    await page.goto(`${b.url}/console`);
    await page.getByLabel('Admin token or admin key').fill('not-the-admin-token-0000');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await eventually(() => page.getByRole('alert').innerText()).toMatch('The token was refused');

    await page.getByLabel('Admin token or admin key').fill(ADMIN_TOKEN);
    await page.getByLabel(/Keep me signed in/).check();
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: /Tenants|acme/, level: 1 }).waitFor();

    const storage = await page.evaluate(() => ({ local: JSON.stringify(localStorage), session: JSON.stringify(sessionStorage), cookies: document.cookie }));
    expect(storage.local).not.toContain(ADMIN_TOKEN);
    expect(storage.cookies).not.toContain(ADMIN_TOKEN);
    expect(storage.session).toContain(ADMIN_TOKEN);
    expect(requests.every((r) => !r.url.includes(ADMIN_TOKEN))).toBe(true);
    expect(page.url()).not.toContain(ADMIN_TOKEN);
    // API calls carry it as a bearer credential, nothing else does
    const apiCalls = requests.filter((r) => new URL(r.url).pathname.startsWith('/v1/'));
    expect(apiCalls.length).toBeGreaterThan(0);

    await page.getByRole('button', { name: 'Sign out' }).click();
    expect(await page.evaluate(() => JSON.stringify(sessionStorage))).not.toContain(ADMIN_TOKEN);
    await page.getByLabel('Admin token or admin key').waitFor();
  });

  it('the tenant list shows every tenant with its linked and needs_reauth counts (GET /v1/tenants)', async () => {
    await signIn();
    const rows = page.getByTestId('tenant-table').locator('tbody tr');
    await eventually(() => rows.count()).toBe(3);
    const acme = page.getByTestId('tenant-table').locator('tbody tr', { hasText: 'acme' });
    await eventually(() => acme.locator('td').nth(2).innerText()).toBe(String(FLEET.linked.length));
    await eventually(() => acme.locator('td').nth(3).innerText()).toMatch(String(FLEET.stranded.length));
    await eventually(() => page.getByTestId('tenant-totals').innerText()).toMatch('3 accounts need a new link');
    await shot('tenants');
  });

  it("a tenant's page lists its accounts with status, and draws the expiry timeline on a canvas", async () => {
    await signIn();
    await page.goto(`${b.url}/console#/tenants/acme`);
    await page.getByTestId('account-table').waitFor();

    await eventually(() => page.getByTestId('count-linked').innerText()).toBe(String(FLEET.linked.length));
    await eventually(() => page.getByTestId('count-needs-reauth').innerText()).toBe(String(FLEET.stranded.length));
    const rows = page.getByTestId('account-table').locator('tbody tr');
    await eventually(() => rows.count()).toBe(FLEET.linked.length + FLEET.stranded.length);
    await eventually(() => rows.filter({ hasText: 'dave' }).innerText()).toMatch('Needs new link');
    await eventually(() => rows.filter({ hasText: 'user-01' }).innerText()).toMatch('Linked');
    // every linked row says when its token expires and about when the refresher renews it
    await eventually(() => rows.filter({ hasText: 'user-20' }).locator('td').nth(1).innerText()).toMatch(/^in 5[78] min$/);
    await eventually(() => rows.filter({ hasText: 'user-20' }).locator('td').nth(2).innerText()).toMatch(/^in 4[23] min$/);

    // the chart: a uPlot canvas with the three series, and pixels in the colours of its points
    const chart = page.getByTestId('expiry-chart');
    await chart.locator('canvas').waitFor();
    const drawn = await chart.locator('canvas').evaluate((canvas: HTMLCanvasElement) => {
      const { data } = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height);
      const near = (r: number, g: number, bl: number, i: number) => Math.abs(data[i]! - r) < 24 && Math.abs(data[i + 1]! - g) < 24 && Math.abs(data[i + 2]! - bl) < 24 && data[i + 3]! > 200;
      let expires = 0;
      let renews = 0;
      let stranded = 0;
      for (let i = 0; i < data.length; i += 4) {
        if (near(0x2f, 0x5b, 0xd3, i)) expires++;
        if (near(0x13, 0x8a, 0x6b, i)) renews++;
        if (near(0xc2, 0x41, 0x0c, i)) stranded++;
      }
      return { expires, renews, stranded };
    });
    expect(drawn.expires).toBeGreaterThan(100);
    expect(drawn.renews).toBeGreaterThan(100);
    expect(drawn.stranded).toBeGreaterThan(10);
    await eventually(() => page.getByTestId('timeline-summary').innerText()).toMatch(`${FLEET.linked.length} linked tokens`);
    await eventually(() => page.getByTestId('timeline-summary').innerText()).toMatch(`${FLEET.stranded.length} need a new link`);

    // pointing at the chart names an account, its expiry and its renewal
    const box = (await chart.locator('.u-over').boundingBox())!;
    await page.mouse.move(box.x + box.width * 0.6, box.y + box.height * 0.5);
    await eventually(() => page.getByTestId('timeline-readout').innerText()).toMatch(/expires (in|.* ago)/);
    await shot('tenant-acme');
    await page.mouse.move(0, 0);
    await page.screenshot({ path: `${SCREENSHOT_DIR}tenant-acme-top.png`, fullPage: true, clip: { x: 0, y: 0, width: 1280, height: 1180 } });
  });

  it('the status filter narrows the table and the timeline to the accounts that need a new link', async () => {
    await signIn();
    await page.goto(`${b.url}/console#/tenants/acme`);
    await page.getByTestId('account-table').waitFor();

    await page.getByRole('radio', { name: /Needs new link/ }).check();

    const rows = page.getByTestId('account-table').locator('tbody tr');
    await eventually(() => rows.count()).toBe(FLEET.stranded.length);
    for (const account of FLEET.stranded) await eventually(() => rows.filter({ hasText: account }).count()).toBe(1);
    await eventually(() => page.getByTestId('timeline-summary').innerText()).toMatch('0 linked tokens');
  });

  it('a needs_reauth account stands out with a create-link button; the link it shows (copy, QR code) links the account again through LongPort', async () => {
    await signIn();
    await page.goto(`${b.url}/console#/tenants/acme`);
    const list = page.getByTestId('reauth-list');
    await eventually(() => list.locator('li').count()).toBe(FLEET.stranded.length);

    await list.getByRole('button', { name: 'Create a link for frank' }).click();
    const dialog = page.getByTestId('link-dialog');
    const linkUrl = await dialog.getByTestId('link-url').inputValue();
    await eventually(() => dialog.getByTestId('link-qr').locator('svg path').count()).toBe(1);
    await eventually(() => dialog.innerText()).toMatch('It works once');
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: b.url });
    await dialog.getByRole('button', { name: 'Copy' }).click();
    await eventually(() => dialog.getByRole('status').innerText()).toMatch('Copied to the clipboard.');
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(linkUrl);
    await shot('link-dialog');
    expect(new URL(linkUrl).origin).toBe(b.url);

    // the end user opens the link in their own browser, signs in at LongPort and comes back linked
    const endUser = await browser.newContext();
    const phone = await endUser.newPage();
    await phone.goto(linkUrl);
    await phone.getByRole('heading', { name: 'Account linked' }).waitFor();
    await endUser.close();

    await dialog.getByRole('button', { name: 'Close' }).click();
    await page.getByRole('button', { name: 'Reload' }).first().click();
    await eventually(() => page.getByTestId('account-table').locator('tbody tr', { hasText: 'frank' }).innerText()).toMatch('Linked');
    await eventually(() => page.getByTestId('count-needs-reauth').innerText()).toBe(String(FLEET.stranded.length - 1));
  });

  it('the audit trail is newest first and filters by the fingerprint of a pasted token, computed in the page: the token is never sent', async () => {
    // a service reads a token: the trail records who received it
    const read = await b.admin('GET', '/v1/tenants/globex/accounts/grace/token');
    const { access_token } = (await read.json()) as { access_token: string };
    const fingerprint = createHash('sha256').update(access_token).digest('hex').slice(0, 16);
    await signIn();
    await page.goto(`${b.url}/console#/tenants/globex/audit`);
    const table = page.getByTestId('audit-table');
    await table.waitFor();
    await shot('audit');
    const times = await table.locator('tbody time').evaluateAll((els) => els.map((e) => Date.parse(e.getAttribute('datetime')!)));
    expect(times.length).toBeGreaterThan(2);
    expect([...times].sort((x, y) => y - x)).toEqual(times);

    await page.getByTestId('fingerprint-input').fill(access_token);
    await page.getByRole('button', { name: 'Filter' }).click();

    await eventually(() => page.getByTestId('fingerprint-note').innerText()).toMatch(fingerprint);
    await eventually(() => page.getByTestId('fingerprint-input').inputValue()).toBe(fingerprint);
    await eventually(() => requests.filter((r) => new URL(r.url).pathname === '/v1/tenants/globex/audit').some((r) => new URL(r.url).searchParams.get('token_fingerprint') === fingerprint)).toBe(true);
    for (const r of requests) {
      expect(r.url).not.toContain(access_token);
      expect(r.body ?? '').not.toContain(access_token);
      expect(JSON.stringify(r.headers)).not.toContain(access_token);
    }
    const rows = page.getByTestId('audit-table').locator('tbody tr');
    await eventually(() => rows.first().innerText()).toMatch('token.read');
    await eventually(() => rows.first().innerText()).toMatch(fingerprint);
    await eventually(() => rows.first().innerText()).toMatch('grace');
    await shot('audit-fingerprint');
  });

  it('keyboard only: sign in, open a tenant, create a link, close the dialog with Escape', async () => {
    await page.goto(`${b.url}/console`);
    await page.getByLabel('Admin token or admin key').waitFor();
    // the token field has focus on arrival
    await page.keyboard.type(ADMIN_TOKEN);
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'Tenants', level: 1 }).waitFor();

    await page.getByLabel('Open a tenant by id').focus();
    await page.keyboard.type('acme');
    await page.keyboard.press('Enter');
    await page.getByTestId('reauth-list').waitFor();
    const button = page.getByTestId('reauth-list').getByRole('button').first();
    await button.focus();
    const outline = await button.evaluate((el) => getComputedStyle(el).outlineStyle);
    await page.keyboard.press('Enter');
    const dialog = page.getByTestId('link-dialog');
    await dialog.getByTestId('link-url').waitFor();
    expect(await page.evaluate(() => document.activeElement?.closest('dialog') !== null)).toBe(true);
    await page.keyboard.press('Escape');
    await eventually(() => dialog.count()).toBe(0);

    expect(outline).toBe('solid');
  });
});

describe('a tenant with 1,000 accounts', () => {
  it('the table shows 50 rows a page and the timeline draws every account', async () => {
    const reg = await b.admin('PUT', '/v1/tenants/bulk', { region: 'global' });
    const { client_id } = (await reg.json()) as { client_id: string };
    await seedAccounts(b.h.deps, b.h.sim, { tenant: 'bulk', clientId: client_id, total: 1000, due: 0 });
    await signIn();
    const bulk = page.getByTestId('tenant-table').locator('tbody tr', { hasText: 'bulk' });
    await eventually(() => bulk.locator('td').nth(2).innerText()).toMatch(/^1,?000$/);

    await page.goto(`${b.url}/console#/tenants/bulk`);
    await page.getByTestId('account-table').waitFor();

    await eventually(() => page.getByTestId('count-linked').innerText()).toBe('1,000');
    await eventually(() => page.getByTestId('account-table').locator('tbody tr').count()).toBe(50);
    await eventually(() => page.getByRole('navigation', { name: 'Account pages' }).innerText()).toMatch('1–50 of 1,000');
    await page.getByRole('button', { name: 'Next' }).click();
    await eventually(() => page.getByTestId('account-table').locator('tbody tr').first().innerText()).toMatch('acct-000050');
    await page.getByRole('searchbox').fill('acct-000999');
    await eventually(() => page.getByTestId('account-table').locator('tbody tr').count()).toBe(1);
    await eventually(() => page.getByTestId('timeline-summary').innerText()).toMatch('1,000 linked tokens');
    await shot('tenant-bulk');
  });
});

describe('refresher health', () => {
  it("the overview shows the refresher's last run: how many accounts were due, refreshed and failed by reason (GET /v1/refresher)", async () => {
    const report = await runRefresher(b.h.deps, { deadline: b.h.clock() + 60_000 });
    await signIn();

    const card = page.getByTestId('refresher-health');
    await card.waitFor();

    const text = await card.innerText();
    expect(text).toMatch(new RegExp(`Due\\s+${report.due} accounts?`));
    expect(text).toMatch(new RegExp(`Refreshed\\s+${report.refreshed}`));
    expect(text).toMatch(/every 60 s/);
    for (const reason of Object.keys(report.failed)) expect(text).toContain(reason);
    await shot('refresher');
  });
});
