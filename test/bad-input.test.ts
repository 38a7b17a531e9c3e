/**
 * Bad input on every route, in-process: each gets a clear 4xx (JSON `{error, error_description}` on
 * /v1, an HTML page on the browser routes /oauth/*) and stores nothing. "Nothing" means no tenant,
 * account, link or flow state; the audit trail may record the refused attempt, which is its job.
 */
import { ScanCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LINK_TTL_MS, MAX_FLOWS_PER_LINK } from '../lib/broker/linking.js';
import { ROUTE_LIST } from '../lib/http/route-table.js';
import { getAccount } from '../lib/store/accounts.js';
import type { ScriptedBrowser } from './support/browser.js';
import { api, inProcessBrowser } from './support/flow.js';
import { adminHeaders, PUBLIC_URL, startHarness, type Harness } from './support/harness.js';

const SERVICE_KEY = 'svc-acme-0123456789abcdef';
const GOOD_ORIGIN = 'https://good.example';

let h: Harness;
beforeAll(async () => {
  h = await startHarness({
    env: { BROKER_REGIONS: 'global', BROKER_API_KEYS: JSON.stringify({ [SERVICE_KEY]: { tenants: ['acme'], role: 'service' } }) },
  });
  const registered = await api(h, 'PUT', '/v1/tenants/acme', { region: 'global', return_to_origins: [GOOD_ORIGIN, 'http://127.0.0.1:3000'] });
  expect(registered.status).toBe(201);
});
afterAll(async () => h?.close());

// ─── helpers ─────────────────────────────────────────────────────────────────────────────────────

/** Every item of the table but the audit trail, in a stable order. */
async function stateItems(): Promise<Record<string, unknown>[]> {
  const items: Record<string, unknown>[] = [];
  let startKey: Record<string, unknown> | undefined;
  do {
    const page = await h.db.doc.send(new ScanCommand({ TableName: h.db.table, ConsistentRead: true, ExclusiveStartKey: startKey }));
    items.push(...(page.Items ?? []));
    startKey = page.LastEvaluatedKey;
  } while (startKey);
  return items.filter((i) => !String(i.pk).startsWith('AUDIT#')).sort((a, b) => `${a.pk}|${a.sk}`.localeCompare(`${b.pk}|${b.sk}`));
}

const countOf = (items: Record<string, unknown>[], prefix: string) => items.filter((i) => String(i.pk).startsWith(prefix)).length;

function expectNoInternals(text: string): void {
  // never a stack trace, a source path or an internal error name
  expect(text).not.toMatch(/\n\s+at |\bat .+:\d+:\d+|node_modules|\.ts\b|TypeError|ReferenceError|ZodError/);
}

async function expectJsonError(res: Response, status: number, code?: string): Promise<{ error: string; error_description: string }> {
  expect(res.status).toBe(status);
  expect(res.headers.get('content-type')).toMatch(/^application\/json/);
  const text = await res.text();
  expectNoInternals(text);
  const body = JSON.parse(text) as { error: string; error_description: string };
  expect(Object.keys(body).sort()).toEqual(['error', 'error_description']);
  expect(body.error_description.length).toBeGreaterThan(0);
  if (code) expect(body.error).toBe(code);
  return body;
}

async function expectErrorPage(res: Response): Promise<string> {
  expect(res.status).toBe(400);
  expect(res.headers.get('content-type')).toMatch(/^text\/html/);
  expect(res.headers.get('cache-control')).toBe('no-store');
  const html = await res.text();
  expect(html).toContain('Linking failed');
  expect(html).not.toMatch(/<script/i);
  expectNoInternals(html);
  return html;
}

async function newLink(account: string, body: Record<string, unknown> = {}): Promise<string> {
  const res = await api(h, 'POST', `/v1/tenants/acme/accounts/${account}/link`, body);
  expect(res.status).toBe(201);
  return ((await res.json()) as { link_url: string }).link_url;
}

/**
 * The browser opens the link and logs in at the provider, and stops where the provider sends it
 * back: answers the callback URL without opening it.
 */
const reachCallback = (browser: ScriptedBrowser, linkUrl: string): Promise<string> => browser.reachCallback(linkUrl);

function withQuery(url: string, edit: (q: URLSearchParams) => void): string {
  const u = new URL(url);
  edit(u.searchParams);
  return u.href;
}

// ─── /v1 routes ──────────────────────────────────────────────────────────────────────────────────

const BAD_IDS = ['-dash-first', '.dot-first', 'has%20space', 'semi%3Bcolon', 'x'.repeat(65), '%C3%BCml', 'a%2Fb'];

const ID_ROUTES: [string, string, (id: string) => string, unknown][] = [
  ['PUT tenant', 'PUT', (id) => `/v1/tenants/${id}`, { region: 'global' }],
  ['POST link (tenant)', 'POST', (id) => `/v1/tenants/${id}/accounts/alice/link`, {}],
  ['POST link (account)', 'POST', (id) => `/v1/tenants/acme/accounts/${id}/link`, {}],
  ['GET token (account)', 'GET', (id) => `/v1/tenants/acme/accounts/${id}/token`, undefined],
  ['POST refresh (tenant)', 'POST', (id) => `/v1/tenants/${id}/accounts/alice/refresh`, undefined],
];

describe.each(ID_ROUTES)('%s: identifiers outside ^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$', (_name, method, path, body) => {
  it.each(BAD_IDS)('"%s" is refused with 4xx JSON and nothing is stored', async (id) => {
    const before = await stateItems();

    const res = await api(h, method, path(id), body);

    await expectJsonError(res, 400, 'invalid_request');
    expect(await stateItems()).toEqual(before);
  });
});

describe('/v1 bodies', () => {
  it.each([
    ['PUT tenant', 'PUT', '/v1/tenants/fresh'],
    ['POST link', 'POST', '/v1/tenants/acme/accounts/alice/link'],
  ])('%s: malformed JSON is 400 invalid_request and stores nothing', async (_name, method, path) => {
    const before = await stateItems();

    const res = await api(h, method, path, '{"region": "global",');

    await expectJsonError(res, 400, 'invalid_request');
    expect(await stateItems()).toEqual(before);
  });

  it.each([
    ['PUT tenant', 'PUT', '/v1/tenants/fresh', { region: 'global', scope: 'x'.repeat(17 * 1024) }],
    ['POST link', 'POST', '/v1/tenants/acme/accounts/alice/link', { return_to: `${GOOD_ORIGIN}/${'x'.repeat(17 * 1024)}` }],
  ])('%s: a JSON body over 16 KiB is 413 payload_too_large and stores nothing', async (_name, method, path, body) => {
    const before = await stateItems();

    const res = await api(h, method, path, body);

    await expectJsonError(res, 413, 'payload_too_large');
    expect(await stateItems()).toEqual(before);
  });

  it.each([
    ['PUT tenant', 'PUT', '/v1/tenants/fresh', { region: 'global', is_admin: true }],
    ['POST link', 'POST', '/v1/tenants/acme/accounts/alice/link', { return_to: `${GOOD_ORIGIN}/done`, redirect_uri: 'https://evil.example/cb' }],
  ])('%s: an unknown body field is 400 invalid_request and stores nothing', async (_name, method, path, body) => {
    const before = await stateItems();

    const res = await api(h, method, path, body);

    const { error_description } = await expectJsonError(res, 400, 'invalid_request');
    expect(error_description).toMatch(/is_admin|redirect_uri|unrecognized|Unrecognized/);
    expect(await stateItems()).toEqual(before);
  });

  it('a JSON body sent as text/plain is 400 and stores nothing', async () => {
    const before = await stateItems();

    const res = await api(h, 'PUT', '/v1/tenants/fresh', JSON.stringify({ region: 'global' }), { ...adminHeaders, 'content-type': 'text/plain' });

    await expectJsonError(res, 400, 'invalid_request');
    expect(await stateItems()).toEqual(before);
  });

  it('a region that is not enabled on this broker is 400, says so, and registers nothing upstream', async () => {
    const before = await stateItems();
    const registrations = h.sim.stats.registrations;

    const res = await api(h, 'PUT', '/v1/tenants/fresh', { region: 'cn' });

    const { error_description } = await expectJsonError(res, 400, 'invalid_request');
    expect(error_description).toContain('not enabled');
    expect(await stateItems()).toEqual(before);
    expect(h.sim.stats.registrations).toBe(registrations);
  });

  it('an unknown region is 400 invalid_request', async () => {
    const res = await api(h, 'PUT', '/v1/tenants/fresh', { region: 'mars' });

    await expectJsonError(res, 400, 'invalid_request');
  });

  it.each([
    ['a path', `${GOOD_ORIGIN}/path`],
    ['plain http off loopback', 'http://good.example'],
    ['javascript:', 'javascript:alert(1)'],
    ['a scheme-relative URL', '//evil.example'],
    ['user information', 'https://good.example@evil.example'],
  ])('return_to_origins with %s is 400 and neither creates nor changes a tenant', async (_what, origin) => {
    const before = await stateItems();

    const created = await api(h, 'PUT', '/v1/tenants/fresh', { region: 'global', return_to_origins: [origin] });
    const updated = await api(h, 'PUT', '/v1/tenants/acme', { region: 'global', return_to_origins: [origin] });

    await expectJsonError(created, 400, 'invalid_request');
    await expectJsonError(updated, 400, 'invalid_request');
    expect(await stateItems()).toEqual(before);
  });
});

describe('/v1 callers', () => {
  const routes: [string, string, unknown][] = [
    ['PUT', '/v1/tenants/acme', { region: 'global' }],
    ['GET', '/v1/tenants/acme', undefined],
    ['POST', '/v1/tenants/acme/accounts/alice/link', {}],
    ['GET', '/v1/tenants/acme/accounts/alice/token', undefined],
    ['POST', '/v1/tenants/acme/accounts/alice/refresh', undefined],
  ];

  it.each(routes)('%s %s without a bearer token is 401 with WWW-Authenticate, and stores nothing', async (method, path, body) => {
    const before = await stateItems();

    const res = await api(h, method, path, body, { 'content-type': 'application/json' });

    expect(res.headers.get('www-authenticate')).toMatch(/^Bearer realm=/);
    await expectJsonError(res, 401, 'unauthorized');
    expect(await stateItems()).toEqual(before);
  });

  it.each([
    ['a wrong token', 'Bearer not-the-admin-token-0123456789'],
    ['a prefix of the admin token', `Bearer ${adminHeaders.authorization.slice('Bearer '.length, -1)}`],
    ['another scheme', `Basic ${Buffer.from('admin:admin').toString('base64')}`],
    ['an empty bearer', 'Bearer '],
  ])('%s is 401 with WWW-Authenticate, and the answer never echoes what was sent', async (_what, authorization) => {
    const before = await stateItems();

    const res = await api(h, 'POST', '/v1/tenants/acme/accounts/alice/link', {}, { authorization, 'content-type': 'application/json' });

    expect(res.headers.get('www-authenticate')).toMatch(/^Bearer /);
    const body = await expectJsonError(res, 401, 'unauthorized');
    if (authorization.length > 'Bearer '.length) expect(JSON.stringify(body)).not.toContain(authorization.slice(7));
    expect(await stateItems()).toEqual(before);
  });

  it('a service key on an admin route is 403 forbidden and stores nothing', async () => {
    const before = await stateItems();

    const res = await api(h, 'POST', '/v1/tenants/acme/accounts/alice/link', {}, { authorization: `Bearer ${SERVICE_KEY}`, 'content-type': 'application/json' });

    await expectJsonError(res, 403, 'forbidden');
    expect(await stateItems()).toEqual(before);
  });

  it("a service key asking for another tenant's token is 403 forbidden", async () => {
    const res = await api(h, 'GET', '/v1/tenants/other/accounts/alice/token', undefined, { authorization: `Bearer ${SERVICE_KEY}` });

    await expectJsonError(res, 403, 'forbidden');
  });
});

describe('/v1 links and tokens', () => {
  it.each([
    ['a scheme-relative URL', '//evil.example/done'],
    ['user information before the host', 'https://good.example@evil.example/done'],
    ['user information on the good host', 'https://user:pw@good.example/done'],
    ['javascript:', 'javascript:alert(1)'],
    ['plain http off loopback', 'http://good.example/done'],
    ['another origin', 'https://evil.example/done'],
    ['a look-alike host', 'https://good.example.evil.example/done'],
    ['another port', 'https://good.example:8443/done'],
    ['a relative path', '/done'],
  ])('return_to with %s is 400 and no link is stored', async (_what, returnTo) => {
    const before = await stateItems();

    const res = await api(h, 'POST', '/v1/tenants/acme/accounts/alice/link', { return_to: returnTo });

    await expectJsonError(res, 400, 'invalid_request');
    expect(await stateItems()).toEqual(before);
  });

  it('a link for an unknown tenant is 404 and no link is stored', async () => {
    const before = await stateItems();

    const res = await api(h, 'POST', '/v1/tenants/nobody/accounts/alice/link', {});

    await expectJsonError(res, 404, 'not_found');
    expect(await stateItems()).toEqual(before);
  });

  it.each([
    ['GET', '/v1/tenants/acme/accounts/ghost/token'],
    ['POST', '/v1/tenants/acme/accounts/ghost/refresh'],
  ])('%s %s for an account that was never linked is 404 and stores nothing', async (method, path) => {
    const before = await stateItems();

    const res = await api(h, method, path);

    await expectJsonError(res, 404, 'not_found');
    expect(await stateItems()).toEqual(before);
  });

  it.each(['-1', '3001', 'abc', '1.5', '60&min_ttl=120'])('min_ttl=%s (out of range, not an integer, or repeated) is 400 invalid_request', async (value) => {
    const res = await api(h, 'GET', `/v1/tenants/acme/accounts/alice/token?min_ttl=${value}`);

    await expectJsonError(res, 400, 'invalid_request');
  });
});

// ─── /oauth/authorize ────────────────────────────────────────────────────────────────────────────

describe('/oauth/authorize: links', () => {
  it.each([
    ['no link at all', '/oauth/authorize'],
    ['a malformed link', '/oauth/authorize?link=abc'],
    ['a link with characters outside base64url', `/oauth/authorize?link=${'!'.repeat(43)}`],
    ['an unknown link', `/oauth/authorize?link=${'A'.repeat(43)}`],
  ])('%s ends on a 400 page, sets no cookie and stores nothing', async (_what, path) => {
    const before = await stateItems();

    const res = await inProcessBrowser(h).open(`${PUBLIC_URL}${path}`);

    await expectErrorPage(res);
    expect(res.headers.getSetCookie()).toEqual([]);
    expect(await stateItems()).toEqual(before);
  });

  it('a duplicated link parameter is refused with a 400 page, and does not consume the link', async () => {
    const linkUrl = await newLink('dup-link');
    const linkId = new URL(linkUrl).searchParams.get('link')!;

    const refused = await inProcessBrowser(h).open(`${linkUrl}&link=${linkId}`);

    await expectErrorPage(refused);
    expect((await inProcessBrowser(h).open(linkUrl)).status).toBe(302);
  });

  it('a link may start several flows while it lives: opening it again before it completed a linking starts another flow', async () => {
    const linkUrl = await newLink('reopened-link');
    expect((await inProcessBrowser(h).open(linkUrl)).status).toBe(302);
    const statesBefore = countOf(await stateItems(), 'STATE#');

    const again = await inProcessBrowser(h).open(linkUrl);

    expect(again.status).toBe(302);
    expect(countOf(await stateItems(), 'STATE#')).toBe(statesBefore + 1);
  });

  it('a link completes one linking at most: opening it after it linked an account is a 400 page and starts no flow', async () => {
    const linkUrl = await newLink('used-link');
    expect((await inProcessBrowser(h).completeLink(linkUrl)).callback.status).toBe(200);
    const before = await stateItems();

    const again = await inProcessBrowser(h).open(linkUrl);

    expect(await expectErrorPage(again)).toContain('already used');
    expect(await stateItems()).toEqual(before);
  });

  it('a link starts at most 10 flows (MAX_FLOWS_PER_LINK): the 11th opening is a 400 page and starts no flow', async () => {
    const linkUrl = await newLink('farmed-link');
    for (let i = 0; i < MAX_FLOWS_PER_LINK; i++) expect((await inProcessBrowser(h).open(linkUrl)).status).toBe(302);
    const before = await stateItems();

    const refused = await inProcessBrowser(h).open(linkUrl);

    expect(await expectErrorPage(refused)).toContain('too many times');
    expect(await stateItems()).toEqual(before);
  });

  it('a link expires after 10 minutes: opening it later is a 400 page and starts no flow', async () => {
    const linkUrl = await newLink('expired-link');
    h.clock.advance(LINK_TTL_MS + 60_000);
    const statesBefore = countOf(await stateItems(), 'STATE#');

    const res = await inProcessBrowser(h).open(linkUrl);

    expect(await expectErrorPage(res)).toContain('expired');
    expect(countOf(await stateItems(), 'STATE#')).toBe(statesBefore);
  });
});

// ─── /oauth/callback ─────────────────────────────────────────────────────────────────────────────

describe('/oauth/callback: state, browser binding, parameters, issuer, provider errors', () => {
  it('a callback without state is a 400 page; no code is exchanged and no account stored', async () => {
    const browser = inProcessBrowser(h);
    const callbackUrl = await reachCallback(browser, await newLink('no-state'));
    const tokenRequests = h.sim.stats.tokenRequests.length;

    const res = await browser.open(withQuery(callbackUrl, (q) => q.delete('state')));

    await expectErrorPage(res);
    expect(h.sim.stats.tokenRequests.length).toBe(tokenRequests);
    expect(await getAccount(h.db, 'acme', 'no-state')).toBeUndefined();
  });

  it.each([
    ['no code', (q: URLSearchParams) => q.delete('code')],
    ['an empty code', (q: URLSearchParams) => q.set('code', '')],
  ])('a callback without a code, or with an empty one, is bad input: 400, and the flow stays alive (%s)', async (_what, edit) => {
    const browser = inProcessBrowser(h);
    const account = `no-code-${h.sim.stats.authorizations}`;
    const callbackUrl = await reachCallback(browser, await newLink(account));
    const tokenRequests = h.sim.stats.tokenRequests.length;

    const res = await browser.open(withQuery(callbackUrl, edit));

    expect(await expectErrorPage(res)).toContain('no authorization code');
    // nothing upstream, the flow cookie kept, the state not consumed: the real answer still completes
    expect(h.sim.stats.tokenRequests.length).toBe(tokenRequests);
    expect(res.headers.getSetCookie()).toEqual([]);
    expect(countOf(await stateItems(), 'STATE#')).toBeGreaterThan(0);
    expect((await browser.open(callbackUrl)).status).toBe(200);
    expect(await getAccount(h.db, 'acme', account)).toMatchObject({ status: 'linked' });
  });

  it('a forged state is a 400 page, exchanges no code, and leaves the real flow able to finish', async () => {
    const browser = inProcessBrowser(h);
    const callbackUrl = await reachCallback(browser, await newLink('forged-state'));
    const tokenRequests = h.sim.stats.tokenRequests.length;

    const forged = await browser.open(withQuery(callbackUrl, (q) => q.set('state', 'forged-state-value-0123456789abcdefghij')));

    await expectErrorPage(forged);
    expect(h.sim.stats.tokenRequests.length).toBe(tokenRequests);
    expect(await getAccount(h.db, 'acme', 'forged-state')).toBeUndefined();
    expect((await browser.open(callbackUrl)).status).toBe(200);
  });

  it('state is single-use: a replayed callback is refused and stores nothing', async () => {
    const browser = inProcessBrowser(h);
    const callbackUrl = await reachCallback(browser, await newLink('replayed'));
    expect((await browser.open(callbackUrl)).status).toBe(200);
    const linked = await getAccount(h.db, 'acme', 'replayed');
    const tokenRequests = h.sim.stats.tokenRequests.length;

    const replay = await browser.open(callbackUrl);

    await expectErrorPage(replay);
    expect(h.sim.stats.tokenRequests.length).toBe(tokenRequests);
    expect(await getAccount(h.db, 'acme', 'replayed')).toEqual(linked);
  });

  it('state expires after 10 minutes: a late callback is a 400 page and stores nothing', async () => {
    const browser = inProcessBrowser(h);
    const callbackUrl = await reachCallback(browser, await newLink('late'));
    h.clock.advance(LINK_TTL_MS + 60_000);
    const tokenRequests = h.sim.stats.tokenRequests.length;

    const res = await browser.open(callbackUrl);

    expect(await expectErrorPage(res)).toContain('expired');
    expect(h.sim.stats.tokenRequests.length).toBe(tokenRequests);
    expect(await getAccount(h.db, 'acme', 'late')).toBeUndefined();
  });

  it('state is bound to the browser: another browser is refused, and the first browser can still complete afterwards', async () => {
    const victim = inProcessBrowser(h);
    const callbackUrl = await reachCallback(victim, await newLink('two-browsers'));
    const attacker = inProcessBrowser(h);

    const refused = await attacker.open(callbackUrl);

    expect(await expectErrorPage(refused)).toContain('another browser');
    expect(await getAccount(h.db, 'acme', 'two-browsers')).toBeUndefined();
    const completed = await victim.open(callbackUrl);
    expect(completed.status).toBe(200);
    expect(await getAccount(h.db, 'acme', 'two-browsers')).toMatchObject({ status: 'linked' });
  });

  it.each(['state', 'code', 'iss'])('a duplicated %s parameter is a 400 page; nothing is consumed, so the flow can still complete', async (param) => {
    const browser = inProcessBrowser(h);
    const callbackUrl = await reachCallback(browser, await newLink(`dup-${param}`));
    const tokenRequests = h.sim.stats.tokenRequests.length;

    const refused = await browser.open(withQuery(callbackUrl, (q) => q.append(param, q.get(param)!)));

    expect(await expectErrorPage(refused)).toContain('repeats');
    expect(h.sim.stats.tokenRequests.length).toBe(tokenRequests);
    expect(await getAccount(h.db, 'acme', `dup-${param}`)).toBeUndefined();
    expect((await browser.open(callbackUrl)).status).toBe(200);
  });

  it('an unrecognised callback parameter is ignored (RFC 6749 §4.1.2) and changes nothing about where the browser goes', async () => {
    const browser = inProcessBrowser(h);
    const callbackUrl = await reachCallback(browser, await newLink('extra-param'));

    const res = await browser.open(withQuery(callbackUrl, (q) => q.set('redirect_uri', 'https://evil.example')));

    expect(res.status).toBe(200);
    expect(res.headers.get('location')).toBeNull();
    expect(await res.text()).not.toContain('evil.example');
    expect((await getAccount(h.db, 'acme', 'extra-param'))?.status).toBe('linked');
  });

  it.each([
    ['another issuer', (q: URLSearchParams) => q.set('iss', 'https://evil.example')],
    ['no iss although the provider promises it', (q: URLSearchParams) => q.delete('iss')],
  ])('iss mismatch (RFC 9207), %s: a 400 page, the code is never exchanged, no account stored', async (_what, edit) => {
    const browser = inProcessBrowser(h);
    const account = `iss-${h.sim.stats.authorizations}`;
    const callbackUrl = await reachCallback(browser, await newLink(account));
    const tokenRequests = h.sim.stats.tokenRequests.length;

    const res = await browser.open(withQuery(callbackUrl, edit));

    await expectErrorPage(res);
    expect(h.sim.stats.tokenRequests.length).toBe(tokenRequests);
    expect(await getAccount(h.db, 'acme', account)).toBeUndefined();
  });

  it("a provider error answer ends on a 400 page that names the RFC 6749 error code and never the provider's description, and stores nothing", async () => {
    h.sim.setFaults({ authorizeError: 'access_denied' });
    try {
      const browser = inProcessBrowser(h);
      const callbackUrl = await reachCallback(browser, await newLink('denied'));

      const res = await browser.open(callbackUrl);

      const html = await expectErrorPage(res);
      expect(html).toContain('access_denied');
      expect(html).not.toContain('script');
      expect(html).not.toContain('The user denied access');
      expect(await getAccount(h.db, 'acme', 'denied')).toBeUndefined();
    } finally {
      h.sim.setFaults({ authorizeError: undefined });
    }
  });

  it('a provider error answer with a return_to goes back there with status=error and the code, never the raw description', async () => {
    h.sim.setFaults({ authorizeError: 'access_denied' });
    try {
      const browser = inProcessBrowser(h);
      const callbackUrl = await reachCallback(browser, await newLink('denied-back', { return_to: `${GOOD_ORIGIN}/linked?tab=2` }));

      const res = await browser.open(callbackUrl);

      expect(res.status).toBe(303);
      const location = new URL(res.headers.get('location')!);
      expect(location.origin + location.pathname).toBe(`${GOOD_ORIGIN}/linked`);
      expect(Object.fromEntries(location.searchParams)).toEqual({ tab: '2', status: 'error', error: 'access_denied', account: 'denied-back' });
      expect(await getAccount(h.db, 'acme', 'denied-back')).toBeUndefined();
    } finally {
      h.sim.setFaults({ authorizeError: undefined });
    }
  });
});

// ─── nothing the request supplied is echoed ──────────────────────────────────────────────────────

/** A sentence an attacker would like the broker's origin to say, as a parameter name and as a value. */
const CRAFTED = 'Your LongPort account was suspended. Call 0800 SUSPENDED now';

/** Neither the body nor any header of an answer says the crafted sentence (or any part of it that matters). */
async function expectNoEcho(res: Response): Promise<void> {
  const text = [await res.text(), ...[...res.headers].map(([k, v]) => `${k}: ${v}`)].join('\n');
  expect(text).not.toMatch(/suspended/i);
  expect(text).not.toMatch(/0800/);
}

/** A started flow: the callback URL the provider would send the browser to, and that browser. */
async function startedFlow(account: string): Promise<{ browser: ScriptedBrowser; callbackUrl: string }> {
  const browser = inProcessBrowser(h);
  return { browser, callbackUrl: await reachCallback(browser, await newLink(account)) };
}

const set = (params: Record<string, string>) => (q: URLSearchParams) => {
  for (const [k, v] of Object.entries(params)) q.set(k, v);
};

/** Per browser route of the table: crafted names and values, sent as a browser would (with or without a live flow). */
const CRAFTED_REQUESTS: Record<string, [string, () => Promise<Response>][]> = {
  authorize: [
    ['a crafted link value', () => inProcessBrowser(h).open(`${PUBLIC_URL}/oauth/authorize?link=${encodeURIComponent(CRAFTED)}`)],
    ['a crafted link value, repeated', () => inProcessBrowser(h).open(`${PUBLIC_URL}/oauth/authorize?link=${encodeURIComponent(CRAFTED)}&link=${encodeURIComponent(CRAFTED)}`)],
    ['a crafted parameter name, repeated, beside an unknown link', () => inProcessBrowser(h).open(`${PUBLIC_URL}/oauth/authorize?link=${'B'.repeat(43)}&${encodeURIComponent(CRAFTED)}=1&${encodeURIComponent(CRAFTED)}=2`)],
  ],
  callback: [
    ['a crafted parameter name, repeated', () => inProcessBrowser(h).open(`${PUBLIC_URL}/oauth/callback?${encodeURIComponent(CRAFTED)}=1&${encodeURIComponent(CRAFTED)}=2`)],
    ['a crafted state and code', () => inProcessBrowser(h).open(`${PUBLIC_URL}/oauth/callback?state=${encodeURIComponent(CRAFTED)}&code=${encodeURIComponent(CRAFTED)}`)],
    ['a crafted error with no state', () => inProcessBrowser(h).open(`${PUBLIC_URL}/oauth/callback?error=${encodeURIComponent(CRAFTED)}&error_description=${encodeURIComponent(CRAFTED)}`)],
    [
      'a live flow answered with a crafted error, description and error_uri',
      async () => {
        const { browser, callbackUrl } = await startedFlow('crafted-error');
        return browser.open(withQuery(callbackUrl, (q) => { q.delete('code'); set({ error: CRAFTED, error_description: CRAFTED, error_uri: `https://evil.example/${CRAFTED}` })(q); }));
      },
    ],
    [
      'a live flow answered with access_denied and a crafted description',
      async () => {
        const { browser, callbackUrl } = await startedFlow('crafted-denied');
        return browser.open(withQuery(callbackUrl, (q) => { q.delete('code'); set({ error: 'access_denied', error_description: CRAFTED })(q); }));
      },
    ],
    [
      'a live flow answered with a crafted iss',
      async () => {
        const { browser, callbackUrl } = await startedFlow('crafted-iss');
        return browser.open(withQuery(callbackUrl, set({ iss: CRAFTED })));
      },
    ],
    [
      'a live flow answered with a crafted code',
      async () => {
        const { browser, callbackUrl } = await startedFlow('crafted-code');
        return browser.open(withQuery(callbackUrl, set({ code: CRAFTED })));
      },
    ],
    [
      'a live flow answered with a crafted parameter name beside the real answer',
      async () => {
        const { browser, callbackUrl } = await startedFlow('crafted-extra');
        return browser.open(withQuery(callbackUrl, (q) => { q.append(CRAFTED, CRAFTED); q.append(CRAFTED, CRAFTED); }));
      },
    ],
  ],
};

describe('error pages and JSON errors never echo request-supplied names or values', () => {
  it('the crafted requests below cover every browser route of the route table', () => {
    expect(Object.keys(CRAFTED_REQUESTS).sort()).toEqual(ROUTE_LIST.filter((r) => r.browser).map((r) => r.id).sort());
  });

  it.each(Object.entries(CRAFTED_REQUESTS).flatMap(([route, requests]) => requests.map(([what, send]) => [route, what, send] as const)))(
    'error pages never echo request-supplied names or values: %s with %s',
    async (_route, _what, send) => {
      const res = await send();

      expect(res.status).toBeGreaterThanOrEqual(400);
      await expectNoEcho(res);
    },
  );

  it.each([
    ['POST …/link with a crafted field', '/v1/tenants/acme/accounts/alice/link', { [CRAFTED]: CRAFTED }],
    ['POST …/link with a crafted return_to', '/v1/tenants/acme/accounts/alice/link', { return_to: `https://evil.example/${CRAFTED}` }],
    ['POST …/link/confirm with a crafted field', '/v1/tenants/acme/accounts/alice/link/confirm', { link_session: 'A'.repeat(43), [CRAFTED]: CRAFTED }],
    ['POST …/link/confirm with a crafted link_session', '/v1/tenants/acme/accounts/alice/link/confirm', { link_session: CRAFTED }],
  ])('JSON errors never echo request-supplied names or values: %s', async (_what, path, body) => {
    const res = await api(h, 'POST', path, body);

    expect(res.status).toBe(400);
    await expectNoEcho(res);
  });

  it('JSON errors never echo request-supplied names or values: an unknown path under /oauth', async () => {
    const res = await inProcessBrowser(h).open(`${PUBLIC_URL}/oauth/${encodeURIComponent(CRAFTED)}`);

    expect(res.status).toBe(404);
    await expectNoEcho(res);
  });
});
